"""The unified social credit code (统一社会信用代码), GB 32100-2015.

18 characters from a 31-character alphabet (digits and capitals without I, O, Z, S, V):
registration authority (1), organisation type (1), administrative division (6),
organisation code (9), check character (1). The check character makes the weighted sum of
all 18 characters, with weights 3^i mod 31, a multiple of 31.
"""

from __future__ import annotations

import operator
import random
import re
import unicodedata
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {ch: i for i, ch in enumerate(ALPHABET)}
WEIGHTS = [pow(3, i, 31) for i in range(17)]  # 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, ...
LENGTH = 18

# Each ASCII character's value as a byte (255: not in the alphabet), for bytes.translate:
# a file's codes are checked by C-level loops, without a Python step per character.
_NOT_IN_ALPHABET = 255
_ASCII_VALUES = bytes(VALUES.get(chr(byte), _NOT_IN_ALPHABET) for byte in range(256))
_SEPARATORS = b" -\t"


@dataclass(frozen=True)
class UsccProblem:
    """Why a code is not valid: an English msgid and its parameters (for translation)."""

    message: str
    params: dict[str, str | int]


def normalize(raw: str) -> str:
    """Full-width characters to ASCII, spaces and dashes removed, upper case."""
    if raw.isascii():  # nearly every code: NFKC leaves ASCII as it is
        return raw.encode("ascii").translate(None, _SEPARATORS).upper().decode("ascii")
    text = unicodedata.normalize("NFKC", raw)
    return "".join(ch for ch in text if ch not in " -\t").upper()


def _values(code: str) -> bytes:
    """Each character's value in the alphabet (255 for a character not in it)."""
    if code.isascii():
        return code.encode("ascii").translate(_ASCII_VALUES)
    return bytes(VALUES.get(ch, _NOT_IN_ALPHABET) for ch in code)


def _check_value(values: bytes) -> int:
    """The value the check character must have after these (first 17) values."""
    total: int = sum(map(operator.mul, values, WEIGHTS))  # map stops after the 17 weights
    return (31 - total % 31) % 31


def check_character(first17: str) -> str:
    return ALPHABET[_check_value(_values(first17))]


def _problem_of(code: str, values: bytes) -> UsccProblem | None:
    """What is wrong with a normalised code, given its characters' values (None: valid)."""
    if len(code) != LENGTH:
        return UsccProblem(
            "A unified social credit code has 18 characters; this one has %(length)s.",
            {"length": len(code)},
        )
    bad = values.find(_NOT_IN_ALPHABET)
    if bad >= 0:
        return UsccProblem(
            "Character %(position)s ('%(char)s') cannot appear in a unified social credit "
            "code (no I, O, Z, S or V).",
            {"position": bad + 1, "char": code[bad]},
        )
    expected = _check_value(values)
    if values[17] != expected:
        return UsccProblem(
            "The check character is wrong: with these first 17 characters it must be "
            "'%(expected)s', not '%(given)s'. Check the code for a typing error.",
            {"expected": ALPHABET[expected], "given": code[17]},
        )
    return None


def checked(raw: str) -> tuple[str, UsccProblem | None]:
    """`raw` normalised, and what is wrong with it (None when it is a valid code). A plain
    ASCII cell (nearly every one of a file) is normalised and checked on bytes."""
    code = normalize(raw)
    return code, _problem_of(code, _values(code))


# The column check (`valid_column`): a code's characters at offset i of its 19-byte line
# (18 characters and a line break), each as (value * weight) mod 31, the check character
# with weight 1 (a valid code's 18 weighted values sum to a multiple of 31).
_CODE_LINES = re.compile(rb"(?:[0-9A-HJ-NP-RTUWXY]{18}\n)*")
_LINE = LENGTH + 1
_WEIGHTED = [
    bytes(VALUES[chr(byte)] * weight % 31 if chr(byte) in VALUES else 0 for byte in range(256))
    for weight in (*WEIGHTS, 1)
]
_MOD31 = bytes(byte % 31 for byte in range(256))
# Positions summed before each reduction mod 31: a byte holds 8 values of at most 30 (240),
# then a reduced sum (at most 30) and 7 more (240), then one and 3 more.
_GROUPS = (range(0, 8), range(8, 15), range(15, LENGTH))


def valid_column(raws: list[str]) -> list[str] | None:
    """The codes normalised, when every one is a valid code (exactly what `checked` gives
    each of them), else None (the caller then checks each with `checked`, which names the
    problem). One pass of C-level steps over the whole column: normalised as one text,
    shape checked by one regex, and the checksums of all codes summed at once as the bytes
    of big integers, a few positions at a time (each byte a code's running sum, reduced mod
    31 between the groups of positions: no carry crosses to its neighbour)."""
    count = len(raws)
    if not count:
        return []
    text = "\n".join(raws)
    if not text.isascii() or text.count("\n") != count - 1:
        return None  # full-width characters (NFKC), or a cell with a line break of its own
    lines = text.encode("ascii").translate(None, _SEPARATORS).upper() + b"\n"
    if _CODE_LINES.fullmatch(lines) is None:
        return None
    sums = b""
    for group in _GROUPS:
        total = int.from_bytes(sums, "little")
        for position in group:
            weighted = lines[position::_LINE].translate(_WEIGHTED[position])
            total += int.from_bytes(weighted, "little")
        sums = total.to_bytes(count, "little").translate(_MOD31)
    if sums.count(0) != count:
        return None
    return lines[:-1].decode("ascii").split("\n")


def problem(raw: str) -> UsccProblem | None:
    """None when `raw` is a valid code (after normalising), else what is wrong."""
    return checked(raw)[1]


def is_valid(raw: str) -> bool:
    return problem(raw) is None


def _org_code(rng: random.Random) -> str:
    # GB 11714 organisation code: 8 characters and its own check character.
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    weights = [3, 7, 9, 10, 5, 8, 4, 2]
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in body]
    check = 11 - sum(v * w for v, w in zip(values, weights, strict=True)) % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def generate(rng: random.Random, division: str = "320581") -> str:
    """A well-formed code (for demo and test data): business registration, enterprise."""
    first17 = "91" + division + _org_code(rng)
    return first17 + check_character(first17)
