"""The pass token wrapper around python-jose, attacked directly."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from jose import jwt

from webapp.auth import security
from webapp.auth.security import PassRefused

NOW = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
STEP = 30
ACCEPTED = 2


def _issue(secret: bytes, at: datetime = NOW) -> str:
    return security.issue_pass_token(
        secret,
        visit_public_id="v1",
        enterprise_id=7,
        step=security.step_of(at, STEP),
        step_seconds=STEP,
        accepted_steps=ACCEPTED,
    )


def _verify(token: str, secret: bytes, at: datetime = NOW) -> security.PassClaims:
    return security.verify_pass_token(
        token, secret, now=at, step_seconds=STEP, accepted_steps=ACCEPTED
    )


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**changes: object) -> dict[str, object]:
    """The claims of a pass for visit v1 at enterprise 7, issued at NOW, with `changes`."""
    step = security.step_of(NOW, STEP)
    claims: dict[str, object] = {
        "iss": security.PASS_ISSUER,
        "aud": "checkin",
        "sub": "v1",
        "ent": 7,
        "stp": step,
        "iat": step * STEP,
        "exp": (step + ACCEPTED) * STEP,
    }
    claims.update(changes)
    return claims


def _signed(
    claims: dict[str, object], secret: bytes, alg: str = "HS256", typ: str = security.PASS_TYP
) -> str:
    """A token signed with the right key, but built by hand (not by issue_pass_token)."""
    token: str = jwt.encode(claims, secret, algorithm=alg, headers={"typ": typ})
    return token


def _refusal(token: str, secret: bytes, at: datetime = NOW) -> str:
    with pytest.raises(PassRefused) as info:
        _verify(token, secret, at)
    return info.value.code


def test_a_fresh_pass_verifies() -> None:
    secret = security.new_pass_secret()
    claims = _verify(_issue(secret), secret)
    assert claims.visit_public_id == "v1"
    assert claims.enterprise_id == 7


def test_the_next_step_still_verifies_and_later_ones_expire() -> None:
    secret = security.new_pass_secret()
    token = _issue(secret)
    assert _verify(token, secret, NOW + timedelta(seconds=STEP)).enterprise_id == 7
    assert _refusal(token, secret, NOW + timedelta(seconds=2 * STEP)) == "pass_expired"
    assert _refusal(token, secret, NOW + timedelta(minutes=10)) == "pass_expired"


def test_a_pass_from_the_future_is_refused() -> None:
    secret = security.new_pass_secret()
    token = _issue(secret, NOW + timedelta(minutes=5))
    assert _refusal(token, secret) == "pass_invalid"


def test_another_visits_secret_does_not_verify() -> None:
    assert _refusal(_issue(security.new_pass_secret()), security.new_pass_secret()) == (
        "pass_invalid"
    )


def test_a_flipped_signature_character_is_refused() -> None:
    secret = security.new_pass_secret()
    token = _issue(secret)
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert _refusal(f"{head}.{body}.{flipped}", secret) == "pass_invalid"


def test_altered_claims_are_refused() -> None:
    secret = security.new_pass_secret()
    head, _, sig = _issue(secret).split(".")
    body = _b64(_claims(ent=8))
    assert _refusal(f"{head}.{body}.{sig}", secret) == "pass_invalid"


def test_alg_none_is_refused() -> None:
    secret = security.new_pass_secret()
    head = _b64({"alg": "none", "typ": security.PASS_TYP})
    body = _b64(_claims())
    assert _refusal(f"{head}.{body}.", secret) == "pass_invalid"


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_algorithms_are_refused_even_with_the_right_key(alg: str) -> None:
    secret = security.new_pass_secret()
    token = _signed(_claims(), secret, alg=alg)
    assert _refusal(token, secret) == "pass_invalid"


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "exp", "iat", "ent", "stp"])
def test_every_required_claim_is_required(missing: str) -> None:
    secret = security.new_pass_secret()
    claims = _claims()
    del claims[missing]
    token = _signed(claims, secret)
    assert _refusal(token, secret) == "pass_invalid"


@pytest.mark.parametrize("bad_exp", [None, [1, 2], "soon", 1.5])
def test_malformed_exp_is_one_refusal_not_a_crash(bad_exp: object) -> None:
    secret = security.new_pass_secret()
    token = _signed(_claims(exp=bad_exp), secret)
    assert _refusal(token, secret) == "pass_invalid"


def test_wrong_typ_is_refused() -> None:
    secret = security.new_pass_secret()
    token = _signed(_claims(), secret, typ="JWT")
    assert _refusal(token, secret) == "pass_invalid"


def test_a_hand_built_pass_with_the_right_claims_verifies() -> None:
    """The forgeries above are refused for what they change, not for how they are built."""
    secret = security.new_pass_secret()
    assert _verify(_signed(_claims(), secret), secret).enterprise_id == 7


@pytest.mark.parametrize("garbage", ["", "a.b.c", "x" * 5000, "....", "eyJ.eyJ.sig", "💥.💥.💥"])
def test_garbage_is_refused(garbage: str) -> None:
    assert _refusal(garbage, security.new_pass_secret()) == "pass_invalid"
    assert security.peek_pass_visit(garbage) is None


def test_short_codes_rotate_and_verify() -> None:
    secret = security.new_pass_secret()
    step = security.step_of(NOW, STEP)
    code = security.short_code("K7Q2M", secret, step)
    assert code != security.short_code("K7Q2M", secret, step + 1)
    normal = security.normalize_code(code.lower().replace("-", " "))
    assert normal is not None
    assert (
        security.verify_code_digits(
            secret, normal[5:], now=NOW, step_seconds=STEP, accepted_steps=ACCEPTED
        )
        == step
    )
    with pytest.raises(PassRefused) as info:
        security.verify_code_digits(
            secret,
            normal[5:],
            now=NOW + timedelta(minutes=3),
            step_seconds=STEP,
            accepted_steps=ACCEPTED,
        )
    assert info.value.code == "pass_expired"


def test_codes_with_impossible_characters_are_not_codes() -> None:
    assert security.normalize_code("K7Q2O-123-456") is None  # O is not in the alphabet
    assert security.normalize_code("K7Q2M-123-45") is None


def test_passwords_hash_with_argon2id() -> None:
    hashed = security.hash_password("a long password")
    assert hashed.startswith("$argon2id$")
    assert security.verify_password(hashed, "a long password")
    assert not security.verify_password(hashed, "a long passworD")
    assert not security.verify_password("not a hash", "x")


def test_csrf_tokens_are_bound_to_their_session() -> None:
    token = security.csrf_token_for("k" * 40, "session-a")
    assert security.csrf_token_ok("k" * 40, "session-a", token)
    assert not security.csrf_token_ok("k" * 40, "session-b", token)
    assert not security.csrf_token_ok("k" * 40, "session-a", None)
