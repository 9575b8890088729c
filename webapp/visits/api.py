"""The visits API: register (idempotent), read, the current pass and its QR image, join
another agency's visit (a joint visit), cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from webapp.auth.deps import DB, ApiUser, Now, SettingsDep
from webapp.checkin import passes
from webapp.config import Settings
from webapp.enums import Role
from webapp.visits import service
from webapp.visits.models import Visit
from webapp.visits.schemas import CancelIn, JoinIn, PassOut, VisitCreate, VisitDetailOut

router = APIRouter(tags=["visits"])

NO_STORE = {"Cache-Control": "no-store"}


def _lang(request: Request) -> str:
    return str(getattr(request.state, "lang", "en"))


def _detail(
    request: Request, db: DB, visit: Visit, *, now: datetime, settings: Settings
) -> VisitDetailOut:
    """The visit with every warning of the rules while it is registered."""
    card = service.visit_card(visit, now=now, settings=settings)
    findings = service.visit_warnings(db, visit=visit, now=now, settings=settings)
    return VisitDetailOut.of(card, _lang(request), findings)


@router.post("/visits", response_model=VisitDetailOut, status_code=201)
def register(
    request: Request,
    body: VisitCreate,
    db: DB,
    now: Now,
    settings: SettingsDep,
    user: ApiUser,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retrying with the same key and body returns the first visit again.",
        ),
    ] = None,
) -> Response:
    result = service.register(
        db,
        actor=user,
        data=body.to_input(),
        now=now,
        settings=settings,
        idempotency_key=idempotency_key,
        answer=lambda visit: _detail(request, db, visit, now=now, settings=settings).model_dump(
            mode="json"
        ),
    )
    # The answer made in the registering transaction; on a retry, the first one as it was.
    assert result.answer is not None
    return JSONResponse(result.answer, status_code=201)


@router.get("/visits/{public_id}", response_model=VisitDetailOut)
def read(
    request: Request, public_id: str, db: DB, now: Now, settings: SettingsDep, user: ApiUser
) -> VisitDetailOut:
    visit = service.get_visit(db, actor=user, public_id=public_id)
    if user.role == Role.manager:
        return VisitDetailOut.of(
            service.visit_card(visit, now=now, settings=settings), _lang(request)
        )
    return _detail(request, db, visit, now=now, settings=settings)


@router.post("/visits/{public_id}/join", response_model=VisitDetailOut)
def join(
    request: Request,
    public_id: str,
    body: JoinIn,
    db: DB,
    now: Now,
    settings: SettingsDep,
    user: ApiUser,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retrying with the same key and body returns the visit again.",
        ),
    ] = None,
) -> VisitDetailOut:
    """Join another agency's registered visit (offered by the `merge.candidate` warning):
    you and your co-inspectors are added to its team and your items to its checklist.
    Refusals: `own_agency_visit`, `visit_cancelled`, `already_confirmed`, `window_over`,
    `already_on_visit`, `credential_not_valid`, `validation_error`."""
    visit = service.join_visit(
        db,
        actor=user,
        public_id=public_id,
        inspector_ids=list(body.inspector_ids),
        item_ids=list(body.item_ids),
        now=now,
        idempotency_key=idempotency_key,
    )
    return _detail(request, db, visit, now=now, settings=settings)


@router.get("/visits/{public_id}/pass", response_model=PassOut)
def current_pass(
    public_id: str, db: DB, now: Now, settings: SettingsDep, user: ApiUser, response: Response
) -> PassOut:
    current = service.live_pass(db, actor=user, public_id=public_id, now=now, settings=settings)
    response.headers.update(NO_STORE)
    return PassOut(url=current.url, code=current.code, expires_at=current.expires_at)


@router.get(
    "/visits/{public_id}/pass.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}},
)
def pass_svg(public_id: str, db: DB, now: Now, settings: SettingsDep, user: ApiUser) -> Response:
    current = service.live_pass(db, actor=user, public_id=public_id, now=now, settings=settings)
    return Response(passes.qr_svg(current.url), media_type="image/svg+xml", headers=NO_STORE)


@router.get(
    "/visits/{public_id}/pass.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def pass_png(public_id: str, db: DB, now: Now, settings: SettingsDep, user: ApiUser) -> Response:
    current = service.live_pass(db, actor=user, public_id=public_id, now=now, settings=settings)
    return Response(passes.qr_png(current.url), media_type="image/png", headers=NO_STORE)


@router.post("/visits/{public_id}/cancel", response_model=VisitDetailOut)
def cancel(
    request: Request, public_id: str, body: CancelIn, db: DB, now: Now, user: ApiUser
) -> VisitDetailOut:
    visit = service.cancel_visit(db, actor=user, public_id=public_id, reason=body.reason, now=now)
    return VisitDetailOut.of(service.visit_card(visit, now=now), _lang(request))
