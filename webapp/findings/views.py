"""Findings pages: the inspector's recording form (phone, one hand), a visit's inspection
record with its versions, the enterprise's result notice and its acknowledgement, and the
supervisor's list of hazards tracked to closure. Thin: parse, call one service function,
render."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from webapp.auth.deps import DB, CsrfProtected, Now, WebUser
from webapp.enums import FindingOutcome, RectificationOutcome
from webapp.errors import DomainError, FieldError
from webapp.findings import service
from webapp.findings.service import ItemResult, RectificationInput
from webapp.supervision import service as supervision_service
from webapp.web import is_htmx, render, shown_errors

router = APIRouter(dependencies=[CsrfProtected])

E = TypeVar("E", bound=StrEnum)

OUTCOMES = list(FindingOutcome)
RECTIFICATION_OUTCOMES = list(RectificationOutcome)
STATE_LABELS = {
    service.HazardState.open: "Open (not rectified yet)",
    service.HazardState.closed: "Closed (found rectified)",
    service.HazardState.all: "All",
}
LEVEL_LABELS = {
    service.HazardLevel.major: "Major hazards",
    service.HazardLevel.all: "All hazards",
}
_FIELD = re.compile(r"^(outcome|note|rectify_by|photo|rect|rect_note)_(\d{1,12})$")


# --- reading the recording form --------------------------------------------------------------


@dataclass
class FindingsDraft:
    """The recording form as submitted (or prefilled): the raw texts to show again, and
    the uploads (which a refused form cannot keep: the browser must send them again)."""

    outcomes: dict[int, str] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)
    deadlines: dict[int, str] = field(default_factory=dict)
    photos: dict[int, list[bytes]] = field(default_factory=dict)
    drop_photo_ids: set[int] = field(default_factory=set)
    rect_outcomes: dict[int, str] = field(default_factory=dict)
    rect_notes: dict[int, str] = field(default_factory=dict)
    summary: str = ""
    case_opened: bool = False
    case_number: str = ""
    fine: str = ""
    correction_reason: str = ""
    base_version: int | None = None
    idempotency_key: str = ""

    @property
    def results(self) -> list[ItemResult]:
        ids = sorted(set(self.outcomes) | set(self.notes) | set(self.deadlines))
        return [
            ItemResult(
                item_id=i,
                outcome=self.outcomes.get(i) or None,
                note=self.notes.get(i, ""),
                rectify_by=self.deadlines.get(i) or None,
            )
            for i in ids
        ]

    @property
    def rectifications(self) -> list[RectificationInput]:
        return [
            RectificationInput(
                finding_id=i,
                outcome=self.rect_outcomes.get(i) or None,
                note=self.rect_notes.get(i, ""),
            )
            for i in sorted(set(self.rect_outcomes) | set(self.rect_notes))
        ]

    @property
    def photo_count(self) -> int:
        return sum(len(v) for v in self.photos.values())


def _text(form: FormData, name: str, limit: int = 10_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and len(text) < 12 else None


async def _upload(value: UploadFile) -> bytes | None:
    """The uploaded bytes, read up to just past the limit (an oversized file is told apart
    without reading all of it); None when no file was chosen."""
    if not value.filename:
        return None
    data = await value.read(service.MAX_PHOTO_BYTES + 1)
    return data or None


async def submitted_findings(request: Request) -> FindingsDraft:
    form = await request.form()
    draft = FindingsDraft(
        summary=_text(form, "summary"),
        case_opened=_text(form, "case_opened", 10) in ("1", "on", "true"),
        case_number=_text(form, "case_number", 200),
        fine=_text(form, "fine", 40),
        correction_reason=_text(form, "correction_reason"),
        base_version=_int(_text(form, "base_version", 12)),
        idempotency_key=_text(form, "idempotency_key", 100),
        drop_photo_ids={
            n for n in (_int(v) for v in form.getlist("drop_photo") if isinstance(v, str)) if n
        },
    )
    for key in set(form.keys()):
        match = _FIELD.match(key)
        if not match:
            continue
        kind, ident = match.group(1), int(match.group(2))
        if kind == "photo":
            for value in form.getlist(key):
                if isinstance(value, UploadFile):
                    data = await _upload(value)
                    if data is not None:
                        draft.photos.setdefault(ident, []).append(data)
            continue
        text = _text(form, key)
        if kind == "outcome":
            draft.outcomes[ident] = text
        elif kind == "note":
            draft.notes[ident] = text
        elif kind == "rectify_by":
            draft.deadlines[ident] = text
        elif kind == "rect":
            draft.rect_outcomes[ident] = text
        else:
            draft.rect_notes[ident] = text
    return draft


SubmittedFindings = Annotated[FindingsDraft, Depends(submitted_findings)]


def _prefilled(form: service.FindingsForm) -> FindingsDraft:
    """The form opened on the current version (a correction starts from what is recorded)."""
    draft = FindingsDraft(idempotency_key=secrets.token_urlsafe(18))
    current = form.current
    if current is not None:
        draft.base_version = current.version
        draft.summary = current.summary
        draft.case_opened = current.case_opened
        draft.case_number = current.case_number
        draft.fine = current.fine_yuan if current.fine_fen else ""
        for f in current.findings:
            draft.outcomes[f.item_id] = f.outcome.value
            draft.notes[f.item_id] = f.note
            draft.deadlines[f.item_id] = f.rectify_by.isoformat() if f.rectify_by else ""
    else:
        draft.base_version = 0
    for finding_id, rect in form.verdicts.items():
        draft.rect_outcomes[finding_id] = rect.outcome.value
        draft.rect_notes[finding_id] = rect.note
    return draft


def _form_page(
    request: Request,
    form: service.FindingsForm,
    draft: FindingsDraft,
    *,
    errors: list[FieldError] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "findings/form.html",
        {
            "form": form,
            "draft": draft,
            "errors": shown_errors(request, errors or []),
            "outcomes": OUTCOMES,
            "rectification_outcomes": RECTIFICATION_OUTCOMES,
            "max_photos": service.MAX_PHOTOS_PER_ITEM,
            "max_photo_mb": service.MAX_PHOTO_BYTES // (1024 * 1024),
        },
        status_code=status_code,
    )


# --- the inspector's pages -------------------------------------------------------------------


@router.get("/visits/{public_id}/findings")
def findings_page(
    request: Request, public_id: str, db: DB, user: WebUser, saved: str = ""
) -> Response:
    """A visit's inspection record: the current version, then every earlier one."""
    record = service.visit_inspections(db, actor=user, public_id=public_id)
    if record.current is None and record.can_record:
        return RedirectResponse(f"/visits/{public_id}/findings/new", status_code=303)
    return render(request, "findings/record.html", {"record": record, "saved": saved == "1"})


@router.get("/visits/{public_id}/findings/new")
def findings_form(request: Request, public_id: str, db: DB, now: Now, user: WebUser) -> Response:
    form = service.findings_form(db, actor=user, public_id=public_id, now=now)
    return _form_page(request, form, _prefilled(form))


@router.post("/visits/{public_id}/findings")
def record_findings(
    request: Request, public_id: str, db: DB, now: Now, user: WebUser, draft: SubmittedFindings
) -> Response:
    try:
        service.record_inspection(
            db,
            actor=user,
            public_id=public_id,
            results=draft.results,
            summary=draft.summary,
            case_opened=draft.case_opened,
            case_number=draft.case_number,
            fine_yuan=draft.fine,
            correction_reason=draft.correction_reason,
            photos=draft.photos,
            drop_photo_ids=draft.drop_photo_ids,
            rectifications=draft.rectifications,
            base_version=draft.base_version,
            now=now,
            idempotency_key=draft.idempotency_key or None,
        )
    except DomainError as exc:
        if not exc.errors:
            raise
        db.rollback()
        form = service.findings_form(db, actor=user, public_id=public_id, now=now)
        return _form_page(request, form, draft, errors=exc.errors, status_code=422)
    return RedirectResponse(f"/visits/{public_id}/findings?saved=1", status_code=303)


@router.get("/findings/photos/{photo_id}")
def finding_photo(photo_id: int, db: DB, user: WebUser) -> Response:
    photo = service.finding_photo(db, actor=user, photo_id=photo_id)
    # Evidence never changes: a phone may keep it, a shared cache may not.
    return Response(
        photo.content,
        media_type=photo.content_type,
        headers={"Cache-Control": "private, max-age=86400"},
    )


# --- supervision -----------------------------------------------------------------------------


def _enum(cls: type[E], value: str, name: str, default: E) -> E:
    if not value:
        return default
    try:
        return cls(value)
    except ValueError as exc:
        raise supervision_service.invalid(
            FieldError(
                name,
                "Unknown value '%(value)s' for the filter '%(filter)s': choose one from the list.",
                value=value[:40],
                filter=name,
            )
        ) from exc


@router.get("/supervision/hazards")
def hazards_page(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    state: str = "open",
    level: str = "major",
    agency: str = "",
    cursor: str = "",
) -> Response:
    chosen_state = _enum(service.HazardState, state, "state", service.HazardState.open)
    chosen_level = _enum(service.HazardLevel, level, "level", service.HazardLevel.major)
    if agency and not agency.isdigit():
        raise supervision_service.invalid(FieldError("agency", "Choose an agency from the list."))
    agency_id = int(agency) if agency else None
    page = service.list_hazards(
        db,
        actor=user,
        now=now,
        state=chosen_state,
        level=chosen_level,
        agency_id=agency_id,
        cursor=cursor or None,
    )
    context = {
        "page": page,
        "agencies": supervision_service.supervised_agencies(db, actor=user),
        "states": STATE_LABELS,
        "levels": LEVEL_LABELS,
        "f": {
            "state": chosen_state.value,
            "level": chosen_level.value,
            "agency": str(agency_id or ""),
        },
        "cursor": cursor,
    }
    if is_htmx(request) and request.headers.get("hx-history-restore-request") != "true":
        return render(request, "findings/_hazard_results.html", context)
    return render(request, "findings/hazards.html", context)


@router.get("/supervision/visits/{public_id}/inspections")
def history_block(request: Request, public_id: str, db: DB, user: WebUser) -> Response:
    """The inspection versions of a visit, for its history page (loaded by htmx)."""
    record = service.visit_inspections(db, actor=user, public_id=public_id)
    return render(request, "findings/_versions.html", {"record": record})


# --- the enterprise: result notices ----------------------------------------------------------


@router.get("/enterprise/notices")
def notices_page(request: Request, db: DB, user: WebUser) -> Response:
    rows = service.notices(db, actor=user)
    return render(request, "findings/notices.html", {"rows": rows})


@router.get("/enterprise/notices/pending")
def pending_notices(request: Request, db: DB, user: WebUser) -> Response:
    """The notices waiting for acknowledgement (a block of the manager's start page)."""
    rows = service.notices(db, actor=user, pending_only=True)
    return render(request, "findings/_pending_notices.html", {"rows": rows})


@router.get("/enterprise/visits/{public_id}/notice")
def notice_page(
    request: Request,
    public_id: str,
    db: DB,
    now: Now,
    user: WebUser,
    acknowledged: str = "",
    superseded: str = "",
) -> Response:
    found = service.notice(db, actor=user, public_id=public_id, now=now)
    return render(
        request,
        "findings/notice.html",
        {
            "n": found,
            "just_acknowledged": acknowledged == "1",
            "superseded": superseded == "1",
        },
    )


@router.post("/enterprise/notices/{inspection_id}/acknowledge")
def acknowledge(
    inspection_id: int,
    db: DB,
    now: Now,
    user: WebUser,
    note: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    try:
        ack, _created = service.acknowledge_notice(
            db, actor=user, inspection_id=inspection_id, now=now, note=note
        )
    except DomainError as exc:
        if exc.code != "notice_superseded":
            raise
        db.rollback()
        # The service names the visit (never the form): the redirect stays on our pages.
        return RedirectResponse(
            f"/enterprise/visits/{exc.params['visit']}/notice?superseded=1", status_code=303
        )
    return RedirectResponse(
        f"/enterprise/visits/{ack.inspection.visit.public_id}/notice?acknowledged=1",
        status_code=303,
    )
