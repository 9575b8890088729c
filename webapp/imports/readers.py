"""Reading a spreadsheet into text cells: XLSX (python-calamine, or openpyxl read-only)
or CSV in UTF-8 (with or without BOM), GB18030 (what Chinese offices' Excel still
exports) or UTF-16 (Excel's "Unicode text"). Every cell becomes a stripped string; a bad
file is a DomainError that says what to do, never a traceback."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from pathlib import PurePath

from webapp.errors import DomainError

MAX_BYTES = 20 * 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary .xls (and other Office 97 files)
XLSX_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt", ".tsv", "")


@dataclass(frozen=True)
class Sheet:
    """The header cells and the data rows with their line numbers (1 is the header row;
    rows with no text at all are left out, their line numbers still counted)."""

    format: str  # "xlsx" or "csv"
    headers: list[str]
    rows: list[tuple[int, list[str]]]
    encoding: str = ""


# Excel keeps 15 significant digits of a number: a whole float from 10^15 up (16 digits or
# more) may have lost its last ones, and a float cannot tell whether it did.
EXACT_LIMIT = 1e15

# A number in scientific notation, as `cell_text` ("9.13205004391500E+17"), Excel's CSV
# ("9.13205E+17", "9E+17") or another tool ("9.13205e+17") writes one. A '.' or the
# exponent's '+' is required: neither is in a credit code, which may hold an E between
# digits.
_EXCEL_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]*)?[Ee]\+[0-9]+|-?[0-9]+\.[0-9]*[Ee][0-9]+")


def is_excel_number(text: str) -> bool:
    """Whether a cell's text is a number in scientific notation: an identifier that Excel
    stored as a number (and Excel's CSV saved as it showed it), its digits lost."""
    return _EXCEL_NUMBER.fullmatch(text) is not None


def cut_by_excel(digits: str) -> bool:
    """Whether a text of 16 digits or more is a number as Excel held it: 15 significant
    digits, then zeros (what Excel shows with a number format of no decimals, and what some
    tools write), or a float's own digits ("913205004391500032"). A valid identifier can
    look so too (a code ending in 000): callers ask only about one that failed its check."""
    if len(digits) < 16 or not digits.isdigit():
        return False
    return digits[15:].strip("0") == "" or int(digits) == int(float(digits))


def cell_text(value: object) -> str:
    """A cell's value as the text a person typed: whole numbers without ".0", dates as
    YYYY-MM-DD, and stray whitespace (including full-width spaces) removed. A whole float
    of 16 digits or more is given as the 15 digits Excel kept, in scientific notation
    (see `_inexact_number`)."""
    if isinstance(value, str):  # most cells: first
        return value.replace("\u3000", " ").strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not value.is_integer():
            return repr(value)
        if -EXACT_LIMIT < value < EXACT_LIMIT:
            return str(int(value))
        return _inexact_number(value)
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).replace("\u3000", " ").strip()


# The whole numbers of 16 digits or more that `cell_text` met in the calamine read under
# way (see `_read_xlsx`), None outside one. A context variable: concurrent imports (threads,
# tasks) each note their own.
_LONG_NUMBERS: ContextVar[list[float] | None] = ContextVar("long_numbers", default=None)


def _inexact_number(value: float) -> str:
    """A whole number Excel cannot hold exactly, as its Scientific format with 14 decimals
    shows it ("9.13205004391500E+17"): its digits as a string ("913205004391500032", the
    float's own tail) would pass for the code a person typed, with a wrong check character
    to hunt for. Fifteen significant digits are exactly what Excel kept (and what a float
    gives back unchanged), trailing zeros included, so the text shows where the number was
    cut; the E (upper case, as Excel writes it) lets `is_excel_number` recognise it."""
    noted = _LONG_NUMBERS.get()
    if noted is not None:
        noted.append(value)
    return f"{value:.14E}"


def too_large() -> DomainError:
    return DomainError(
        "import_too_large",
        "The file is larger than %(mb)s MB. Split it into several files.",
        field="file",
        status=413,
        mb=MAX_BYTES // (1024 * 1024),
    )


def read_sheet(data: bytes, filename: str) -> Sheet:
    """The first worksheet of an XLSX file, or a CSV file, as text cells."""
    if len(data) > MAX_BYTES:
        raise too_large()
    if not data.strip():
        raise DomainError("import_empty", "The file is empty.", field="file")
    suffix = PurePath(filename or "").suffix.lower()
    if data.startswith(OLE_MAGIC) or suffix == ".xls":
        raise DomainError(
            "import_file_type",
            "This is an old Excel file (.xls). In Excel choose Save as > Excel workbook "
            "(.xlsx) or CSV, and upload that.",
            field="file",
        )
    if data.startswith(XLSX_MAGIC):
        return _read_xlsx(data)
    if suffix in XLSX_SUFFIXES:
        raise _unreadable_xlsx()
    if suffix not in CSV_SUFFIXES:
        raise DomainError(
            "import_file_type",
            "Upload an Excel workbook (.xlsx) or a CSV file; '%(name)s' is neither.",
            field="file",
            name=PurePath(filename).name,
        )
    return _read_csv(data)


def _unreadable_xlsx() -> DomainError:
    return DomainError(
        "import_file_unreadable",
        "This file cannot be read as an Excel workbook (.xlsx): it is damaged or not a "
        "workbook. Open it in Excel, save it again as .xlsx or CSV, and upload that.",
        field="file",
    )


# python-calamine (Rust) reads a sheet ten times faster than openpyxl, but builds the whole
# grid from A1 to the last cell in memory (a stray cell at XFD1048576 would ask for
# terabytes and abort the process). It reads a file only when its sheets' cell references
# prove the grid small and its cells plain; openpyxl (streaming) reads every other file.
MAX_GRID_CELLS = 4_000_000
MAX_SHEET_XML = 128 * 1024 * 1024
_CELL_ROW = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"')
_WIDE_COLUMN = re.compile(rb'<c r="([A-Z]{2,3})[0-9]')
_NARROW_COLUMN = re.compile(rb'<c r="([A-Z])[0-9]')
# A cell element not opened as <c r="A1": the reference scan cannot place it.
_UNPLACED_CELL = re.compile(rb'<c(?=[\s>/])(?! r="[A-Z]{1,3}[0-9]{1,7}")')
# Error values (openpyxl gives their text, e.g. "#DIV/0!"; calamine reads them differently).
# Plain substring tests (fast); the same bytes in a cell's text only cost the fast path.
_ERROR_CELL = b't="e"'
# An integer of 16 digits or more written exactly (no '.' or E: not by Excel, which keeps
# 15 digits) by another tool. Searched for only in a file where calamine met a number that
# large (see `_read_xlsx`): 3–6 ms with the unzipping for a sheet of 10,000 rows, which an
# ordinary file is spared.
_LONG_INTEGER = re.compile(rb"<v>-?[0-9]{16,}</v>")


def _column_number(letters: bytes) -> int:
    number = 0
    for ch in letters:
        number = number * 26 + ch - 64
    return number


def _prefixed_cell(xml: bytes) -> bool:
    """Whether the sheet has a cell element with a namespace prefix (<x:c ...>), which the
    reference scan does not see: the colons looked at (a sheet has few outside its
    namespace declarations; a one-byte search runs several times faster than one for
    ":c")."""
    at = xml.find(b":")
    while at != -1:
        if xml[at + 1 : at + 2] == b"c":
            after = xml[at + 2 : at + 3]
            if after and after in b" \t\r\n>/":
                return True
        at = xml.find(b":", at + 1)
    return False


def _grid_cells(xml: bytes) -> int:
    """How many cells calamine's grid (A1 to the last referenced cell) would hold, or an
    upper bound of it."""
    rows = _CELL_ROW.findall(xml)
    if not rows:
        return 0
    height = max(map(int, rows))
    wide = set(_WIDE_COLUMN.findall(xml))
    if wide:
        width = max(map(_column_number, wide))
    elif 26 * height <= MAX_GRID_CELLS:
        width = 26  # columns A to Z at most: small enough whichever is the last
    else:
        width = max(map(_column_number, set(_NARROW_COLUMN.findall(xml))))
    return width * height


@lru_cache(maxsize=8)
def _beyond_narrow_grid(digits: int) -> re.Pattern[bytes]:
    """A cell element that is not opened as <c r="A1" with one column letter and at most
    `digits` digits (any other, or an unplaced one, is found)."""
    return re.compile(rb'<c(?=[\s>/])(?! r="[A-Z][0-9]{1,%d}")' % digits)


def _narrow_grid(xml: bytes) -> bool:
    """A cheap proof that calamine's grid is small (one search, where `_grid_cells` lists
    every reference): the number of digits of the last row element's number is a guess of
    the rows' largest; when no cell has a reference outside columns A to Z and rows of at
    most that many digits, the grid has at most 26 x (10^digits - 1) cells. False: not
    proved (a wrong guess, a wider grid or a larger bound), `_grid_cells` then measures."""
    at = xml.rfind(b'<row r="')
    if at == -1:
        return False
    start = at + len(b'<row r="')
    end = xml.find(b'"', start, start + 9)
    digits = end - start
    if end == -1 or not xml[start:end].isdigit() or 26 * (10**digits - 1) > MAX_GRID_CELLS:
        return False
    return _beyond_narrow_grid(digits).search(xml) is None


def _calamine_fits(data: bytes) -> bool:
    """Whether every worksheet of the file is plain and its grid (A1 to the last cell)
    has at most MAX_GRID_CELLS cells."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            sheets = [
                info
                for info in archive.infolist()
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
            ]
            if not sheets or any(info.file_size > MAX_SHEET_XML for info in sheets):
                return False
            for info in sheets:
                xml = archive.read(info)
                if _ERROR_CELL in xml or _prefixed_cell(xml):
                    return False
                if _narrow_grid(xml):  # every cell placed, the grid small: no more scans
                    continue
                if _UNPLACED_CELL.search(xml):
                    return False
                if _grid_cells(xml) > MAX_GRID_CELLS:
                    return False
    except Exception:  # openpyxl then reads it, or says what is wrong
        return False
    return True


def _read_xlsx(data: bytes) -> Sheet:
    if not _calamine_fits(data):
        return _read_xlsx_openpyxl(data)
    noted: list[float] = []
    token = _LONG_NUMBERS.set(noted)
    try:
        sheet = _read_xlsx_calamine(data)
    finally:
        _LONG_NUMBERS.reset(token)
    # calamine reads every number as a float: an integer of 16 digits or more written
    # exactly in the file lost its last digits, where openpyxl reads an int. Only a file
    # in which calamine met such a number pays for the search.
    if noted and _long_integer(data):
        return _read_xlsx_openpyxl(data)
    return sheet


def _long_integer(data: bytes) -> bool:
    """Whether a worksheet holds an integer of 16 digits or more, written exactly."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return any(
                _LONG_INTEGER.search(archive.read(info)) is not None
                for info in archive.infolist()
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
            )
    except Exception:  # read before by `_calamine_fits`: not expected; openpyxl is exact
        return True


def _read_xlsx_calamine(data: bytes) -> Sheet:
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        try:
            # The first worksheet, as openpyxl's `worksheets[0]` (chart sheets are not).
            index = next(
                i
                for i, meta in enumerate(workbook.sheets_metadata)
                if meta.typ == SheetTypeEnum.WorkSheet
            )
            # From A1 (not from the first cell with data): line numbers are the sheet's.
            grid = workbook.get_sheet_by_index(index).to_python(skip_empty_area=False)
        finally:
            workbook.close()
    except Exception as exc:
        raise _unreadable_xlsx() from exc
    return _sheet("xlsx", grid)


def _sheet(format_: str, grid: Iterable[Iterable[object]]) -> Sheet:
    """The header row (the first with text) and the data rows with text, numbered as the
    spreadsheet numbers them."""
    headers: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for line, values in enumerate(grid, start=1):
        # cell_text, with its first case (text) inlined: this runs for every cell.
        cells = [
            v.replace("\u3000", " ").strip() if v.__class__ is str else cell_text(v) for v in values
        ]
        if headers is None:
            if not any(cells):
                continue  # blank lines above the header row
            headers = cells
            continue
        if any(cells):
            rows.append((line, cells))
    if headers is None:
        raise DomainError("import_empty", "The file is empty.", field="file")
    return Sheet(format_, headers, rows)


def _read_xlsx_openpyxl(data: bytes) -> Sheet:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise _unreadable_xlsx() from exc
    except Exception as exc:  # openpyxl's own errors (InvalidFileException, XML errors)
        raise _unreadable_xlsx() from exc
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise _unreadable_xlsx()
        # The cells as they are: read-only openpyxl otherwise trusts the file's <dimension>,
        # which another tool may have left stale (rows past it were silently dropped), and
        # pads every row, even an empty one, to its width (a stray cell at XFD1048576 made
        # a million rows of 16,384 cells).
        sheet.reset_dimensions()
        width = [0]
        try:
            read = _sheet("xlsx", _bounded(sheet.iter_rows(values_only=True), width))
        except DomainError:
            raise
        except Exception as exc:
            raise _unreadable_xlsx() from exc
    finally:
        workbook.close()
    # Every row as wide as the widest, as python-calamine's grid gives them.
    pad = width[0]
    return Sheet(
        read.format,
        read.headers + [""] * (pad - len(read.headers)),
        [(line, cells + [""] * (pad - len(cells))) for line, cells in read.rows],
    )


def _bounded(rows: Iterable[tuple[object, ...]], width: list[int]) -> Iterable[tuple[object, ...]]:
    """The rows, the widest one's length kept in `width[0]`; a sheet whose rows hold more
    than MAX_GRID_CELLS cells in all is refused (what python-calamine is kept from)."""
    cells = 0
    for row in rows:
        cells += len(row)
        if cells > MAX_GRID_CELLS:
            raise DomainError(
                "import_too_large",
                "The sheet holds more cells than an import can read (%(max)s), most of them "
                "probably empty: delete the rows and columns after your data, save the file, "
                "and upload it again.",
                field="file",
                status=413,
                max=MAX_GRID_CELLS,
            )
        if len(row) > width[0]:
            width[0] = len(row)
        yield row


def _decode(data: bytes) -> tuple[str, str]:
    """The text and the encoding it was in: a BOM decides; else UTF-8 if it decodes, else
    GB18030."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise DomainError(
            "import_encoding",
            "The text of this CSV file is neither UTF-8 nor GB18030. Save it from Excel as "
            "'CSV UTF-8' and upload that.",
            field="file",
        ) from exc


def _read_csv(data: bytes) -> Sheet:
    try:
        text, encoding = _decode(data)
    except UnicodeDecodeError as exc:  # a BOM that lies
        raise DomainError(
            "import_encoding",
            "The text of this CSV file is neither UTF-8 nor GB18030. Save it from Excel as "
            "'CSV UTF-8' and upload that.",
            field="file",
        ) from exc
    if "\x00" in text:
        raise DomainError(
            "import_file_type",
            "This file is not a CSV text file. Upload an Excel workbook (.xlsx) or a CSV file.",
            field="file",
        )
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    # cell_text's full-width space replacement, once for the whole text (it is neither a
    # delimiter nor a quote, so every cell gets the same text as replacing cell by cell).
    text = text.replace("\u3000", " ")
    strip = str.strip
    try:
        # Every record's cells stripped (cell_text of a str, inlined) by one comprehension:
        # no Python statement per row (a loop here took twice as long).
        records = [
            list(map(strip, record))
            for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        ]
    except csv.Error:
        _refuse_record(text, delimiter)  # says which line
        raise
    # Line numbers count records, as Excel numbers the rows of a CSV file it opens (a
    # quoted cell with a line break stays in one row).
    first = next((index for index, cells in enumerate(records) if any(cells)), None)
    if first is None:
        raise DomainError("import_empty", "The file is empty.", field="file")
    headers = records[first]
    rows = [
        (line, cells) for line, cells in enumerate(records[first + 1 :], first + 2) if any(cells)
    ]
    return Sheet("csv", headers, rows, encoding)


def _refuse_record(text: str, delimiter: str) -> None:
    """Read the records again one at a time to name the line (counted in records) of the
    first one the CSV reader refuses, in words."""
    line = 0  # the records read
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            line += 1
    except csv.Error as exc:
        raise DomainError(
            "import_file_unreadable",
            "Line %(line)s of the CSV file cannot be read (%(problem)s). Save the file again "
            "from Excel as CSV.",
            field="file",
            line=line + 1,
            problem=str(exc),
        ) from exc
