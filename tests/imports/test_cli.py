"""`python -m webapp import KIND FILE [--agency CODE] [--yes]` and `import-template`: the
diff printed, confirmation asked (or --yes), progress on stderr, exit codes a script can
use."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.imports.helpers import codes, csv_bytes, enterprise_rows, wrong_check, xlsx_bytes
from webapp.__main__ import main
from webapp.config import get_settings
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportStatus
from webapp.imports import cli
from webapp.imports.models import ImportBatch
from webapp.plans.models import PlanEntry


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _count(db: Session) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(Enterprise)) or 0


def test_import_with_yes_applies_and_prints_progress(
    cli_db: None,
    db: Session,
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from webapp.imports import service

    monkeypatch.setattr(service, "CHUNK", 2)
    path = tmp_path / "enterprises.xlsx"
    path.write_bytes(xlsx_bytes(enterprise_rows(world.county.code, 3)))
    before = _count(db)
    assert main(["import", "enterprises", str(path), "--yes"]) == 0
    out, err = capsys.readouterr()
    assert "enterprises: 3 rows: 3 to add, 0 to change, 0 unchanged" in out
    assert "applied 2/3" in err
    assert "applied 3/3" in err
    assert "import #1 applied: 3 added, 0 changed" in out
    assert _count(db) == before + 3

    # The same file again: nothing to change, said so, exit 0.
    assert main(["import", "enterprises", str(path), "--yes"]) == 0
    assert "nothing to change" in capsys.readouterr().out


def test_without_yes_and_without_a_terminal_nothing_is_applied(
    cli_db: None, db: Session, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(csv_bytes(enterprise_rows(world.county.code, 2)))
    before = _count(db)
    assert main(["import", "enterprises", str(path)]) == 3
    out, err = capsys.readouterr()
    assert "2 to add" in out
    assert "re-run with --yes to apply" in err
    assert _count(db) == before
    batch = db.scalar(select(ImportBatch))
    assert batch is not None
    assert batch.status == ImportStatus.validated


def test_a_bad_file_lists_its_problems_and_exits_1(
    cli_db: None, db: Session, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = enterprise_rows(world.county.code, 2)
    bad, expected = wrong_check(str(rows[2][0]))
    rows[2][0] = bad
    path = tmp_path / "e.csv"
    path.write_bytes(csv_bytes(rows, "gb18030"))
    before = _count(db)
    assert main(["import", "enterprises", str(path), "--yes"]) == 1
    err = capsys.readouterr().err
    assert "1 problem(s); nothing was imported" in err
    assert (
        f"line 3, column 统一社会信用代码 / Credit code: The check character is wrong: with "
        f"these first 17 characters it must be '{expected}'" in err
    )
    assert _count(db) == before

    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n")
    assert main(["import", "items", str(tmp_path / "photo.png")]) == 1
    assert "Upload an Excel workbook (.xlsx) or a CSV file" in capsys.readouterr().err
    assert main(["import", "items", str(tmp_path / "missing.csv")]) == 1


def test_a_plan_import_names_its_agency(
    cli_db: None, db: Session, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.csv"
    path.write_bytes(
        csv_bytes([["Credit code", "Month", "Item codes"], [world.ent_b.uscc, "2026-12", "AQ-003"]])
    )
    assert main(["import", "monthly_plan", str(path), "--yes"]) == 2
    assert "--agency" in capsys.readouterr().err
    assert main(["import", "monthly_plan", str(path), "--agency", "NOPE", "--yes"]) == 2
    assert main(["import", "monthly_plan", str(path), "--agency", world.county.code, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "plan 2026-12 (new): 1 rows" in out
    db.rollback()
    entry = db.scalar(select(PlanEntry).where(PlanEntry.month == "2026-12"))
    assert entry is not None
    assert entry.enterprise_id == world.ent_b.id


def test_import_template_then_fill_it(
    cli_db: None, db: Session, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "items.csv"
    assert main(["import-template", "items", "--format", "csv", "-o", str(target)]) == 0
    text = target.read_bytes().decode("utf-8-sig")
    assert text.startswith("事项编码 / Code,事项名称 / Title,检查依据 / Legal basis")
    # Left as downloaded, only the example row: refused with a reason.
    assert main(["import", "items", str(target), "--yes"]) == 1
    assert "example row" in capsys.readouterr().err
    target.write_text(text + "AQ-777,Fire exits,Fire Law Art. 28,,1,fire\r\n", encoding="utf-8-sig")
    assert main(["import", "items", str(target), "--yes"]) == 0
    xlsx = tmp_path / "enterprises.xlsx"
    assert main(["import-template", "enterprises", "-o", str(xlsx)]) == 0
    assert xlsx.read_bytes().startswith(b"PK")


def _args(path: Path, **kw: object) -> argparse.Namespace:
    return argparse.Namespace(
        kind="enterprises", file=str(path), agency=None, year=None, **{"yes": False, **kw}
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code", "added"), [("y", 0, 2), ("n", 3, 0), ("", 3, 0)])
def test_at_a_terminal_the_command_asks_first(
    db: Session, world: World, now: datetime, tmp_path: Path, answer: str, code: int, added: int
) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(csv_bytes(enterprise_rows(world.county.code, 2, code_list=codes(2))))
    before = _count(db)
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return answer

    out, err = io.StringIO(), io.StringIO()
    result = cli.run_import(db, _args(path), now=now, stdin=_Terminal(), out=out, err=err, ask=ask)
    assert result == code
    assert asked == ["apply: add 2, change 0? [y/N] "]
    assert _count(db) == before + added
    if not added:
        batch = db.scalar(select(ImportBatch))
        assert batch is not None
        assert batch.status == ImportStatus.discarded
