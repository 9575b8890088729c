"""The credit-code check of a whole column (`uscc.valid_column`) says what the check of
each code (`uscc.checked`) says: the normalised codes when every one is valid, else None
(the caller then checks each code, which names the problem)."""

from __future__ import annotations

import random

from webapp.enterprises import uscc


def _codes(rng: random.Random, n: int) -> list[str]:
    return [uscc.generate(rng, division=f"3205{rng.randint(10, 99)}") for _ in range(n)]


def _mutated(rng: random.Random, code: str) -> str:
    """The code with up to three characters replaced, inserted or deleted (letters the
    alphabet lacks, lower case, separators, full-width characters, line breaks)."""
    pool = uscc.ALPHABET + "IOZSVaz- \t\n\u3000９Ａ"
    chars = list(code)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(chars) + 1)
        step = rng.random()
        if step < 0.4 and at < len(chars):
            chars[at] = rng.choice(pool)
        elif step < 0.7:
            chars.insert(at, rng.choice(pool))
        elif at < len(chars):
            del chars[at]
    return "".join(chars)


def test_a_column_of_valid_codes_is_normalised_as_each_code_is() -> None:
    rng = random.Random(20261202)
    codes = _codes(rng, 3000)
    assert uscc.valid_column(codes) == codes
    spelled = [code.lower() for code in codes[:10]] + [f"{c[:6]}-{c[6:]} " for c in codes[10:20]]
    assert uscc.valid_column(spelled) == [uscc.checked(c)[0] for c in spelled] == codes[:20]
    assert uscc.valid_column([]) == []


def test_one_bad_code_makes_the_column_go_code_by_code() -> None:
    rng = random.Random(7)
    codes = _codes(rng, 40)
    refused = 0
    for _ in range(3000):
        column = list(codes)
        at = rng.randrange(len(column))
        column[at] = _mutated(rng, column[at])
        found = uscc.valid_column(column)
        each = [uscc.checked(code) for code in column]
        if any(problem is not None for _, problem in each):
            assert found is None, column[at]
            refused += 1
        elif found is not None:  # None is allowed: full-width text goes code by code
            assert found == [code for code, _ in each]
        else:
            assert not column[at].isascii() or "\n" in column[at]
    assert refused > 2000  # the mutations do reach the refusals
    # Each kind of problem alone: length, a letter not in the alphabet, the check character.
    good = codes[0]
    wrong = "0" if good[17] != "0" else "1"
    for bad in (good[:17], good + "1", "I" + good[1:], good[:17] + wrong, ""):
        assert uscc.checked(bad)[1] is not None
        assert uscc.valid_column([*codes[1:5], bad]) is None
