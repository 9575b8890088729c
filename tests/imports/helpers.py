"""Building spreadsheet files for the import tests (real XLSX through openpyxl, or as Excel
saves one through XlsxWriter; CSV in the encodings offices export), and checking them."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from collections.abc import Callable, Sequence
from datetime import datetime

import pytest
from openpyxl import Workbook
from sqlalchemy.orm import Session

from tests.factories import World
from webapp.agencies.models import Agency
from webapp.auth.models import User
from webapp.enterprises import uscc
from webapp.enums import ImportKind, ImportStatus
from webapp.errors import DomainError
from webapp.imports import service
from webapp.imports.kinds import PLAN_KINDS
from webapp.imports.models import ImportBatch

ENTERPRISE_HEADER = [
    "统一社会信用代码 / Credit code",
    "企业名称 / Name",
    "地址 / Address",
    "企业类别 / Class",
    "风险等级 / Risk grade",
    "监管机构代码 / Agency code",
]

PLAN_HEADER: list[object] = ["统一社会信用代码", "企业名称", "检查月份", "检查事项编码", "备注"]

_rng = random.Random(4242)


def codes(n: int) -> list[str]:
    """`n` valid, distinct credit codes."""
    found: dict[str, None] = {}
    while len(found) < n:
        found[uscc.generate(_rng, division="320582")] = None
    return list(found)


def wrong_check(code: str) -> tuple[str, str]:
    """The code with a wrong check character, and the character it should have."""
    expected = code[17]
    wrong = "0" if expected != "0" else "1"
    return code[:17] + wrong, expected


def xlsx_bytes(rows: Sequence[Sequence[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def excel_bytes(rows: Sequence[Sequence[object]], *, date_format: str = "yyyy-mm-dd") -> bytes:
    """An XLSX file as Excel and WPS save one (openpyxl writes every text inline): texts in
    the shared-strings table, numbers as numbers, dates as numbers with `date_format`;
    None leaves a cell out."""
    import xlsxwriter

    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            "default_date_format": date_format,
            # Text stays text (a cell typed "=..." or "http://..." too), as a typed cell.
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    sheet = workbook.add_worksheet()
    for line, cells in enumerate(rows):
        for column, value in enumerate(cells):
            if value is not None:
                sheet.write(line, column, value)
    workbook.close()
    return out.getvalue()


def with_sheet_xml(data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """The workbook with its worksheets' XML passed through `change` (a file as another
    tool, or a damaged one, would have it)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename.startswith("xl/worksheets/"):
                body = change(body)
            target.writestr(info, body)
    return out.getvalue()


def csv_bytes(
    rows: Sequence[Sequence[object]], encoding: str = "utf-8", delimiter: str = ","
) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter).writerows(rows)
    return buf.getvalue().encode(encoding)


def enterprise_rows(
    agency_code: str, n: int = 3, *, start: int = 1, code_list: list[str] | None = None
) -> list[list[object]]:
    """A header and `n` good enterprise rows."""
    code_list = code_list or codes(n)
    rows: list[list[object]] = [list(ENTERPRISE_HEADER)]
    for i, code in enumerate(code_list[:n], start=start):
        rows.append([code, f"示例企业{i}有限公司", f"示例路{i}号", "其他", "2", agency_code])
    return rows


def check_rows(
    db: Session,
    world: World,
    rows: list[list[object]],
    now: datetime,
    *,
    kind: ImportKind = ImportKind.enterprises,
    filename: str = "e.csv",
    agency: Agency | None = None,
    year: int | None = None,
) -> ImportBatch:
    """`rows` checked by the administrator as a file of that name (CSV, else XLSX); a plan
    is `agency`'s (the county's unless given)."""
    data = csv_bytes(rows) if filename.endswith(".csv") else xlsx_bytes(rows)
    plan_agency = (agency or world.county).id if kind in PLAN_KINDS else None
    return service.check_file(
        db,
        actor=world.admin,
        kind=kind,
        filename=filename,
        data=data,
        now=now,
        agency_id=plan_agency,
        year=year,
    )


def assert_refused_as_stale(
    db: Session, batch: ImportBatch, now: datetime, actor: User | None
) -> None:
    """Applying `batch` is refused with `import_stale`, and the batch is left failed with
    that error (the session's objects expired: read again after)."""
    with pytest.raises(DomainError) as caught:
        service.apply_batch(db, actor=actor, batch_id=batch.id, now=now)
    assert caught.value.code == "import_stale"
    db.expire_all()
    failed = db.get(ImportBatch, batch.id)
    assert failed is not None
    assert failed.status == ImportStatus.failed
    assert json.loads(failed.error)["code"] == "import_stale"
