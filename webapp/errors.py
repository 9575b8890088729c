"""DomainError: a stable machine code plus a message a person understands."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

# HTTP status per stable code; anything else is 400.
STATUS_BY_CODE: dict[str, int] = {
    "not_found": 404,
    "forbidden": 403,
    "not_authenticated": 401,
    "validation_error": 422,
    "csrf_failed": 403,
    "idempotency_key_reused": 422,
    "already_confirmed": 409,
    "pass_invalid": 400,
    "pass_expired": 400,
    "wrong_enterprise": 403,
    "outside_window": 409,
    "visit_cancelled": 409,
    "approval_pending": 409,  # an extra visit's pass before its approval
    "approval_rejected": 409,
    "not_pending": 409,
    "already_decided": 409,
    "db_unavailable": 503,
}


class DomainError(Exception):
    """Raised by services. `message` is an English msgid with %(name)s placeholders;
    the edge translates it into the user's language (see webapp.web.translate)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        status: int | None = None,
        errors: list[FieldError] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(f"{code}: {message % params if params else message}")
        self.code = code
        self.message = message
        self.params = params
        self.field = field
        self.status = status or STATUS_BY_CODE.get(code, 400)
        self.errors = errors or []


class FieldError:
    """One bad input: which field, what is wrong (an English msgid), its parameters."""

    def __init__(self, field: str, message: str, **params: Any) -> None:
        self.field = field
        self.message = message
        self.params = params

    def __repr__(self) -> str:
        return f"FieldError({self.field!r}, {self.message!r})"


def validation_error(errors: list[FieldError]) -> DomainError:
    return DomainError(
        "validation_error",
        "Some fields need correcting: %(fields)s.",
        errors=errors,
        fields=", ".join(e.field for e in errors),
    )


def not_found(what: str = "object") -> DomainError:
    # Someone else's object answers exactly like a missing one.
    return DomainError("not_found", "Not found, or not yours to see.", what=what)


def forbidden() -> DomainError:
    return DomainError("forbidden", "Your role does not allow this.")


def clock_text(at: datetime, *, now: datetime, zone: ZoneInfo) -> str:
    """A time as a person reads it in `zone`: `10:02` today, `2026-11-15 10:02` another day."""
    local = at.astimezone(zone)
    if local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


class LocalTime(str):
    """A time in a message made on the server ("Already confirmed at %(time)s"). As a
    string it reads in the zone it was made in (the office's: what logs and stored replies
    keep); it also carries the instant, so that the answer to a request shows it in the
    reader's display zone instead (`in_zone`, applied by webapp.web.translate and `_()`)."""

    at: datetime
    now: datetime

    def __new__(cls, at: datetime, *, now: datetime, zone: ZoneInfo) -> LocalTime:
        made = super().__new__(cls, clock_text(at, now=now, zone=zone))
        made.at = at
        made.now = now
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        # Copied or pickled: the plain text (what it reads as where no reader's zone is known).
        return (str, (str(self),))

    def in_zone(self, zone: ZoneInfo) -> str:
        return clock_text(self.at, now=self.now, zone=zone)


def in_zone(params: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """A message's parameters with every LocalTime shown in `zone`."""
    if not any(isinstance(v, LocalTime) for v in params.values()):
        return params
    return {k: v.in_zone(zone) if isinstance(v, LocalTime) else v for k, v in params.items()}
