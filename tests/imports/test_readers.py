"""Reading files: XLSX and CSV (UTF-8, UTF-8 with BOM, GB18030, UTF-16), line numbers as the
spreadsheet shows them, and a clear refusal for anything else."""

from __future__ import annotations

import codecs
import io
import zipfile
from datetime import date, datetime, time

import pytest

from tests.imports.helpers import csv_bytes, with_sheet_xml, xlsx_bytes
from webapp.errors import DomainError
from webapp.imports import readers
from webapp.imports.kinds import ENTERPRISE_COLUMNS, match_header, parse_date, parse_month

ROWS: list[list[object]] = [
    ["名称 / Name", "地址"],
    ["甲公司", "一路1号"],
    ["", ""],
    ["乙公司", "二路"],
]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (csv_bytes(ROWS), "utf-8"),
        (codecs.BOM_UTF8 + csv_bytes(ROWS), "utf-8-sig"),
        (csv_bytes(ROWS, "gb18030"), "gb18030"),
        (codecs.BOM_UTF16_LE + csv_bytes(ROWS, "utf-16-le", delimiter="\t"), "utf-16"),
    ],
)
def test_csv_in_every_encoding_offices_export(data: bytes, encoding: str) -> None:
    sheet = readers.read_sheet(data, "plan.csv")
    assert sheet.format == "csv"
    assert sheet.encoding == encoding
    assert sheet.headers == ["名称 / Name", "地址"]
    # The blank line 3 is left out but still counted: line numbers are the sheet's rows.
    assert sheet.rows == [(2, ["甲公司", "一路1号"]), (4, ["乙公司", "二路"])]


def test_xlsx_cells_become_the_text_a_person_typed() -> None:
    # Excel cells carry no time zone: naive datetimes, as openpyxl writes them.
    data = xlsx_bytes(
        [
            ["a", "b", "c", "d"],
            [None, None, None, None],
            [32058100001, 2.0, datetime(2026, 12, 1), date(2026, 1, 5)],  # noqa: DTZ001
            ["\u3000全角空格 ", 2.5, datetime(2026, 12, 1, 8, 30), True],  # noqa: DTZ001
        ]
    )
    sheet = readers.read_sheet(data, "anything.xlsx")
    assert sheet.format == "xlsx"
    assert sheet.rows == [
        (3, ["32058100001", "2", "2026-12-01", "2026-01-05"]),
        (4, ["全角空格", "2.5", "2026-12-01 08:30:00", "true"]),
    ]


def test_an_xlsx_is_recognised_by_its_content_whatever_its_name() -> None:
    sheet = readers.read_sheet(xlsx_bytes([["h"], ["v"]]), "export.csv")
    assert sheet.format == "xlsx"


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b"PK\x03\x04 not really a zip", "broken.xlsx", "import_file_unreadable"),
        (b"plain text", "broken.xlsx", "import_file_unreadable"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "old.xls", "import_file_type"),
        (b"\x89PNG\r\n\x1a\n....", "photo.png", "import_file_type"),
        (b"a,b\n1,\x002\n", "nul.csv", "import_file_type"),
        (b"\xff\xff\xff\xfe\x80\x81", "bad.csv", "import_encoding"),
        (b"", "empty.csv", "import_empty"),
        (b"\n\n  \n", "blank.csv", "import_empty"),
    ],
)
def test_files_that_cannot_be_read_are_refused_with_a_reason(
    data: bytes, filename: str, code: str
) -> None:
    with pytest.raises(DomainError) as caught:
        readers.read_sheet(data, filename)
    assert caught.value.code == code
    assert caught.value.field == "file"


def test_a_file_over_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "MAX_BYTES", 10)
    with pytest.raises(DomainError) as caught:
        readers.read_sheet(b"a,b\n1,2\n3,4\n", "big.csv")
    assert caught.value.code == "import_too_large"
    assert caught.value.status == 413


@pytest.mark.parametrize(
    "header",
    [
        "统一社会信用代码",
        "Credit code",
        "credit CODE",
        "统一社会信用代码 / Credit code",
        "统一社会信用代码/Credit code",
        "统一社会信用代码*",
        "统一社会信用代码（必填）",
        "ＵＳＣＣ",
        "信用代码 / whatever",
    ],
)
def test_headers_match_in_either_language(header: str) -> None:
    column = match_header(header, ENTERPRISE_COLUMNS)
    assert column is not None
    assert column.key == "uscc"


def test_an_unknown_header_matches_nothing() -> None:
    assert match_header("电话 / Phone", ENTERPRISE_COLUMNS) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12", "2026-12"),
        ("2026/1", "2026-01"),
        ("2026.03", "2026-03"),
        ("2026年12月", "2026-12"),
        ("2026-12-01", "2026-12"),
        ("12", "2026-12"),
        ("3月", "2026-03"),
        ("13", None),
        ("2026-13", None),
        ("December", None),
        ("1999-12", None),
    ],
)
def test_months_in_the_forms_offices_write_them(text: str, expected: str | None) -> None:
    assert parse_month(text, 2026) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-16", date(2026, 11, 16)),
        ("2026/1/5", date(2026, 1, 5)),
        ("2026年1月5日", date(2026, 1, 5)),
        ("20260105", date(2026, 1, 5)),
        ("2026-02-30", None),
        ("16/11/2026", None),
    ],
)
def test_dates(text: str, expected: date | None) -> None:
    assert parse_date(text) == expected


def _varied_workbook() -> bytes:
    """Cells of every kind an office's workbook holds, not starting at A1."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["B3"] = "代码 / Code"
    sheet["C3"] = "数 / Number"
    sheet["D3"] = "日期 / Date"
    sheet["E3"] = "其他 / Other"
    sheet.append([None, "0012", 32058100001, datetime(2026, 12, 1), True])  # noqa: DTZ001
    sheet.append([None, "913205001234567890", 2.5, date(2026, 1, 5), time(8, 30)])
    sheet.append([None, 913205001234567890, 2.0, datetime(2026, 1, 5, 17, 45, 30), 0.1 + 0.2])  # noqa: DTZ001
    sheet["B7"] = "=1+1"  # a formula without a cached value (as openpyxl writes it)
    sheet.merge_cells("C8:E8")
    sheet["C8"] = "合并 / merged"
    sheet["B10"] = "\u3000尾行 "
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_both_xlsx_readers_give_the_same_text() -> None:
    data = _varied_workbook()
    assert readers._calamine_fits(data)
    fast = readers._read_xlsx_calamine(data)
    assert fast == readers._read_xlsx_openpyxl(data)
    assert fast.headers == ["", "代码 / Code", "数 / Number", "日期 / Date", "其他 / Other"]
    assert fast.rows == [
        (4, ["", "0012", "32058100001", "2026-12-01", "true"]),
        (5, ["", "913205001234567890", "2.5", "2026-01-05", "08:30:00"]),
        # An 18-digit number (not text) is a float in the file: both give the 15 digits a
        # float keeps, in scientific notation (tests/imports/test_excel_numbers.py).
        (6, ["", "9.13205001234568E+17", "2", "2026-01-05 17:45:30", "0.3"]),
        (8, ["", "", "合并 / merged", "", ""]),
        (10, ["", "尾行", "", "", ""]),
    ]
    assert readers.read_sheet(data, "x.xlsx") == fast


def test_a_sheet_too_large_for_the_fast_reader_is_read_by_openpyxl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = xlsx_bytes([["h", "i"], ["a", "b"], *[[None, None]] * 10, [None, None, None, "far"]])
    assert readers._calamine_fits(data)
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 20)  # the grid is 13 rows x 4 columns
    assert not readers._calamine_fits(data)
    sheet = readers.read_sheet(data, "x.xlsx")
    assert sheet.rows == [(2, ["a", "b", "", ""]), (13, ["", "", "", "far"])]


def test_a_stray_cell_far_away_does_not_reach_the_fast_reader() -> None:
    # A cell at XFD1048576: calamine would build a grid of 17 billion cells.
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["A1"] = "h"
    sheet["A2"] = "v"
    sheet["XFD1048576"] = "x"
    out = io.BytesIO()
    workbook.save(out)
    data = out.getvalue()
    assert not readers._calamine_fits(data)
    # openpyxl reads it row by row, each row as wide as its own cells (it padded all of the
    # million rows to 16,384 cells, and ran for minutes), then pads the rows it keeps.
    sheet_read = readers.read_sheet(data, "x.xlsx")
    assert [(line, len(cells)) for line, cells in sheet_read.rows] == [
        (2, 16384),
        (1048576, 16384),
    ]
    assert sheet_read.rows[0][1][:2] == ["v", ""]
    assert sheet_read.rows[1][1][-1] == "x"


def test_a_sheet_of_too_many_cells_is_refused_by_the_slow_reader_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = xlsx_bytes([["h", "i", "j"], ["a", "b", "c"], ["d", "e", "f"]])
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 8)  # the sheet's 9 cells are one too many
    with pytest.raises(DomainError) as caught:
        readers._read_xlsx_openpyxl(data)
    assert caught.value.code == "import_too_large"
    assert caught.value.params == {"max": 8}
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 9)
    assert len(readers._read_xlsx_openpyxl(data).rows) == 2


def _with_dimension(data: bytes, ref: bytes) -> bytes:
    """The workbook with its sheet's <dimension ref> replaced (left stale by a tool)."""

    def replace(body: bytes) -> bytes:
        start = body.index(b'<dimension ref="') + len(b'<dimension ref="')
        return body[:start] + ref + body[body.index(b'"', start) :]

    return with_sheet_xml(data, replace)


@pytest.mark.parametrize("ref", [b"A1", b"A1:B2", b"A1:Z99"])
def test_a_stale_dimension_loses_no_row_in_either_reader(ref: bytes) -> None:
    data = _with_dimension(
        xlsx_bytes([["h", "i"], ["a", "b"], [None, None], ["c", "d"], ["e", None]]), ref
    )
    fast = readers._read_xlsx_calamine(data)
    assert fast.rows == [(2, ["a", "b"]), (4, ["c", "d"]), (5, ["e", ""])]
    # openpyxl's read-only sheets trust the dimension unless told not to.
    assert readers._read_xlsx_openpyxl(data) == fast


def test_error_cells_keep_their_text() -> None:
    # openpyxl stores "#DIV/0!" as an error cell; calamine would read it as empty.
    data = xlsx_bytes([["h", "i"], ["#DIV/0!", "b"]])
    assert not readers._calamine_fits(data)
    assert readers.read_sheet(data, "x.xlsx").rows == [(2, ["#DIV/0!", "b"])]


def test_a_damaged_sheet_is_refused_by_either_reader() -> None:
    data = xlsx_bytes([["h"], ["v"]])
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(broken, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = body[: len(body) // 2]  # cut in the middle of the XML
            target.writestr(info, body)
    with pytest.raises(DomainError) as caught:
        readers.read_sheet(broken.getvalue(), "x.xlsx")
    assert caught.value.code == "import_file_unreadable"
