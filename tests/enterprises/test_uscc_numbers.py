"""A credit code that Excel stored as a number (9.13205004391500E+17 read from an XLSX cell,
"9.13205E+17" from Excel's CSV) has its own problem, named before the length and character
checks: no typing error is there to find, its last digits are gone."""

from __future__ import annotations

import pytest

from webapp.enterprises import uscc

EXCEL_NUMBER = (
    "Excel stored this credit code as a number (%(value)s) and kept only 15 digits, so its "
    "last digits are lost. In Excel format the column as Text, enter the codes again, and "
    "upload the file again."
)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("9.13205004391500E+17", "9.13205004391500E+17"),  # an XLSX number, as read
        ("9.13205E+17", "9.13205E+17"),  # Excel's CSV, a column of usual width
        ("9.13205e+17", "9.13205E+17"),
        ("9E+17", "9E+17"),
        ("9.13205E17", "9.13205E17"),
        (" 9.13205E+17 ", "9.13205E+17"),
        ("９.１３２０５Ｅ＋１７", "9.13205E+17"),  # full-width, as NFKC makes it
        ("1.23457E+15", "1.23457E+15"),
    ],
)
def test_a_code_in_scientific_notation_is_named_as_a_number(raw: str, shown: str) -> None:
    code, found = uscc.checked(raw)
    assert code == shown
    assert found == uscc.UsccProblem(EXCEL_NUMBER, {"value": shown})
    assert uscc.valid_column([raw]) is None  # the row path then names it


@pytest.mark.parametrize("code", ["91320503982E597918", "91320508762E328603"])
def test_only_a_number_is_named_as_one(code: str) -> None:
    assert uscc.problem("9.13205E+17") == uscc.UsccProblem(EXCEL_NUMBER, {"value": "9.13205E+17"})
    # An E between digits, without a '.' or an exponent's '+', is a code's character.
    assert uscc.checked(code) == (code, None)
    assert uscc.valid_column([code]) == [code]
    # The other problems as before.
    assert uscc.problem("9132050043915000") == uscc.UsccProblem(
        "A unified social credit code has 18 characters; this one has %(length)s.",
        {"length": 16},
    )
    decimal = uscc.problem("913205004391500.87")
    assert decimal is not None
    assert decimal.params == {"position": 16, "char": "."}
    found = uscc.problem("913205004391500032")  # the digits a float of the code holds
    assert found is not None
    assert found.params == {"expected": "P", "given": "2"}
