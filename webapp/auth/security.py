"""Secrets, hashes and signed tokens. The only module that imports python-jose.

python-jose needs care (see STACK.md): the algorithm is pinned as a one-element list, every
claim we rely on is required, `typ` is checked by hand, time claims are checked against our
own clock, and every exception it can raise (JWTError, but also TypeError, JWKError, ...)
becomes one refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from jose import jwt

_hasher = PasswordHasher()  # argon2id with argon2-cffi's OWASP-grade defaults

PASS_ALGORITHM = "HS256"
PASS_TYP = "pass+jwt"
PASS_ISSUER = "inspection-registry"
PASS_AUDIENCE = "checkin"
MAX_PASS_TOKEN_LENGTH = 1024
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: typed by hand
CODE_PREFIX_LENGTH = 5
CODE_DIGITS = 6


# --- passwords ---------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A hash to verify against when the account does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    verify_password(_DUMMY_HASH, password)


# --- sessions and CSRF ---------------------------------------------------------------------


def new_session_secret() -> tuple[str, str]:
    """A fresh secret for a cookie or bearer token, and the id we store (its SHA-256)."""
    token = secrets.token_urlsafe(32)
    return token, session_id_of(token)


def session_id_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(secret_key: str, session_id: str) -> str:
    """A CSRF token bound to one session: useless with any other session cookie."""
    mac = hmac.new(secret_key.encode(), b"csrf:" + session_id.encode(), hashlib.sha256)
    return mac.hexdigest()


def csrf_token_ok(secret_key: str, session_id: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(csrf_token_for(secret_key, session_id), presented)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- the pass ------------------------------------------------------------------------------


def new_pass_secret() -> bytes:
    return secrets.token_bytes(32)


def new_code_prefix() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_PREFIX_LENGTH))


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


def step_of(at: datetime, step_seconds: int) -> int:
    return int(at.timestamp()) // step_seconds


class PassRefused(Exception):
    """Why a presented pass does not confirm; `code` is the stable refusal code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class PassClaims:
    visit_public_id: str
    enterprise_id: int
    step: int


def issue_pass_token(
    secret: bytes,
    *,
    visit_public_id: str,
    enterprise_id: int,
    step: int,
    step_seconds: int,
    accepted_steps: int,
) -> str:
    if len(secret) < 32:
        raise ValueError("pass secret too short")
    claims = {
        "iss": PASS_ISSUER,
        "aud": PASS_AUDIENCE,
        "sub": visit_public_id,
        "ent": enterprise_id,
        "stp": step,
        "iat": step * step_seconds,
        "exp": (step + accepted_steps) * step_seconds,
    }
    token: str = jwt.encode(claims, secret, algorithm=PASS_ALGORITHM, headers={"typ": PASS_TYP})
    return token


def peek_pass_visit(token: str) -> str | None:
    """The visit a token claims to be for, unverified, to find the key to verify it with.
    Never raises; None for anything that is not a plausible pass."""
    if not token or len(token) > MAX_PASS_TOKEN_LENGTH or token.count(".") != 2:
        return None
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != PASS_ALGORITHM or header.get("typ") != PASS_TYP:
            return None
        sub = jwt.get_unverified_claims(token).get("sub")
    except Exception:  # every parse failure is the same refusal
        return None
    return sub if isinstance(sub, str) and 0 < len(sub) <= 64 else None


def verify_pass_token(
    token: str, secret: bytes, *, now: datetime, step_seconds: int, accepted_steps: int
) -> PassClaims:
    """Verify a pass token against its visit's secret; raise PassRefused on any failure.

    Accepted: the current step, the `accepted_steps - 1` before it, and one step ahead
    (a phone clock running slightly fast).
    """
    if peek_pass_visit(token) is None or len(secret) < 32:
        raise PassRefused("pass_invalid")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[PASS_ALGORITHM],
            audience=PASS_AUDIENCE,
            issuer=PASS_ISSUER,
            options={
                # Time is checked below against the injectable clock, not jose's. Note that
                # jose's require_exp / require_iat switch verify_exp / verify_iat back on, so
                # those two claims are required by hand below instead.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require_aud": True,
                "require_iss": True,
                "require_sub": True,
            },
        )
    except Exception as exc:  # JWTError, JWKError, TypeError, ...: all one refusal
        raise PassRefused("pass_invalid") from exc
    sub, ent, stp = claims.get("sub"), claims.get("ent"), claims.get("stp")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not (
        isinstance(sub, str)
        and type(ent) is int
        and type(stp) is int
        and type(exp) is int
        and type(iat) is int
        and iat == stp * step_seconds
        and exp == (stp + accepted_steps) * step_seconds
    ):
        raise PassRefused("pass_invalid")
    current = step_of(now, step_seconds)
    if stp > current + 1:
        raise PassRefused("pass_invalid")  # from the future: not something we issued
    if stp <= current - accepted_steps:
        raise PassRefused("pass_expired")
    return PassClaims(visit_public_id=sub, enterprise_id=ent, step=stp)


def code_digits(secret: bytes, step: int) -> str:
    """HOTP (RFC 4226) over the time step: the number part of the short typed-in code."""
    mac = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def short_code(prefix: str, secret: bytes, step: int) -> str:
    digits = code_digits(secret, step)
    return f"{prefix}-{digits[:3]}-{digits[3:]}"


def normalize_code(text: str) -> str | None:
    """`k7q2m 481 903` -> `K7Q2M481903`; None if it cannot be a short code."""
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    if len(cleaned) != CODE_PREFIX_LENGTH + CODE_DIGITS:
        return None
    prefix, digits = cleaned[:CODE_PREFIX_LENGTH], cleaned[CODE_PREFIX_LENGTH:]
    if any(c not in CODE_ALPHABET for c in prefix) or not digits.isdigit():
        return None
    return cleaned


def verify_code_digits(
    secret: bytes, digits: str, *, now: datetime, step_seconds: int, accepted_steps: int
) -> int:
    """The step whose code these digits are; PassRefused if none accepted now."""
    current = step_of(now, step_seconds)
    for step in range(current + 1, current - accepted_steps, -1):
        if hmac.compare_digest(code_digits(secret, step), digits):
            return step
    # Check a few older steps only to tell "expired" from "wrong".
    for step in range(current - accepted_steps, current - accepted_steps - 20, -1):
        if hmac.compare_digest(code_digits(secret, step), digits):
            raise PassRefused("pass_expired")
    raise PassRefused("pass_invalid")
