"""Check-in JSON API: a confirming scan, an unregistered-visit report, the enterprise's own
confirmed visits. The same services as the pages."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from webapp.auth.deps import DB, ApiToken, ApiUser, Now, SettingsDep, api_user_for_write
from webapp.checkin import service
from webapp.checkin.models import UnregisteredReport
from webapp.checkin.schemas import (
    CheckinIn,
    CheckinOut,
    InspectorOut,
    ItemOut,
    ReportIn,
    ReportOut,
    VisitOut,
)
from webapp.errors import DomainError
from webapp.visits import service as visits_service
from webapp.web import translate

router = APIRouter(tags=["checkin"])

_REFUSAL_RESPONSES: dict[int | str, dict[str, str]] = {
    400: {"description": "Refused (recorded): `pass_invalid` or `pass_expired`."},
    403: {"description": "Refused (recorded): `wrong_enterprise`; or not a safety manager."},
    409: {
        "description": "Refused (recorded): `already_confirmed`, `outside_window`, "
        "`visit_cancelled`, or `approval_pending` / `approval_rejected` (an extra visit "
        "without a supervisor's approval)."
    },
}


def visit_out(card: visits_service.VisitCard) -> VisitOut:
    """The visit as its enterprise sees it."""
    return VisitOut(
        public_id=card.public_id,
        status=card.status,
        agency_name=card.agency_name,
        enterprise_name=card.enterprise_name,
        window_start=card.window_start,
        window_end=card.window_end,
        is_extra=card.is_extra,
        plan_month=card.plan_month,
        plan_title=card.plan_title,
        extra_reason=card.extra_reason,
        extra_reason_text=card.extra_reason_text,
        approval=card.approval,
        registered_at=card.registered_at,
        confirmed_at=card.confirmed_at,
        inspectors=[
            InspectorOut(
                name=m.name,
                photo_url=m.photo_url,
                credential_number=m.credential_number,
                credential_status=m.credential_status,
                valid_from=m.valid_from,
                valid_until=m.valid_until,
                valid=m.valid,
                agency_name=m.agency_name,
            )
            for m in card.members
        ],
        items=[ItemOut(code=i.code, title=i.title, legal_basis=i.legal_basis) for i in card.items],
    )


def _report_out(report: UnregisteredReport) -> ReportOut:
    return ReportOut(
        id=report.id,
        occurred_at=report.occurred_at,
        who=report.who,
        what_they_said=report.what_they_said,
        created_at=report.created_at,
    )


@router.post(
    "/checkins",
    status_code=201,
    response_model=CheckinOut,
    responses=_REFUSAL_RESPONSES,
    summary="Confirm a visit by its pass (every scan is recorded, refused ones too)",
)
def checkin(
    body: CheckinIn,
    request: Request,
    db: DB,
    now: Now,
    settings: SettingsDep,
    token: ApiToken,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """A safety manager's confirming scan. A refusal answers problem+json with its stable
    `code` after the refused scan has been recorded. A retry with the same `Idempotency-Key`
    gets the first answer again."""
    # Signed in here, not by a dependency: the busiest write saves a thread-pool hop and,
    # on PostgreSQL, a second connection (api_user_for_write).
    user = api_user_for_write(request, db, token=token, now=now, settings=settings)
    try:
        result = service.scan_pass(
            db,
            actor=user,
            presented=body.pass_,
            device_time=service.as_aware(body.device_time, settings),
            now=now,
            settings=settings,
            idempotency_key=idempotency_key,
        )
    except Exception:
        # A refusal before anything is stored (not a manager, a bad key) leaves the sign-in's
        # transaction open on PostgreSQL: ended here, not by the session's close on the
        # event loop. (If the database is gone, the rollback's own error must not hide this.)
        with contextlib.suppress(Exception):
            db.rollback()
        raise
    if result.reason_code is not None:
        raise DomainError(result.reason_code, result.message, **result.params)
    assert result.visit is not None
    assert result.confirmed_at is not None
    card = result.card or visits_service.card_of(result.visit, now=now, settings=settings)
    answer = CheckinOut(
        scan_id=result.scan_id,
        outcome=result.outcome,
        confirmed_at=result.confirmed_at,
        message=translate(request.state.lang, result.message, result.params),
        visit=visit_out(card),
    )
    # Sent as built (it is a CheckinOut already): returned as a model, FastAPI would
    # validate it a second time against the response model, in its thread pool.
    return Response(answer.model_dump_json(), status_code=201, media_type="application/json")


@router.post("/unregistered-reports", status_code=201, response_model=ReportOut)
def create_report(
    body: ReportIn, db: DB, now: Now, settings: SettingsDep, user: ApiUser
) -> ReportOut:
    """Report a visit that showed no valid pass; it becomes a flag for the supervisor."""
    report = service.report_unregistered(
        db,
        actor=user,
        occurred_at=service.as_aware(body.occurred_at, settings),
        who=body.who,
        what_they_said=body.what_they_said,
        now=now,
    )
    return _report_out(report)


@router.get("/enterprise/visits", response_model=list[VisitOut])
def enterprise_visits(db: DB, now: Now, user: ApiUser) -> list[VisitOut]:
    """The safety manager's enterprise's confirmed visits, newest first (a registered visit
    is never shown before its pass is scanned)."""
    return [
        visit_out(visits_service.visit_card(v, now=now))
        for v in service.confirmed_visits(db, actor=user)
    ]


@router.get("/enterprise/reports", response_model=list[ReportOut])
def enterprise_reports(db: DB, user: ApiUser) -> list[ReportOut]:
    """The safety manager's enterprise's unregistered-visit reports, newest first."""
    return [_report_out(r) for r in service.reports_of(db, actor=user)]
