"""Supervisor pages (desktop first, usable on a phone): flags, approvals, visits against the
plan, and a visit's full history. Thin: parse, call one service function, render."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from webapp.auth.deps import DB, CsrfProtected, Now, WebUser
from webapp.enums import Approval, FlagKind, VisitStatus
from webapp.errors import DomainError, FieldError
from webapp.supervision import service
from webapp.web import is_htmx, render, shown_errors

router = APIRouter(dependencies=[CsrfProtected])

E = TypeVar("E", bound=StrEnum)

STATE_LABELS = {
    service.FlagState.open: "Open (no resolution yet)",
    service.FlagState.resolved: "Resolved",
    service.FlagState.all: "All",
}

VISIT_KIND_LABELS = {
    service.VisitKind.planned: "Planned",
    service.VisitKind.extra: "Extra",
}


def _enum(cls: type[E], value: str, field: str) -> E | None:
    """An optional filter value from a GET form ('' means any)."""
    if not value:
        return None
    try:
        return cls(value)
    except ValueError as exc:
        raise service.invalid(
            FieldError(
                field,
                "Unknown value '%(value)s' for the filter '%(filter)s': choose one from the list.",
                value=value[:40],
                filter=field,
            )
        ) from exc


def _agency(value: str) -> int | None:
    if not value:
        return None
    if not value.isdigit():
        raise service.invalid(FieldError("agency", "Choose an agency from the list."))
    return int(value)


def _refused(db: Session, call: Callable[[], object]) -> list[FieldError] | None:
    """Run a write use case: None when it worked, its field errors when it refused the
    input (the refused transaction is ended, so the page is read afresh)."""
    try:
        call()
    except DomainError as exc:
        if exc.code != "validation_error":
            raise
        db.rollback()
        return exc.errors
    return None


def _partial_wanted(request: Request) -> bool:
    # htmx restoring history wants the whole page, not the fragment.
    return is_htmx(request) and request.headers.get("hx-history-restore-request") != "true"


@router.get("/supervision")
def supervision_home(user: WebUser) -> Response:
    return RedirectResponse("/supervision/flags", status_code=303)


# --- flags -----------------------------------------------------------------------------------


@router.get("/supervision/flags")
def flags_page(
    request: Request,
    db: DB,
    user: WebUser,
    kind: str = "",
    agency: str = "",
    state: str = "open",
    cursor: str = "",
) -> Response:
    chosen_kind = _enum(FlagKind, kind, "kind")
    chosen_state = _enum(service.FlagState, state, "state") or service.FlagState.open
    agency_id = _agency(agency)
    page = service.list_flags(
        db,
        actor=user,
        kind=chosen_kind,
        agency_id=agency_id,
        state=chosen_state,
        cursor=cursor or None,
    )
    context = {
        "page": page,
        "agencies": service.supervised_agencies(db, actor=user),
        "kinds": list(FlagKind),
        "states": STATE_LABELS,
        "f": {
            "kind": chosen_kind.value if chosen_kind else "",
            "agency": str(agency_id or ""),
            "state": chosen_state.value,
        },
        "cursor": cursor,
    }
    if _partial_wanted(request):
        return render(request, "supervision/_flag_results.html", context)
    return render(request, "supervision/flags.html", context)


def _flag_page(
    request: Request,
    db: DB,
    user: WebUser,
    flag_id: int,
    *,
    note: str = "",
    errors: list[FieldError] | None = None,
    status_code: int = 200,
) -> Response:
    detail = service.get_flag(db, actor=user, flag_id=flag_id)
    return render(
        request,
        "supervision/flag.html",
        {
            "detail": detail,
            "row": detail.row,
            "note": note,
            "errors": shown_errors(request, errors or []),
        },
        status_code=status_code,
    )


@router.get("/supervision/flags/{flag_id}")
def flag_page(request: Request, db: DB, user: WebUser, flag_id: int) -> Response:
    return _flag_page(request, db, user, flag_id)


@router.post("/supervision/flags/{flag_id}/resolutions")
def resolve_flag(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    flag_id: int,
    note: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    errors = _refused(
        db, lambda: service.resolve_flag(db, actor=user, flag_id=flag_id, note=note, now=now)
    )
    if errors is not None:
        return _flag_page(request, db, user, flag_id, note=note, errors=errors, status_code=422)
    return RedirectResponse(f"/supervision/flags/{flag_id}#resolutions", status_code=303)


# --- approvals -------------------------------------------------------------------------------


def _approvals_page(
    request: Request,
    db: DB,
    user: WebUser,
    *,
    decided: str = "",
    failed: str = "",
    note: str = "",
    errors: list[FieldError] | None = None,
    status_code: int = 200,
) -> Response:
    pending = service.pending_extra_visits(db, actor=user)
    return render(
        request,
        "supervision/approvals.html",
        {
            "pending": pending,
            "decided": decided,
            "failed": failed,
            "note": note,
            "errors": shown_errors(request, errors or []),
        },
        status_code=status_code,
    )


@router.get("/supervision/approvals")
def approvals_page(request: Request, db: DB, user: WebUser, decided: str = "") -> Response:
    return _approvals_page(request, db, user, decided=decided[:40])


@router.post("/supervision/approvals/{public_id}")
def decide(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    public_id: str,
    decision: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    try:
        chosen: Approval | None = Approval(decision)
    except ValueError:
        chosen = None  # the service says what to choose
    errors = _refused(
        db,
        lambda: service.decide_extra_visit(
            db, actor=user, public_id=public_id, decision=chosen, note=note, now=now
        ),
    )
    if errors is not None:
        return _approvals_page(
            request, db, user, failed=public_id, note=note, errors=errors, status_code=422
        )
    return RedirectResponse(f"/supervision/approvals?decided={public_id}", status_code=303)


# --- visits against the plan -----------------------------------------------------------------


@router.get("/supervision/visits")
def visits_page(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    month: str = "",
    status: str = "",
    kind: str = "",
    agency: str = "",
    cursor: str = "",
) -> Response:
    chosen_status = _enum(VisitStatus, status, "status")
    chosen_kind = _enum(service.VisitKind, kind, "kind")
    agency_id = _agency(agency)
    page = service.list_visits(
        db,
        actor=user,
        month=month or None,
        now=now,
        status=chosen_status,
        kind=chosen_kind,
        agency_id=agency_id,
        cursor=cursor or None,
    )
    return render(
        request,
        "supervision/visits.html",
        {
            "page": page,
            "agencies": service.supervised_agencies(db, actor=user),
            "statuses": list(VisitStatus),
            "visit_kinds": VISIT_KIND_LABELS,
            "f": {
                "month": page.month,
                "status": chosen_status.value if chosen_status else "",
                "kind": chosen_kind.value if chosen_kind else "",
                "agency": str(agency_id or ""),
            },
            "cursor": cursor,
        },
    )


# Plan coverage (/supervision/plan) and the monthly report: webapp/supervision/report_views.py


@router.get("/supervision/visits/{public_id}")
def history_page(request: Request, db: DB, user: WebUser, public_id: str) -> Response:
    history = service.visit_history(db, actor=user, public_id=public_id)
    return render(request, "supervision/history.html", {"h": history})
