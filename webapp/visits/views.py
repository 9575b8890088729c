"""The inspector's pages (phone): my visits, register a visit (or a re-check), join another
agency's visit (a joint visit), the visit card with its pass."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from webapp.auth.deps import DB, CsrfProtected, Now, SettingsDep, WebUser
from webapp.checkin import passes
from webapp.enterprises import service as enterprises_service
from webapp.enums import ExtraReason
from webapp.errors import DomainError, FieldError
from webapp.pwa import queue as offline_queue
from webapp.visits import service
from webapp.visits.service import RegistrationInput
from webapp.web import display_zone, render, shown_errors, translate

router = APIRouter(dependencies=[CsrfProtected])

NO_STORE = {"Cache-Control": "no-store"}
REASONS = list(ExtraReason)
REASON_VALUES = frozenset(r.value for r in ExtraReason)
MAX_LISTED = 200  # checkboxes read from one form


# --- reading the registration form ------------------------------------------------------------


@dataclass
class Draft:
    """The registration form as submitted: parsed input plus the raw text to show again."""

    data: RegistrationInput
    basis: str  # "" (none chosen), "extra", or a plan entry id
    extra_reason: str
    extra_reason_text: str
    window_start: str
    window_end: str
    q: str
    idempotency_key: str
    action: str
    recheck_of: str = ""
    enterprise_uscc: str = ""  # typed offline, where the search cannot run


def _int(value: Any) -> int | None:
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() and len(text) < 12 else None


def _ints(values: list[Any]) -> list[int]:
    return [n for n in (_int(v) for v in values) if n is not None]


def _local_datetime(text: str, zone: ZoneInfo) -> datetime | None:
    """An <input type=datetime-local> value, read in the user's display zone (the one the
    form showed its times in), as aware UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def _str(form: FormData, name: str, limit: int = 4000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def draft_from_form(form: FormData, zone: ZoneInfo) -> Draft:
    basis = _str(form, "plan_entry_id", 20).strip()
    is_extra = basis == "extra"
    reason = _str(form, "extra_reason", 40)
    text = _str(form, "extra_reason_text")
    start, end = _str(form, "window_start", 40), _str(form, "window_end", 40)
    recheck_of = _str(form, "recheck_of", 64).strip()
    data = RegistrationInput(
        enterprise_id=_int(_str(form, "enterprise_id", 20)),
        plan_entry_id=None if is_extra else _int(basis),
        extra_reason=ExtraReason(reason) if is_extra and reason in REASON_VALUES else None,
        extra_reason_text=text if is_extra else "",
        co_inspector_ids=_ints(form.getlist("co_inspector_ids")),
        item_ids=_ints(form.getlist("item_ids")),
        window_start=_local_datetime(start, zone),
        window_end=_local_datetime(end, zone),
        recheck_of=recheck_of or None,
    )
    return Draft(
        data=data,
        basis=basis,
        extra_reason=reason,
        extra_reason_text=text,
        window_start=start,
        window_end=end,
        q=_str(form, "q", 100),
        idempotency_key=_str(form, "idempotency_key", 100),
        action=_str(form, "action", 20) or "register",
        recheck_of=recheck_of,
        enterprise_uscc=_str(form, offline_queue.USCC_FIELD, 40),
    )


async def submitted_draft(request: Request) -> Draft:
    return draft_from_form(await request.form(), display_zone(request))


SubmittedDraft = Annotated[Draft, Depends(submitted_draft)]


def _form_page(
    request: Request,
    form: service.RegistrationForm,
    draft: Draft,
    *,
    errors: list[FieldError] | None = None,
    status_code: int = 200,
    offline_entries: list[service.EntryRow] | None = None,
) -> Response:
    errors = errors if errors is not None else (form.check.errors if form.check else [])
    findings = form.check.findings if form.check else []
    notes = form.check.notes if form.check else []
    return render(
        request,
        "visits/new.html",
        {
            "form": form,
            "draft": draft,
            "errors": shown_errors(request, errors),
            "findings": findings,
            "notes": notes,
            "reasons": REASONS,
            "draft_item_ids": [item.id for item in form.check.items]
            if form.check
            else draft.data.item_ids,
            "offline_entries": offline_entries or [],
        },
        status_code=status_code,
    )


# --- my visits --------------------------------------------------------------------------------


@router.get("/visits")
def my_visits(request: Request, db: DB, now: Now, user: WebUser) -> Response:
    home = service.inspector_home(db, actor=user, now=now)
    return render(request, "visits/index.html", {"home": home, "now": now})


# --- registering ------------------------------------------------------------------------------


@router.get("/visits/new")
def new_visit(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    settings: SettingsDep,
    entry: str = "",
    enterprise: str = "",
    recheck_of: str = "",
) -> Response:
    start, end = service.default_window(now)
    data = RegistrationInput(enterprise_id=_int(enterprise), window_start=start, window_end=end)
    form = service.registration_form(
        db,
        actor=user,
        data=data,
        now=now,
        prefill_entry_id=_int(entry) if entry else None,
        prefill_recheck_of=recheck_of[:64] or None,
        settings=settings,
    )
    basis = str(data.plan_entry_id) if data.plan_entry_id else ""
    reason_text = ""
    if form.recheck_of is not None:
        basis = "extra"
        reason_text = translate(
            request.state.lang,
            "Re-check of the rectification ordered at the visit of %(date)s.",
            {"date": _input_value(form.recheck_of.window_start, display_zone(request))[:10]},
        )
    elif not basis and len(form.entries) == 1:
        # One plan entry for the chosen enterprise this month: offer it chosen.
        data.plan_entry_id = form.entries[0].id
        data.item_ids = [item.id for item in form.entries[0].items]
        basis = str(data.plan_entry_id)
    data.extra_reason_text = reason_text
    draft = Draft(
        data=data,
        basis=basis,
        extra_reason=data.extra_reason.value if data.extra_reason else "",
        extra_reason_text=reason_text,
        window_start=_input_value(start, display_zone(request)),
        window_end=_input_value(end, display_zone(request)),
        q="",
        idempotency_key=secrets.token_urlsafe(18),
        action="",
        recheck_of=data.recheck_of or "",
    )
    # The month's plan entries, kept in the page the phone stores: offline, the inspector
    # picks the enterprise from them (the search needs the network).
    month = service.inspector_home(db, actor=user, now=now).entries
    return _form_page(request, form, draft, offline_entries=month)


def _input_value(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


@router.post("/visits/new")
def register_visit(
    request: Request, db: DB, now: Now, settings: SettingsDep, user: WebUser, draft: SubmittedDraft
) -> Response:
    if draft.action != "register":
        # "Search" (or "refresh") without JavaScript: the same form again, with the results.
        form = service.registration_form(
            db, actor=user, data=draft.data, now=now, q=draft.q, settings=settings
        )
        return _form_page(request, form, draft)
    queued = offline_queue.wants_json(request)  # sent by the phone's offline queue
    try:
        if queued and draft.data.enterprise_id is None and draft.enterprise_uscc:
            draft.data.enterprise_id = offline_queue.enterprise_by_uscc(
                db, uscc=draft.enterprise_uscc
            )
        visit = service.register_visit(
            db,
            actor=user,
            data=draft.data,
            now=now,
            settings=settings,
            idempotency_key=draft.idempotency_key or None,
            device_queued_at=offline_queue.claimed_queued_at(request) if queued else None,
        )
    except DomainError as exc:
        if queued:
            return offline_queue.refusal(request, exc)
        if exc.code != "validation_error" or not exc.errors:
            raise
        form = service.registration_form(
            db, actor=user, data=draft.data, now=now, q=draft.q, run_check=True, settings=settings
        )
        return _form_page(request, form, draft, errors=exc.errors, status_code=422)
    if queued:
        return offline_queue.registered(visit)
    return RedirectResponse(f"/visits/{visit.public_id}", status_code=303)


@router.post("/visits/check")
def check_visit(
    request: Request, db: DB, now: Now, settings: SettingsDep, user: WebUser, draft: SubmittedDraft
) -> Response:
    """htmx: the form's errors and warnings at once, before submitting. Changes nothing."""
    check = service.check_registration(db, actor=user, data=draft.data, now=now, settings=settings)
    return render(
        request,
        "visits/_warnings.html",
        {
            "errors": shown_errors(request, check.errors),
            "findings": check.findings,
            "notes": check.notes,
            "draft_item_ids": [item.id for item in check.items],
        },
    )


@router.get("/visits/enterprise-search")
def enterprise_search(request: Request, db: DB, user: WebUser, q: str = "") -> Response:
    """htmx: the enterprises matching what is typed, as choices (radio buttons)."""
    found = enterprises_service.search_enterprises(db, actor=user, q=q[:100])
    return render(request, "visits/_enterprise_choices.html", {"results": found, "q": q[:100]})


@router.get("/visits/plan-options")
def plan_options(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    enterprise_id: str = "",
    window_start: str = "",
) -> Response:
    """htmx: the chosen enterprise's plan entries of the window's month, and 'extra visit'."""
    data = RegistrationInput(
        enterprise_id=_int(enterprise_id),
        window_start=_local_datetime(window_start, display_zone(request)),
    )
    form = service.registration_form(db, actor=user, data=data, now=now)
    if len(form.entries) == 1:
        # The one plan entry is offered chosen, and its items checked (out of band).
        data.plan_entry_id = form.entries[0].id
        data.item_ids = [item.id for item in form.entries[0].items]
    return render(
        request,
        "visits/_entries.html",
        {"form": form, "basis": str(data.plan_entry_id or ""), "items_oob": bool(data.item_ids)},
    )


@router.get("/visits/item-options")
def item_options(
    request: Request, db: DB, now: Now, user: WebUser, plan_entry_id: str = ""
) -> Response:
    """htmx: the item checkboxes, prefilled with the chosen plan entry's items."""
    data = RegistrationInput(enterprise_id=None, plan_entry_id=_int(plan_entry_id))
    form = service.registration_form(db, actor=user, data=data, now=now)
    return render(request, "visits/_items.html", {"form": form})


# --- the card ---------------------------------------------------------------------------------


@router.get("/visits/{public_id}")
def visit_card(
    request: Request, public_id: str, db: DB, now: Now, settings: SettingsDep, user: WebUser
) -> Response:
    page = service.visit_page(db, actor=user, public_id=public_id, now=now, settings=settings)
    return render(request, "visits/card.html", {"page": page, "card": page.card, "errors": []})


# --- joining another agency's visit -----------------------------------------------------------


def _join_page(
    request: Request,
    form: service.JoinForm,
    *,
    inspector_ids: list[int],
    item_ids: list[int],
    idempotency_key: str,
    errors: list[FieldError] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "visits/join.html",
        {
            "form": form,
            "card": form.card,
            "chosen_inspectors": inspector_ids,
            "chosen_items": [i for i in item_ids if i not in form.taken_item_ids],
            "idempotency_key": idempotency_key,
            "errors": shown_errors(request, errors or []),
        },
        status_code=status_code,
    )


@router.get("/visits/{public_id}/join")
def join_page(
    request: Request,
    public_id: str,
    db: DB,
    now: Now,
    user: WebUser,
    item_ids: Annotated[list[str] | None, Query()] = None,
) -> Response:
    """Join another agency's registered visit (offered by the merge warning): choose your
    co-inspectors and the items your agency checks (the registration's items preselected)."""
    form = service.join_form(db, actor=user, public_id=public_id, now=now)
    return _join_page(
        request,
        form,
        inspector_ids=[],
        item_ids=_ints(list(item_ids or [])[:MAX_LISTED]),
        idempotency_key=secrets.token_urlsafe(18),
    )


@dataclass
class JoinDraft:
    inspector_ids: list[int]
    item_ids: list[int]
    idempotency_key: str


async def submitted_join(request: Request) -> JoinDraft:
    form = await request.form()
    return JoinDraft(
        inspector_ids=_ints(form.getlist("inspector_ids")[:MAX_LISTED]),
        item_ids=_ints(form.getlist("item_ids")[:MAX_LISTED]),
        idempotency_key=_str(form, "idempotency_key", 100),
    )


@router.post("/visits/{public_id}/join")
def join_visit(
    request: Request,
    public_id: str,
    db: DB,
    now: Now,
    user: WebUser,
    draft: Annotated[JoinDraft, Depends(submitted_join)],
) -> Response:
    try:
        visit = service.join_visit(
            db,
            actor=user,
            public_id=public_id,
            inspector_ids=draft.inspector_ids,
            item_ids=draft.item_ids,
            now=now,
            idempotency_key=draft.idempotency_key or None,
        )
    except DomainError as exc:
        if exc.code != "validation_error" or not exc.errors:
            raise
        form = service.join_form(db, actor=user, public_id=public_id, now=now)
        return _join_page(
            request,
            form,
            inspector_ids=draft.inspector_ids,
            item_ids=draft.item_ids,
            idempotency_key=draft.idempotency_key,
            errors=exc.errors,
            status_code=422,
        )
    return RedirectResponse(f"/visits/{visit.public_id}", status_code=303)


@router.get("/visits/{public_id}/pass")
def pass_fragment(
    request: Request, public_id: str, db: DB, now: Now, settings: SettingsDep, user: WebUser
) -> Response:
    view = service.visit_pass(db, actor=user, public_id=public_id, now=now, settings=settings)
    return render(request, "visits/_pass.html", {"pass_": view}, headers=NO_STORE)


@router.get("/visits/{public_id}/pass.svg")
def pass_svg(public_id: str, db: DB, now: Now, settings: SettingsDep, user: WebUser) -> Response:
    current = service.live_pass(db, actor=user, public_id=public_id, now=now, settings=settings)
    return Response(passes.qr_svg(current.url), media_type="image/svg+xml", headers=NO_STORE)


@router.get("/visits/{public_id}/pass.png")
def pass_png(public_id: str, db: DB, now: Now, settings: SettingsDep, user: WebUser) -> Response:
    current = service.live_pass(db, actor=user, public_id=public_id, now=now, settings=settings)
    return Response(passes.qr_png(current.url), media_type="image/png", headers=NO_STORE)


@router.post("/visits/{public_id}/cancel")
def cancel_visit(
    request: Request,
    public_id: str,
    db: DB,
    now: Now,
    settings: SettingsDep,
    user: WebUser,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    try:
        service.cancel_visit(db, actor=user, public_id=public_id, reason=reason, now=now)
    except DomainError as exc:
        if exc.code != "validation_error" or not exc.errors:
            raise
        page = service.visit_page(db, actor=user, public_id=public_id, now=now, settings=settings)
        return render(
            request,
            "visits/card.html",
            {
                "page": page,
                "card": page.card,
                "errors": shown_errors(request, exc.errors),
                "reason": reason,
            },
            status_code=422,
        )
    return RedirectResponse(f"/visits/{public_id}", status_code=303)
