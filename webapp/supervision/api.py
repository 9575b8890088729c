"""Supervision JSON API: flags, their resolutions, decisions on extra visits, visit history."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from webapp.auth.deps import DB, ApiUser, Now
from webapp.enums import Approval, FlagKind
from webapp.labels import label_msgid
from webapp.supervision import service
from webapp.supervision.schemas import (
    AuditEventOut,
    DecidedVisitOut,
    DecisionIn,
    DecisionOut,
    FlagOut,
    FlagPageOut,
    HistoryEventOut,
    ResolutionIn,
    ResolutionOut,
    TeamMemberOut,
    VisitHistoryOut,
)
from webapp.web import translate

router = APIRouter(tags=["supervision"])


def _lang(request: Request) -> str:
    return str(getattr(request.state, "lang", "en"))


def _flag_text(lang: str, row: service.FlagRow) -> str:
    if not row.message:
        return translate(lang, label_msgid("flag_kind", row.flag.kind))
    return translate(lang, row.message, row.params)


def _flag_out(lang: str, row: service.FlagRow) -> FlagOut:
    flag = row.flag
    return FlagOut(
        id=flag.id,
        kind=flag.kind,
        kind_label=translate(lang, label_msgid("flag_kind", flag.kind)),
        severity=flag.severity,
        raised_at=flag.raised_at,
        agency_id=flag.agency_id,
        agency_name=flag.agency.name,
        enterprise_id=flag.enterprise_id,
        enterprise_name=flag.enterprise.name if flag.enterprise else None,
        visit_public_id=flag.visit.public_id if flag.visit else None,
        scan_id=flag.scan_id,
        report_id=flag.report_id,
        message=_flag_text(lang, row),
        params=row.params,
        resolved=row.resolved,
        resolutions=[
            ResolutionOut.model_validate(r, from_attributes=True) for r in row.resolutions
        ],
    )


@router.get("/flags", response_model=FlagPageOut)
def list_flags(
    request: Request,
    db: DB,
    user: ApiUser,
    kind: FlagKind | None = None,
    agency_id: int | None = None,
    state: service.FlagState = service.FlagState.open,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)] = service.PAGE_SIZE,
) -> FlagPageOut:
    """Flags in your agencies, newest first; `state` is open (default), resolved or all."""
    page = service.list_flags(
        db, actor=user, kind=kind, agency_id=agency_id, state=state, cursor=cursor, limit=limit
    )
    lang = _lang(request)
    return FlagPageOut(
        items=[_flag_out(lang, row) for row in page.items], next_cursor=page.next_cursor
    )


@router.get("/flags/{flag_id}", response_model=FlagOut)
def get_flag(request: Request, db: DB, user: ApiUser, flag_id: int) -> FlagOut:
    detail = service.get_flag(db, actor=user, flag_id=flag_id)
    return _flag_out(_lang(request), detail.row)


@router.post("/flags/{flag_id}/resolutions", response_model=ResolutionOut, status_code=201)
def resolve_flag(
    db: DB, now: Now, user: ApiUser, flag_id: int, body: ResolutionIn
) -> ResolutionOut:
    """Append a resolution note; the flag stays, with every note in order."""
    resolution = service.resolve_flag(db, actor=user, flag_id=flag_id, note=body.note, now=now)
    return ResolutionOut(
        id=resolution.id,
        note=resolution.note,
        resolved_at=resolution.resolved_at,
        resolved_by_id=resolution.resolved_by_id,
        resolved_by=user.display_name,
    )


@router.post("/visits/{public_id}/decision", response_model=DecidedVisitOut)
def decide(db: DB, now: Now, user: ApiUser, public_id: str, body: DecisionIn) -> DecidedVisitOut:
    """Approve or reject an extra visit whose approval is pending (a rejection needs a note)."""
    visit = service.decide_extra_visit(
        db,
        actor=user,
        public_id=public_id,
        decision=Approval(body.decision),
        note=body.note,
        now=now,
    )
    return DecidedVisitOut(
        public_id=visit.public_id,
        status=visit.status,
        approval=visit.approval,
        decisions=[DecisionOut.model_validate(d, from_attributes=True) for d in visit.decisions],
    )


def _event_out(lang: str, event: service.HistoryEvent) -> HistoryEventOut:
    kind = event.kind
    data: dict[str, Any]
    if kind == service.EventKind.registered:
        visit = event.obj
        summary = translate(lang, "Visit registered")
        data = {"window_start": visit.window_start, "window_end": visit.window_end}
    elif kind == service.EventKind.decision:
        d = event.obj
        summary = translate(lang, label_msgid("approval", d.decision))
        data = {"decision": d.decision.value, "note": d.note}
    elif kind == service.EventKind.scan:
        s = event.obj
        summary = translate(lang, label_msgid("scan_outcome", s.outcome))
        if s.reason_code:
            summary += ": " + translate(lang, label_msgid("refusal", s.reason_code))
        data = {
            "scan_id": s.id,
            "outcome": s.outcome.value,
            "reason_code": s.reason_code,
            "scanned_at": s.scanned_at,
            "device_time": s.device_time,
            "enterprise_id": s.enterprise_id,
            "presented_as": s.presented_as,
        }
    elif kind == service.EventKind.flag:
        row = event.obj
        summary = _flag_text(lang, row)
        data = {
            "flag_id": row.flag.id,
            "kind": row.flag.kind.value,
            "severity": row.flag.severity.value,
        }
    elif kind == service.EventKind.resolution:
        row, r = event.obj
        summary = translate(lang, "Flag resolved")
        data = {"flag_id": row.flag.id, "note": r.note}
    else:
        summary = translate(lang, "Visit cancelled")
        data = {"reason": event.obj.cancel_reason}
    return HistoryEventOut(
        at=event.at, kind=kind.value, actor=event.actor, summary=summary, data=data
    )


@router.get("/visits/{public_id}/history", response_model=VisitHistoryOut)
def history(request: Request, db: DB, user: ApiUser, public_id: str) -> VisitHistoryOut:
    """Everything that happened to a visit, in time order, and its audit events."""
    h = service.visit_history(db, actor=user, public_id=public_id)
    lang = _lang(request)
    visit = h.visit
    return VisitHistoryOut(
        public_id=visit.public_id,
        agency_id=visit.agency_id,
        agency_name=visit.agency.name,
        enterprise_id=visit.enterprise_id,
        enterprise_name=visit.enterprise.name,
        status=visit.status,
        approval=visit.approval,
        plan_entry_id=visit.plan_entry_id,
        extra_reason=visit.extra_reason.value if visit.extra_reason else None,
        extra_reason_text=visit.extra_reason_text,
        window_start=visit.window_start,
        window_end=visit.window_end,
        registered_at=visit.registered_at,
        registered_by=h.registered_by,
        team=[TeamMemberOut.model_validate(m, from_attributes=True) for m in h.team],
        items=[item.code for item in h.items],
        events=[_event_out(lang, e) for e in h.events],
        audit_events=[
            AuditEventOut(
                id=a.event.id,
                occurred_at=a.event.occurred_at,
                action=a.event.action,
                actor=a.actor,
                object_type=a.event.object_type,
                object_id=a.event.object_id,
                data=json.loads(a.event.data or "{}"),
                hash=a.event.hash,
            )
            for a in h.audit
        ],
    )
