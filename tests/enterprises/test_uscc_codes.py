from __future__ import annotations

import random
import unicodedata

import pytest

from webapp.enterprises import uscc


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",
        "91110000600037341L",
        "９１３５０１００Ｍ０００１００Ｙ４３",
        "91350100-M000100Y43",
        " 91350100m000100y43 ",
    ],
)
def test_valid_codes_pass_after_normalising(code: str) -> None:
    assert uscc.problem(code) is None


def test_a_wrong_check_character_names_the_expected_one() -> None:
    found = uscc.problem("91350100M000100Y44")
    assert found is not None
    assert found.params == {"expected": "3", "given": "4"}


def test_wrong_length_and_impossible_characters() -> None:
    too_short = uscc.problem("91350100M000100Y4")
    assert too_short is not None
    assert too_short.params["length"] == 17
    bad_char = uscc.problem("91350100M000100I43")
    assert bad_char is not None
    assert bad_char.params == {"position": 16, "char": "I"}


def test_generated_codes_are_valid_and_a_typo_is_caught() -> None:
    rng = random.Random(7)
    for _ in range(200):
        code = uscc.generate(rng)
        assert uscc.is_valid(code)
        position = rng.randrange(17)
        replacement = next(c for c in uscc.ALPHABET if c != code[position])
        assert not uscc.is_valid(code[:position] + replacement + code[position + 1 :])


def _reference_problem(raw: str) -> tuple[str, dict[str, str | int]] | None:
    """GB 32100's checks written out character by character (the check's specification),
    to compare `uscc.problem` (bytes, C-level loops) with: (msgid's kind, params) or None."""
    text = unicodedata.normalize("NFKC", raw)
    code = "".join(ch for ch in text if ch not in " -\t").upper()
    if len(code) != 18:
        return "length", {"length": len(code)}
    for position, ch in enumerate(code, start=1):
        if ch not in uscc.ALPHABET:
            return "char", {"position": position, "char": ch}
    total = sum(uscc.ALPHABET.index(ch) * pow(3, i, 31) for i, ch in enumerate(code[:17]))
    expected = uscc.ALPHABET[(31 - total % 31) % 31]
    if code[17] != expected:
        return "check", {"expected": expected, "given": code[17]}
    return None


def _kind(found: uscc.UsccProblem) -> str:
    if "18 characters" in found.message:
        return "length"
    return "char" if "cannot appear" in found.message else "check"


def test_the_check_gives_the_reference_verdict_and_error_for_every_kind_of_text() -> None:
    rng = random.Random(6)
    alphabet = uscc.ALPHABET + "IOZSVaz -\t９Ａ中é"
    verdicts: set[str] = set()
    for i in range(20000):
        if i % 2:
            code = list(uscc.generate(rng))
            position = rng.randrange(18)
            code[position] = rng.choice([code[position], rng.choice(alphabet), " -" + code[0]])
            text = "".join(code)
            text = text.lower() if i % 7 == 0 else text
        else:
            text = "".join(rng.choice(alphabet) for _ in range(rng.choice([17, 18, 19])))
        expected = _reference_problem(text)
        found = uscc.problem(text)
        normal, checked = uscc.checked(text)
        assert checked == found
        assert (
            normal
            == "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch not in " -\t").upper()
        )
        if expected is None:
            assert found is None, text
            verdicts.add("valid")
        else:
            assert found is not None, text
            assert (_kind(found), found.params) == expected, text
            verdicts.add(expected[0])
    assert verdicts == {"valid", "length", "char", "check"}


def test_a_non_ascii_character_is_named_with_its_position() -> None:
    found = uscc.problem("91350100M000100中43")
    assert found is not None
    assert found.params == {"position": 16, "char": "中"}
    assert uscc.checked("９１３５０１００Ｍ０００１００Ｙ４３") == ("91350100M000100Y43", None)
