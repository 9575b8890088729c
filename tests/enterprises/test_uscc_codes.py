from __future__ import annotations

import random

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
