"""The offline registration queue, server side: what the phone's queue (static/queue.js) is
answered when it sends a registration it kept while there was no network.

The phone sends the registration form as it was filled, with the idempotency key made when
the form was first shown, to the page endpoint (POST /visits/new) with
`Accept: application/json`; the answer is JSON rather than a page or a redirect, so that the
queue can tell a registration (drop the item), a refusal of the rules (keep it, show the
message) and anything else (keep it, try again later) apart."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.enterprises.models import Enterprise
from webapp.errors import DomainError, FieldError, validation_error
from webapp.visits.models import Visit
from webapp.web import translate

NO_STORE = {"Cache-Control": "no-store"}
USCC_FIELD = "enterprise_uscc"


def wants_json(request: Request) -> bool:
    """The phone's queue asks for JSON; a browser's form submission asks for a page."""
    return "application/json" in request.headers.get("accept", "")


def claimed_queued_at(request: Request) -> datetime | None:
    """When the phone says it queued the registration (`X-Queued-At`, ISO 8601 with a zone);
    a claim of the device, kept in the audit event only. Anything unreadable is ignored."""
    value = request.headers.get("x-queued-at", "").strip()[:40]
    try:
        claimed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return claimed if claimed.tzinfo is not None else None


def registered(visit: Visit) -> JSONResponse:
    """The visit is registered (or was, by an earlier send with the same key)."""
    return JSONResponse(
        {"registered": True, "public_id": visit.public_id, "url": f"/visits/{visit.public_id}"},
        headers=NO_STORE,
    )


def refusal(request: Request, exc: DomainError) -> JSONResponse:
    """A refusal, each message in the user's language. A rule refusal is a 422 with the
    fields; any other refusal keeps its own status (the queue keeps the item either way)."""
    lang = getattr(request.state, "lang", "zh_CN")
    errors = [
        {"field": e.field, "message": translate(lang, e.message, e.params)} for e in exc.errors
    ]
    return JSONResponse(
        {
            "registered": False,
            "code": exc.code,
            "message": translate(lang, exc.message, exc.params),
            "errors": errors,
        },
        status_code=exc.status,
        headers=NO_STORE,
    )


def enterprise_by_uscc(session: Session, *, uscc: str) -> int:
    """The enterprise with this unified social credit code (typed offline, where the search
    cannot run); refused as a field error when there is none."""
    code = uscc.strip().upper()
    found = session.scalar(select(Enterprise.id).where(Enterprise.uscc == code)) if code else None
    if found is None:
        raise validation_error(
            [
                FieldError(
                    "enterprise_id",
                    "No enterprise has the unified social credit code %(code)s.",
                    code=code[:18],
                )
            ]
        )
    return found
