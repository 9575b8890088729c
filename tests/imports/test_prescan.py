"""The XLSX pre-scan's shortcut (`readers._narrow_grid`): one search proves a sheet's grid
small when every cell is in columns A to Z and its row has no more digits than the last row
element's number; anything else goes to the exact measure (`_grid_cells`) and its refusals,
so a file the shortcut cannot prove is judged as before. And the CSV reader, whose records
are read by one comprehension: the same line numbers, and a record it refuses named by its
line."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.imports.helpers import with_sheet_xml, xlsx_bytes
from webapp.errors import DomainError
from webapp.imports import readers

SHEET = "xl/worksheets/sheet1.xml"


def _sheet_xml(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(SHEET)


def test_a_plain_sheet_is_proved_small_by_one_search() -> None:
    data = xlsx_bytes([["h", "i"], *[["a", "b"]] * 11])  # A1:B12: two digits
    xml = _sheet_xml(data)
    assert b'<row r="12"' in xml
    assert readers._narrow_grid(xml)
    assert readers._calamine_fits(data)


def test_a_far_cell_before_the_last_row_is_measured_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The last row element says 2 (one digit), but a cell of row 1 is at B999999: the
    # guess is wrong, the search finds that cell, and the exact measure decides.
    data = with_sheet_xml(
        xlsx_bytes([["h", "i"], ["a", "b"]]),
        lambda xml: xml.replace(b'<c r="B1"', b'<c r="B999999"'),
    )
    xml = _sheet_xml(data)
    assert b'<c r="B999999"' in xml
    assert not readers._narrow_grid(xml)
    assert readers._calamine_fits(data)  # 2 x 999,999 cells: under 4,000,000
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 1_000_000)
    assert not readers._calamine_fits(data)  # the exact measure refuses it, as before


def test_a_column_beyond_z_or_an_unplaced_cell_is_not_proved() -> None:
    data = xlsx_bytes([["h", "i"], ["a", "b"]])
    wide = with_sheet_xml(data, lambda xml: xml.replace(b'<c r="B2"', b'<c r="AB2"'))
    assert not readers._narrow_grid(_sheet_xml(wide))
    assert readers._calamine_fits(wide)  # 28 x 2 cells, measured exactly
    unplaced = with_sheet_xml(data, lambda xml: xml.replace(b'<c r="B2"', b'<c\nr="B2"'))
    assert not readers._narrow_grid(_sheet_xml(unplaced))
    assert not readers._calamine_fits(unplaced)  # refused by the exact scan, as before
    stray = with_sheet_xml(data, lambda xml: xml.replace(b'<c r="B2"', b"<c"))
    assert not readers._narrow_grid(_sheet_xml(stray))
    assert not readers._calamine_fits(stray)


def test_the_bound_is_only_taken_when_it_is_under_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = xlsx_bytes([["h", "i"], ["a", "b"]])  # one digit: at most 26 x 9 cells
    xml = _sheet_xml(data)
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 26 * 9)
    assert readers._narrow_grid(xml)
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 26 * 9 - 1)
    assert not readers._narrow_grid(xml)
    assert readers._calamine_fits(data)  # the exact grid: 2 x 2
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 3)
    assert not readers._calamine_fits(data)


def test_a_sheet_without_a_numbered_row_is_not_proved() -> None:
    assert not readers._narrow_grid(b'<sheetData><c r="A1"/></sheetData>')
    assert not readers._narrow_grid(b'<sheetData><row r="x1"><c r="A1"/></row></sheetData>')
    assert not readers._narrow_grid(b'<sheetData><row r=""><c r="A1"/></row></sheetData>')


def test_a_prefixed_cell_is_found_among_other_colons() -> None:
    assert not readers._prefixed_cell(b'<worksheet xmlns:r="x"><c r="A1"><t>08:30 c:d</t>')
    assert readers._prefixed_cell(b'<worksheet xmlns:r="x"><x:c r="A1">')
    assert readers._prefixed_cell(b"<x:c>")
    assert not readers._prefixed_cell(b"<x:col/><x:c")  # the end of the text: no element


def test_a_csv_record_the_reader_refuses_is_named_by_its_line() -> None:
    # Line 2 is one record over two text lines (a quoted line break); line 3's cell is
    # longer than the CSV reader takes: the error names record 3, after two good ones.
    data = ('h,i\n"a\nb",x\n' + "y" * 140_000 + ",z\n").encode()
    with pytest.raises(DomainError) as caught:
        readers.read_sheet(data, "x.csv")
    assert caught.value.code == "import_file_unreadable"
    assert caught.value.params["line"] == 3


def test_csv_lines_count_records_and_skip_blank_ones() -> None:
    data = b'\n ,\nh,i\n"a\nb", x \n,\n c ,d\n'
    sheet = readers.read_sheet(data, "x.csv")
    assert sheet.headers == ["h", "i"]
    assert sheet.rows == [(4, ["a\nb", "x"]), (6, ["c", "d"])]
    with pytest.raises(DomainError) as caught:
        readers.read_sheet(b" ,\n\n", "x.csv")
    assert caught.value.code == "import_empty"
