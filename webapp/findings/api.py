"""The findings API: record a visit's findings (idempotent; a new version corrects), read
every version, acknowledge a result notice, list hazards, fetch a finding's photo."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from webapp.auth.deps import DB, ApiUser, Now
from webapp.errors import DomainError, FieldError
from webapp.findings import service
from webapp.findings.schemas import (
    AcknowledgedOut,
    AcknowledgeIn,
    AcknowledgementOut,
    HazardOut,
    HazardPageOut,
    InspectionIn,
    InspectionOut,
    VisitInspectionsOut,
)
from webapp.findings.service import ItemResult, RectificationInput

router = APIRouter(tags=["findings"])


def _lang(request: Request) -> str:
    return str(getattr(request.state, "lang", "en"))


def _photos(body: InspectionIn) -> dict[int, list[bytes]]:
    """The base64 photos per item; a damaged one is refused with its field."""
    photos: dict[int, list[bytes]] = {}
    for index, result in enumerate(body.results):
        for data in result.photos:
            try:
                photos.setdefault(result.item_id, []).append(base64.b64decode(data, validate=True))
            except (binascii.Error, ValueError) as exc:
                error = FieldError(
                    f"photo_{result.item_id}",
                    "A photo is not valid base64: send the file's bytes base64-encoded.",
                )
                raise DomainError(
                    "photo_type",
                    error.message,
                    status=422,
                    field=f"results.{index}.photos",
                    errors=[error],
                ) from exc
    return photos


@router.post("/visits/{public_id}/inspection", response_model=InspectionOut, status_code=201)
def record(
    request: Request,
    public_id: str,
    body: InspectionIn,
    db: DB,
    now: Now,
    user: ApiUser,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Retrying with the same key and body returns the first version again.",
        ),
    ] = None,
) -> InspectionOut:
    """Record the findings of a confirmed visit (team inspectors only). Every item of the
    checklist needs an outcome; hazards need a note and a deadline. Refusals carry the
    first problem's code (`finding_missing`, `deadline_required`, ...) and every problem
    in `errors`."""
    inspection = service.record_inspection(
        db,
        actor=user,
        public_id=public_id,
        results=[
            ItemResult(item_id=r.item_id, outcome=r.outcome, note=r.note, rectify_by=r.rectify_by)
            for r in body.results
        ],
        summary=body.summary,
        case_opened=body.case_opened,
        case_number=body.case_number,
        fine_fen=body.fine_fen,
        correction_reason=body.correction_reason,
        photos=_photos(body),
        drop_photo_ids=set(body.drop_photo_ids),
        rectifications=[
            RectificationInput(finding_id=r.finding_id, outcome=r.outcome, note=r.note)
            for r in body.rectifications
        ],
        base_version=body.base_version,
        now=now,
        idempotency_key=idempotency_key,
    )
    view = service.inspection_views(db, [inspection])[0]
    return InspectionOut.of(view, _lang(request))


@router.get("/visits/{public_id}/inspection", response_model=VisitInspectionsOut)
def read(request: Request, public_id: str, db: DB, user: ApiUser) -> VisitInspectionsOut:
    """The current findings and every earlier version (the enterprise's managers: their
    own confirmed visits only)."""
    record = service.visit_inspections(db, actor=user, public_id=public_id)
    lang = _lang(request)
    versions = [InspectionOut.of(v, lang) for v in record.versions]
    return VisitInspectionsOut(
        visit_public_id=record.visit.public_id,
        current=versions[0] if versions else None,
        versions=versions,
    )


@router.post(
    "/inspections/{inspection_id}/acknowledge",
    response_model=AcknowledgedOut,
    status_code=201,
    responses={200: {"description": "Already acknowledged: the first acknowledgement."}},
)
def acknowledge(
    inspection_id: int,
    db: DB,
    now: Now,
    user: ApiUser,
    response: Response,
    body: AcknowledgeIn | None = None,
) -> AcknowledgedOut:
    """The enterprise's safety manager acknowledges the current result notice. Once per
    version: again answers 200 with the first acknowledgement; a superseded version is
    refused with `notice_superseded`."""
    ack, created = service.acknowledge_notice(
        db, actor=user, inspection_id=inspection_id, now=now, note=body.note if body else ""
    )
    if not created:
        response.status_code = 200
    return AcknowledgedOut(
        inspection_id=inspection_id,
        created=created,
        acknowledgement=AcknowledgementOut(
            id=ack.id,
            acknowledged_at=ack.acknowledged_at,
            acknowledged_by=user.display_name
            if ack.acknowledged_by_id == user.id
            else service.user_name(db, ack.acknowledged_by_id),
            note=ack.note,
        ),
    )


@router.get("/hazards", response_model=HazardPageOut)
def hazards(
    db: DB,
    now: Now,
    user: ApiUser,
    state: service.HazardState = service.HazardState.open,
    level: service.HazardLevel = service.HazardLevel.major,
    agency_id: int | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)] = service.HAZARDS_PAGE_SIZE,
) -> HazardPageOut:
    """Hazards of the current findings in your agencies, the earliest deadline first;
    `level` major (default) or all, `state` open (default), closed or all."""
    page = service.list_hazards(
        db,
        actor=user,
        now=now,
        state=state,
        level=level,
        agency_id=agency_id,
        cursor=cursor,
        limit=limit,
    )
    return HazardPageOut(
        items=[HazardOut.of(row) for row in page.items], next_cursor=page.next_cursor
    )


@router.get(
    "/finding-photos/{photo_id}",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def photo(photo_id: int, db: DB, user: ApiUser) -> Response:
    found = service.finding_photo(db, actor=user, photo_id=photo_id)
    return Response(
        found.content,
        media_type=found.content_type,
        headers={"Cache-Control": "private, max-age=86400"},
    )
