"""Importing enterprises: every row checked before anything is written, the diff by credit
code, applied once on confirmation, all rows or none, refused when the data moved."""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.imports.helpers import (
    ENTERPRISE_HEADER,
    assert_refused_as_stale,
    codes,
    csv_bytes,
    enterprise_rows,
    wrong_check,
    xlsx_bytes,
)
from webapp.audit.models import AuditEvent
from webapp.audit.service import verify_chain
from webapp.enterprises.models import Enterprise
from webapp.enums import EnterpriseClass, ImportKind, ImportStatus
from webapp.errors import DomainError
from webapp.imports import service
from webapp.imports.kinds import ENTERPRISE_COLUMNS, example_row, spec_for
from webapp.imports.models import ImportBatch


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Enterprise)) or 0


def _check(
    db: Session, world: World, data: bytes, now: datetime, name: str = "e.csv"
) -> ImportBatch:
    return service.check_file(
        db, actor=world.admin, kind=ImportKind.enterprises, filename=name, data=data, now=now
    )


def _errors(db: Session, batch: ImportBatch) -> list[tuple[int, str, str, dict[str, object]]]:
    return [(e.line, e.column, e.message, e.params) for e in service.report(db, batch).errors]


@pytest.mark.parametrize(
    "encode",
    [
        lambda rows: xlsx_bytes(rows),
        lambda rows: csv_bytes(rows),
        lambda rows: codecs.BOM_UTF8 + csv_bytes(rows),
        lambda rows: csv_bytes(rows, "gb18030"),
    ],
    ids=["xlsx", "csv-utf8", "csv-utf8-bom", "csv-gb18030"],
)
def test_a_good_file_is_checked_then_applied(
    db: Session, world: World, now: datetime, encode: Callable[[list[list[object]]], bytes]
) -> None:
    before = _count(db)
    rows = enterprise_rows(world.county.code, 3)
    batch = _check(db, world, encode(rows), now)
    assert batch.status == ImportStatus.validated
    assert (batch.total_rows, batch.added, batch.changed, batch.unchanged) == (3, 3, 0, 0)
    assert _count(db) == before  # checking writes nothing but the batch

    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.expire_all()
    assert _count(db) == before + 3
    got = db.scalar(select(Enterprise).where(Enterprise.uscc == rows[2][0]))
    assert got is not None
    assert (got.name, got.address, got.enterprise_class, got.risk_grade, got.agency_id) == (
        "示例企业2有限公司",
        "示例路2号",
        EnterpriseClass.other,
        "2",
        world.county.id,
    )
    assert got.industry == ""  # no industry column: the default
    done = db.get(ImportBatch, batch.id)
    assert done is not None
    assert done.status == ImportStatus.applied
    assert done.processed_rows == 3
    assert done.applied_at == now
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "import.applied"))
    assert event is not None
    assert json.loads(event.data)["added"] == 3
    assert verify_chain(db).ok


def test_reimporting_the_same_file_changes_nothing_and_says_so(
    db: Session, world: World, now: datetime
) -> None:
    data = xlsx_bytes(enterprise_rows(world.county.code, 4))
    first = _check(db, world, data, now)
    service.apply_batch(db, actor=world.admin, batch_id=first.id, now=now)
    events = db.scalar(select(func.count()).select_from(AuditEvent))

    again = _check(db, world, data, now)
    assert (again.added, again.changed, again.unchanged) == (0, 0, 4)
    found = service.report(db, again)
    assert found.added == []
    assert found.changed == []
    assert found.same_file_applied is not None
    assert found.same_file_applied.id == first.id
    assert db.scalar(select(func.count()).select_from(AuditEvent)) == events


def test_a_changed_file_shows_old_and_new_then_updates_with_an_audit_event(
    db: Session, world: World, now: datetime
) -> None:
    rows = enterprise_rows(world.county.code, 3)
    first = _check(db, world, csv_bytes(rows), now)
    service.apply_batch(db, actor=world.admin, batch_id=first.id, now=now)

    rows[1][1] = "新名称有限公司"  # line 2: a new name
    rows[2][4] = "3"  # line 3: another grade
    rows[2][5] = world.other_county.code  # ... and another agency in charge
    new_code = codes(1)[0]
    rows.append([new_code, "新增企业", "", "煤矿", "B", world.county.code])
    batch = _check(db, world, csv_bytes(rows), now)
    assert (batch.added, batch.changed, batch.unchanged) == (1, 2, 1)
    found = service.report(db, batch)
    assert [(s.line, s.key) for s in found.added] == [(5, new_code)]
    assert [(s.line, s.fields) for s in found.changed] == [
        (2, [("name", "示例企业1有限公司", "新名称有限公司")]),
        (
            3,
            [("risk_grade", "2", "3"), ("agency_code", world.county.code, world.other_county.code)],
        ),
    ]

    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.expire_all()
    renamed = db.scalar(select(Enterprise).where(Enterprise.uscc == rows[1][0]))
    moved = db.scalar(select(Enterprise).where(Enterprise.uscc == rows[2][0]))
    mine = db.scalar(select(Enterprise).where(Enterprise.uscc == new_code))
    assert renamed is not None
    assert renamed.name == "新名称有限公司"
    assert moved is not None
    assert (moved.risk_grade, moved.agency_id) == ("3", world.other_county.id)
    assert mine is not None
    assert (mine.enterprise_class, mine.risk_grade) == (
        EnterpriseClass.coal_mine,
        "B",
    )
    updates = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "enterprise.updated")))
    assert {u.object_id for u in updates} == {str(renamed.id), str(moved.id)}
    moved_event = next(u for u in updates if u.object_id == str(moved.id))
    assert json.loads(moved_event.data)["changes"] == {
        "risk_grade": ["2", "3"],
        "agency_code": [world.county.code, world.other_county.code],
    }


def test_bad_rows_are_listed_with_line_column_and_what_is_wrong_and_nothing_is_written(
    db: Session, world: World, now: datetime
) -> None:
    rows = enterprise_rows(world.county.code, 4)
    bad_code, expected = wrong_check(str(rows[2][0]))
    rows[2][0] = bad_code  # line 3: check character
    rows[3][3] = "化工厂"  # line 4: not a class
    rows[4][4] = "A"  # line 5: a coal-mine grade for "other"
    rows[4][5] = "NOPE"  # ... and an unknown agency
    before = _count(db)
    batch = _check(db, world, csv_bytes(rows), now)
    assert batch.status == ImportStatus.failed
    errors = _errors(db, batch)
    assert [(line, column) for line, column, _, _ in errors] == [
        (3, "统一社会信用代码 / Credit code"),
        (4, "企业类别 / Class"),
        (5, "风险等级 / Risk grade"),
        (5, "监管机构代码 / Agency code"),
    ]
    assert errors[0][2].startswith("The check character is wrong")
    assert errors[0][3] == {"expected": expected, "given": bad_code[17]}
    assert errors[1][3]["value"] == "化工厂"
    assert errors[3][3] == {"code": "NOPE"}
    assert _count(db) == before  # one bad row: nothing at all
    with pytest.raises(DomainError) as caught:
        service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert caught.value.code == "import_not_pending"


def test_a_credit_code_twice_in_the_file_is_an_error(
    db: Session, world: World, now: datetime
) -> None:
    rows = enterprise_rows(world.county.code, 3)
    rows.append(list(rows[2]))
    rows[-1][1] = "Another name"
    batch = _check(db, world, csv_bytes(rows), now)
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == [
        (
            5,
            "统一社会信用代码 / Credit code",
            "%(key)s is already on line %(line)s of this file: each may appear only once.",
            {"line": 3, "key": rows[2][0]},
        )
    ]


def test_unknown_and_missing_columns_are_named(db: Session, world: World, now: datetime) -> None:
    rows = [
        ["Credit code", "电话 / Phone", "企业名称", "Class", "Agency code"],
        ["x", "1", "y", "z", "w"],
    ]
    batch = _check(db, world, xlsx_bytes(rows), now, "e.xlsx")
    assert batch.status == ImportStatus.failed
    errors = _errors(db, batch)
    assert [(line, column) for line, column, _, _ in errors] == [
        (1, "电话 / Phone"),
        (1, "风险等级 / Risk grade"),
    ]
    assert errors[0][2].startswith("Unknown column")
    assert errors[1][2] == "Missing column %(name)s: add it to the header row."


def test_columns_in_any_order_and_in_english(db: Session, world: World, now: datetime) -> None:
    code = codes(1)[0]
    rows = [
        ["Agency code", "Risk grade", "Class", "Name", "Credit code"],
        [world.county.code, "none", "hazchem_metallurgy", "Delta Steel", code.lower()],
    ]
    batch = _check(db, world, csv_bytes(rows), now)
    assert batch.status == ImportStatus.validated, _errors(db, batch)
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    got = db.scalar(select(Enterprise).where(Enterprise.uscc == code))
    assert got is not None
    assert (got.name, got.risk_grade, got.enterprise_class) == (
        "Delta Steel",
        "none",
        EnterpriseClass.hazchem_metallurgy,
    )


def test_the_templates_example_row_is_not_imported(
    db: Session, world: World, now: datetime
) -> None:
    spec = spec_for(ImportKind.enterprises)
    header = [c.header for c in ENTERPRISE_COLUMNS]
    only_example = _check(db, world, csv_bytes([header, example_row(spec)]), now)
    assert only_example.status == ImportStatus.failed
    assert "example row" in _errors(db, only_example)[0][2]

    code = codes(1)[0]
    mine = [code, "Mine Co.", "", "", "其他", "1", world.county.code]
    batch = _check(db, world, csv_bytes([header, example_row(spec), mine]), now)
    assert batch.status == ImportStatus.validated
    assert (batch.total_rows, batch.added) == (1, 1)
    assert service.report(db, batch).skipped_example == 1


def test_a_batch_whose_data_moved_since_the_check_is_refused_as_stale(
    db: Session, world: World, now: datetime
) -> None:
    rows = enterprise_rows(world.county.code, 2)
    service.apply_batch(
        db, actor=world.admin, batch_id=_check(db, world, csv_bytes(rows), now).id, now=now
    )
    rows[1][1] = "Renamed in the file"
    batch = _check(db, world, csv_bytes(rows), now)
    assert batch.changed == 1
    # Someone edits the enterprise between the check and the confirmation.
    ent = db.scalar(select(Enterprise).where(Enterprise.uscc == rows[2][0]))
    assert ent is not None
    ent.name = "Edited meanwhile"
    db.commit()

    assert_refused_as_stale(db, batch, now, world.admin)
    renamed = db.scalar(select(Enterprise).where(Enterprise.uscc == rows[1][0]))
    assert renamed is not None
    assert renamed.name == "示例企业1有限公司"


def test_a_batch_is_applied_once_and_a_discarded_one_never(
    db: Session, world: World, now: datetime
) -> None:
    batch = _check(db, world, csv_bytes(enterprise_rows(world.county.code, 1)), now)
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    with pytest.raises(DomainError) as twice:
        service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert twice.value.code == "import_not_pending"
    assert twice.value.status == 409

    other = _check(db, world, csv_bytes(enterprise_rows(world.county.code, 1)), now)
    service.discard_batch(db, actor=world.admin, batch_id=other.id, now=now)
    with pytest.raises(DomainError) as discarded:
        service.apply_batch(db, actor=world.admin, batch_id=other.id, now=now)
    assert discarded.value.code == "import_not_pending"


def test_a_failure_while_writing_leaves_nothing_and_marks_the_batch_failed(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CHUNK", 2)
    before = _count(db)
    batch = _check(db, world, csv_bytes(enterprise_rows(world.county.code, 5)), now)
    calls: list[int] = []

    def boom(done: int, total: int) -> None:
        calls.append(done)
        if done >= 4:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now, progress=boom)
    assert calls == [2, 4]
    db.expire_all()
    assert _count(db) == before  # the first chunks were rolled back too
    failed = db.get(ImportBatch, batch.id)
    assert failed is not None
    assert failed.status == ImportStatus.failed


def test_progress_is_reported_per_chunk(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CHUNK", 2)
    batch = _check(db, world, csv_bytes(enterprise_rows(world.county.code, 5)), now)
    seen: list[tuple[int, int]] = []
    service.apply_batch(
        db, actor=world.admin, batch_id=batch.id, now=now, progress=lambda d, t: seen.append((d, t))
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]


@pytest.mark.parametrize("username", ["supervisor", "inspector1", "manager_a"])
def test_only_an_administrator_imports(
    db: Session, world: World, now: datetime, username: str
) -> None:
    with pytest.raises(DomainError) as caught:
        service.check_file(
            db,
            actor=getattr(world, username),
            kind=ImportKind.enterprises,
            filename="e.csv",
            data=csv_bytes(enterprise_rows(world.county.code, 1)),
            now=now,
        )
    assert caught.value.code == "forbidden"
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_header_only_file_is_an_error(db: Session, world: World, now: datetime) -> None:
    batch = _check(db, world, csv_bytes([ENTERPRISE_HEADER]), now)
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch)[0][2] == "The file has a header row but no data rows."
