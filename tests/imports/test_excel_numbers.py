"""Identifiers that Excel turned into numbers: a credit code (or credential number, item
code, agency code) typed into a General cell is stored as a number of 15 significant
digits, so an 18-digit code comes back as 9.13205004391500E+17 (XLSX) or "9.13205E+17"
(Excel's CSV). The import names that cause instead of a wrong check character or length;
an exact integer written into the file by another tool is read exactly by either reader."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.imports.helpers import (
    ENTERPRISE_HEADER,
    PLAN_HEADER,
    check_rows,
    enterprise_rows,
    with_sheet_xml,
    xlsx_bytes,
)
from tests.imports.test_reference_kinds import INSPECTOR_HEADER
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportKind, ImportStatus
from webapp.imports import readers, service
from webapp.imports.models import ImportBatch

# A valid credit code of digits only (check character 7): Excel's 15 digits keep
# 913205004391500000 of it, which a float holds as 913205004391500032.
CODE = "913205004391500087"
EXCEL_TEXT = "9.13205004391500E+17"  # the float as `cell_text` gives it
CREDIT_CODE_AS_NUMBER = (
    "Excel stored this credit code as a number (%(value)s), so some of its digits are lost. "
    "In Excel format the column as Text, enter the codes again, and upload the file again."
)
NUMBER_AS_NUMBER = (
    "Excel stored this credential number as a number (%(value)s), so some of its digits are "
    "lost. In Excel format the column as Text, enter the numbers again, and upload the file "
    "again."
)
CODE_AS_NUMBER = (
    "Excel stored this code as a number (%(value)s), so some of its digits are lost. In "
    "Excel format the column as Text, enter the codes again, and upload the file again."
)


def _errors(db: Session, batch: ImportBatch) -> list[tuple[int, str, str, dict[str, object]]]:
    return [(e.line, e.column, e.message, e.params) for e in service.report(db, batch).errors]


def _exact_integers(data: bytes, numbers: dict[float, str]) -> bytes:
    """The workbook with each placeholder number's <v> replaced by the digits given, as a
    tool that writes integers exactly would store them (openpyxl writes "%.16g")."""

    def replace(body: bytes) -> bytes:
        for placeholder, digits in numbers.items():
            old = b"<v>%s</v>" % repr(placeholder).encode()
            assert old in body
            body = body.replace(old, b"<v>%s</v>" % digits.encode())
        return body

    return with_sheet_xml(data, replace)


# --- reading --------------------------------------------------------------------------------


def test_whole_floats_from_1e15_up_are_given_in_scientific_notation() -> None:
    text = readers.cell_text
    # Up to 15 digits Excel holds the number exactly: the digits a person typed.
    assert text(999999999999999.0) == "999999999999999"
    assert text(-999999999999999.0) == "-999999999999999"
    # From 1e15 (16 digits) the last ones may be lost: the 15 Excel kept, as a number.
    assert text(1e15) == "1.00000000000000E+15"
    assert text(-1e15) == "-1.00000000000000E+15"
    assert text(float(CODE)) == EXCEL_TEXT
    assert text(-float(CODE)) == "-" + EXCEL_TEXT
    assert text(1e300) == "1.00000000000000E+300"
    # Not whole: unchanged; integers (exact in the file): every digit.
    assert text(2.5) == "2.5"
    assert text(1e15 + 0.5) == "1000000000000000.5"
    assert text(0.1 + 0.2) == "0.30000000000000004"
    assert text(int(CODE)) == CODE
    assert text(-int(CODE)) == "-" + CODE


@pytest.mark.parametrize(
    "text",
    [
        EXCEL_TEXT,
        "9.13205E+17",
        "9.13205e+17",
        "9E+17",
        "9e+17",
        "9.E+17",
        "9.13205E17",
        "-9.13205E+17",
        "1.00000000000000E+15",
    ],
)
def test_the_forms_of_a_number_in_scientific_notation(text: str) -> None:
    assert readers.is_excel_number(text)


@pytest.mark.parametrize(
    "text",
    [CODE, "91320500439150E087", "9132050043915E0087", "JZ-100", "2.5", "E+17", "9.13205", ""],
)
def test_identifiers_are_not_numbers_in_scientific_notation(text: str) -> None:
    # A credit code may hold an E between digits: only a '.' or an exponent's '+' (neither
    # of them in a code) makes the text a number.
    assert not readers.is_excel_number(text)


def test_a_code_excel_stored_as_a_number_reads_as_one_by_either_reader() -> None:
    # As openpyxl writes a float: 9.132050043915e+17 (Excel's own files: 9.132050043915E+17).
    data = xlsx_bytes([["code", "x"], [float(CODE), "a"], [-float(CODE), "b"]])
    assert readers._calamine_fits(data)
    fast = readers._read_xlsx_calamine(data)
    assert fast == readers._read_xlsx_openpyxl(data) == readers.read_sheet(data, "e.xlsx")
    assert fast.rows == [(2, [EXCEL_TEXT, "a"]), (3, ["-" + EXCEL_TEXT, "b"])]


def test_an_exact_integer_in_the_file_is_read_exactly_by_either_reader() -> None:
    data = _exact_integers(
        xlsx_bytes([["code", "n"], [1.25, 7], [2.25, 999999999999999], [3.25, 4.75]]),
        {1.25: CODE, 2.25: "-" + CODE, 3.25: "1000000000000000"},
    )
    # python-calamine reads every number as a float (its last digits lost): having met a
    # number that large, the reader finds the exact integers and has openpyxl read them.
    assert readers._calamine_fits(data)
    assert readers._read_xlsx_calamine(data).rows[0] == (2, [EXCEL_TEXT, "7"])
    assert readers.read_sheet(data, "e.xlsx") == readers._read_xlsx_openpyxl(data)
    assert readers.read_sheet(data, "e.xlsx").rows == [
        (2, [CODE, "7"]),
        (3, ["-" + CODE, "999999999999999"]),
        (4, ["1000000000000000", "4.75"]),
    ]
    assert readers._LONG_NUMBERS.get() is None  # noted during a read only
    # Up to 15 digits a number is exact as a float too: the fast reader keeps the file.
    data = _exact_integers(
        xlsx_bytes([["code", "n"], [1.25, 2.25]]), {1.25: "999999999999999", 2.25: "-1"}
    )
    assert readers._calamine_fits(data)
    assert readers.read_sheet(data, "e.xlsx").rows == [(2, ["999999999999999", "-1"])]


def test_an_ordinary_file_is_read_by_the_fast_reader_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searched: list[bytes] = []

    def read_again(data: bytes) -> readers.Sheet:
        raise AssertionError("read a second time, by openpyxl")

    def search(data: bytes) -> bool:
        searched.append(data)
        return False

    monkeypatch.setattr(readers, "_read_xlsx_openpyxl", read_again)
    monkeypatch.setattr(readers, "_long_integer", search)
    # Numbers of up to 15 digits: nothing to search for.
    plain = xlsx_bytes([["code", "n"], ["91320500MA1XXXXX", 999999999999999], ["a", -2.5]])
    assert readers.read_sheet(plain, "e.xlsx").rows[0] == (
        2,
        ["91320500MA1XXXXX", "999999999999999"],
    )
    assert searched == []
    # Excel's own float of a longer number: searched for an exact integer, none found, kept.
    excel = xlsx_bytes([["code"], [float(CODE)]])
    assert readers.read_sheet(excel, "e.xlsx").rows == [(2, [EXCEL_TEXT])]
    assert searched == [excel]


def test_cut_by_excel_tells_the_digits_excel_kept() -> None:
    assert readers.cut_by_excel("913205004391500000")  # 15 digits, then zeros
    assert readers.cut_by_excel("913205004391500032")  # a float's own digits
    assert readers.cut_by_excel("1000000000000000")
    assert not readers.cut_by_excel(CODE)  # digits a float cannot hold
    assert not readers.cut_by_excel("913205004391500")  # 15 digits: Excel holds them
    assert not readers.cut_by_excel("91320500439150000A")
    assert not readers.cut_by_excel("9.13205004391500E+17")
    assert not readers.cut_by_excel("")


# --- enterprises ------------------------------------------------------------------------------


def test_an_xlsx_credit_code_stored_as_a_number_is_named_as_such(
    db: Session, world: World, now: datetime
) -> None:
    rows = enterprise_rows(world.county.code, 3)
    rows[2][0] = float(CODE)  # line 3, as Excel stores a code typed into a General cell
    batch = check_rows(db, world, rows, now, filename="e.xlsx")
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == [
        (3, ENTERPRISE_HEADER[0], CREDIT_CODE_AS_NUMBER, {"value": EXCEL_TEXT})
    ]


@pytest.mark.parametrize("shown", ["9.13205E+17", "9.13205e+17", "9E+17", EXCEL_TEXT])
def test_a_csv_credit_code_in_scientific_notation_is_named_as_such(
    db: Session, world: World, now: datetime, shown: str
) -> None:
    # Excel saves a number column as it shows it: "9.13205E+17" in a column of usual width.
    rows = enterprise_rows(world.county.code, 3)
    rows[3][0] = shown
    batch = check_rows(db, world, rows, now, filename="e.csv")
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == [
        (4, ENTERPRISE_HEADER[0], CREDIT_CODE_AS_NUMBER, {"value": shown})
    ]


def test_an_exact_18_digit_integer_is_imported_exactly(
    db: Session, world: World, now: datetime
) -> None:
    rows = enterprise_rows(world.county.code, 2)
    rows[2][0] = 1.25  # replaced by the exact integer below
    data = _exact_integers(xlsx_bytes(rows), {1.25: CODE})
    batch = service.check_file(
        db, actor=world.admin, kind=ImportKind.enterprises, filename="e.xlsx", data=data, now=now
    )
    assert batch.status == ImportStatus.validated, _errors(db, batch)
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.expire_all()
    got = db.scalar(select(Enterprise).where(Enterprise.uscc == CODE))
    assert got is not None
    assert got.name == "示例企业2有限公司"


@pytest.mark.parametrize("cut", ["913205004391500000", "913205004391500032"])
def test_a_credit_code_holding_the_digits_excel_kept_is_named_as_such(
    db: Session, world: World, now: datetime, cut: str
) -> None:
    # "...000": Excel's CSV of a number column formatted without decimals, or a tool writing
    # a double's digits; "...032": the double's own. Both fail the check character.
    rows = enterprise_rows(world.county.code, 2)
    rows[2][0] = cut
    expected = [(3, ENTERPRISE_HEADER[0], CREDIT_CODE_AS_NUMBER, {"value": cut})]
    batch = check_rows(db, world, rows, now, filename="e.csv")
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == expected
    rows[2][0] = 1.25  # the same digits written into an XLSX file as an integer
    data = _exact_integers(xlsx_bytes(rows), {1.25: cut})
    batch = service.check_file(
        db, actor=world.admin, kind=ImportKind.enterprises, filename="e.xlsx", data=data, now=now
    )
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == expected


def test_a_valid_code_ending_in_zeros_is_imported(db: Session, world: World, now: datetime) -> None:
    from webapp.enterprises import uscc

    # A valid all-digit code whose last three digits are 0: the Excel message is for codes
    # that fail their check only.
    first = next(
        f"9132050043915{n:02d}00"
        for n in range(100)
        if uscc.check_character(f"9132050043915{n:02d}00") == "0"
    )
    code = first + "0"
    assert readers.cut_by_excel(code)
    rows = enterprise_rows(world.county.code, 2)
    rows[1][0] = code
    batch = check_rows(db, world, rows, now, filename="e.csv")
    assert batch.status == ImportStatus.validated, _errors(db, batch)


# --- plans ------------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["plan.xlsx", "plan.csv"])
def test_a_plan_credit_code_stored_as_a_number_is_named_as_such(
    db: Session, world: World, now: datetime, filename: str
) -> None:
    shown = EXCEL_TEXT if filename.endswith(".xlsx") else "9.13205E+17"
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "Alpha", "2026-12", "AQ-001", ""],
        [float(CODE) if filename.endswith(".xlsx") else shown, "Gamma", "2026-12", "AQ-002", ""],
    ]
    batch = check_rows(db, world, rows, now, kind=ImportKind.monthly_plan, filename=filename)
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == [(3, "统一社会信用代码", CREDIT_CODE_AS_NUMBER, {"value": shown})]


def test_a_plan_item_code_stored_as_a_number_is_named_as_such(
    db: Session, world: World, now: datetime
) -> None:
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "Alpha", "2026-12", 3.20581000012346e17, ""],
    ]
    batch = check_rows(db, world, rows, now, kind=ImportKind.monthly_plan, filename="p.xlsx")
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == [
        (2, "检查事项编码", CODE_AS_NUMBER, {"value": "3.20581000012346E+17"})
    ]


# --- inspectors, items, agencies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "shown"),
    [(3.20581000012346e17, "3.20581000012346E+17"), ("3.20581E+17", "3.20581E+17")],
    ids=["xlsx", "csv"],
)
def test_a_credential_number_stored_as_a_number_is_refused(
    db: Session, world: World, now: datetime, cell: object, shown: str
) -> None:
    code = world.county.code
    rows: list[list[object]] = [
        INSPECTOR_HEADER,
        ["赵六", code, 32058100001, "2025-01-01", "2029-12-31", "有效", ""],
        ["钱七", code, cell, "2025-01-01", "2029-12-31", "有效", ""],
    ]
    filename = "i.csv" if isinstance(cell, str) else "i.xlsx"
    batch = check_rows(db, world, rows, now, kind=ImportKind.inspectors, filename=filename)
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == [(3, "执法证号", NUMBER_AS_NUMBER, {"value": shown})]


def test_an_item_code_stored_as_a_number_is_refused(
    db: Session, world: World, now: datetime
) -> None:
    rows: list[list[object]] = [
        ["事项编码", "事项名称", "检查依据"],
        ["AQ-101", "甲", "《安全生产法》"],
        [1.23456789012346e16, "乙", "《安全生产法》"],
    ]
    batch = check_rows(db, world, rows, now, kind=ImportKind.items, filename="items.xlsx")
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == [
        (3, "事项编码", CODE_AS_NUMBER, {"value": "1.23456789012346E+16"})
    ]


def test_an_agency_code_stored_as_a_number_is_named_as_such(
    db: Session, world: World, now: datetime
) -> None:
    rows = enterprise_rows(world.county.code, 2)
    rows[1][5] = "1.13205E+17"
    batch = check_rows(db, world, rows, now, filename="e.csv")
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == [
        (2, ENTERPRISE_HEADER[5], CODE_AS_NUMBER, {"value": "1.13205E+17"})
    ]
