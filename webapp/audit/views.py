"""The audit chain's state for supervisors: does it verify, and its head to keep elsewhere."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from webapp.audit import service
from webapp.auth.deps import DB, Now, WebUser
from webapp.enums import Role
from webapp.errors import forbidden
from webapp.web import render

router = APIRouter()


def _require_supervision(user: WebUser) -> None:
    if user.role not in (Role.supervisor, Role.admin):
        raise forbidden()


@router.get("/supervision/audit")
def chain_page(request: Request, db: DB, now: Now, user: WebUser) -> Response:
    _require_supervision(user)
    report = service.verify_chain(db)
    return render(
        request, "audit/chain.html", {"report": report, "checked_at": now, "active": "audit"}
    )


@router.get("/supervision/audit/head.json")
def head_download(db: DB, now: Now, user: WebUser) -> Response:
    """The dated head, to file outside this server; refused while the chain is broken."""
    _require_supervision(user)
    report = service.verify_chain(db)
    if not report.ok:
        return Response(
            json.dumps({"ok": False, "first_bad_id": report.first_bad_id}),
            status_code=409,
            media_type="application/json",
        )
    body = json.dumps(service.head_record(report, now=now), indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="audit-head-{now:%Y%m%dT%H%M%SZ}.json"'
        },
    )
