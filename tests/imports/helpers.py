"""Building spreadsheet files for the import tests (real XLSX through openpyxl, CSV in the
encodings offices export)."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence

from openpyxl import Workbook

from webapp.enterprises import uscc

ENTERPRISE_HEADER = [
    "统一社会信用代码 / Credit code",
    "企业名称 / Name",
    "地址 / Address",
    "企业类别 / Class",
    "风险等级 / Risk grade",
    "监管机构代码 / Agency code",
]

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
