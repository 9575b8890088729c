"""DomainError: a stable machine code plus a message a person understands."""

from __future__ import annotations

from typing import Any

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
