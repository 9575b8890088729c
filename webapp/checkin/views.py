"""The safety manager's pages: the scan page (opened by any camera app), the confirmation,
the enterprise's confirmed visits, and the report of a visit that showed no valid pass."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from webapp.auth.deps import (
    DB,
    CsrfProtected,
    Now,
    OptionalWebUser,
    SettingsDep,
    WebUser,
    login_url,
    require,
)
from webapp.checkin import service
from webapp.checkin.passes import SCAN_PATH
from webapp.enums import Role
from webapp.errors import DomainError
from webapp.visits import service as visits_service
from webapp.visits.rows import VisitRow
from webapp.web import ShownError, display_zone, render, shown_errors

router = APIRouter(dependencies=[CsrfProtected])


def _card(visit: VisitRow | None, now: datetime) -> visits_service.VisitCard | None:
    return visits_service.card_of(visit, now=now) if visit is not None else None


def _this_url(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


@router.get("/scan")
def scan_page(
    request: Request,
    db: DB,
    now: Now,
    settings: SettingsDep,
    user: OptionalWebUser,
    p: str = "",
    c: str = "",
) -> Response:
    """What a camera app opens. Reads only: no scan, audit event or flag is written here."""
    if not p and not c:
        return render(request, "checkin/enter.html", {"code": "", "error": ""})
    presented = f"{SCAN_PATH}?{urlencode({'p': p})}" if p else c
    preview = service.preview_scan(db, viewer=user, presented=presented, now=now, settings=settings)
    return render(
        request,
        "checkin/scan.html",
        {
            "preview": preview,
            "card": _card(preview.visit, now),
            "show_enterprise": preview.own,
            "idempotency_key": secrets.token_urlsafe(18),
            "login_href": login_url(_this_url(request)),
        },
    )


@router.get("/scan/enter")
def enter_code(request: Request) -> Response:
    """Type the short code under the QR when no camera works."""
    return render(request, "checkin/enter.html", {"code": "", "error": ""})


@router.get("/scan/camera")
def scan_camera(request: Request, settings: SettingsDep, user: WebUser) -> Response:
    """The in-app scanner: the live camera view decodes the pass and opens the scan page;
    typing the code is offered on the same page for when no camera works."""
    require(user, Role.manager)
    return render(
        request,
        "checkin/camera.html",
        {"scan_path": SCAN_PATH, "base_url": settings.base_url.rstrip("/")},
    )


@router.post("/scan")
def scan_confirm(
    request: Request,
    db: DB,
    now: Now,
    settings: SettingsDep,
    user: WebUser,
    presented: Annotated[str, Form(alias="pass")] = "",
    device_time: Annotated[str, Form()] = "",
    idempotency_key: Annotated[str, Form()] = "",
) -> Response:
    """The one tap: confirm the visit, or record why this pass does not confirm."""
    result = service.scan_pass(
        db,
        actor=user,
        presented=presented,
        device_time=service.parse_device_time(device_time, settings),
        now=now,
        settings=settings,
        idempotency_key=idempotency_key or None,
    )
    return render(
        request,
        "checkin/result.html",
        {
            "result": result,
            # A confirmation brings its card, built before its commit.
            "card": result.card or _card(result.visit, now),
            "show_enterprise": True,  # only ever the manager's own enterprise's visit
        },
        status_code=200 if result.confirmed else result.status_code,
    )


@router.get("/enterprise")
def enterprise_home(request: Request, db: DB, now: Now, user: WebUser) -> Response:
    home = service.manager_home(db, actor=user)
    return render(
        request,
        "checkin/home.html",
        {
            "home": home,
            "cards": [(visit, visits_service.visit_card(visit, now=now)) for visit in home.visits],
            "reported": request.query_params.get("reported") == "1",
        },
    )


@router.get("/enterprise/visits/{public_id}")
def enterprise_visit(request: Request, public_id: str, db: DB, now: Now, user: WebUser) -> Response:
    visit = service.get_confirmed_visit(db, actor=user, public_id=public_id)
    return render(
        request,
        "checkin/visit.html",
        {
            "visit": visit,
            "card": visits_service.visit_card(visit, now=now),
            "show_enterprise": True,
        },
    )


def _report_form(
    request: Request,
    *,
    values: dict[str, str],
    errors: list[ShownError] | None = None,
    status_code: int = 200,
    now: datetime,
) -> Response:
    zone = display_zone(request)
    return render(
        request,
        "checkin/report_form.html",
        {
            "values": values,
            "errors": errors or [],
            "max_when": now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        },
        status_code=status_code,
    )


def _parse_local(text: str, zone: ZoneInfo) -> datetime | None:
    """An <input type=datetime-local> value, read in the user's display zone (the one the form
    showed)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value


@router.get("/reports/new")
def report_new(request: Request, db: DB, now: Now, user: WebUser) -> Response:
    service.check_can_report(actor=user)
    zone = display_zone(request)
    values = {
        "occurred_at": now.astimezone(zone).strftime("%Y-%m-%dT%H:%M"),
        "who": "",
        "what_they_said": "",
    }
    return _report_form(request, values=values, now=now)


@router.post("/reports")
def report_create(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    occurred_at: Annotated[str, Form()] = "",
    who: Annotated[str, Form()] = "",
    what_they_said: Annotated[str, Form()] = "",
) -> Response:
    values = {"occurred_at": occurred_at, "who": who, "what_they_said": what_they_said}
    try:
        service.report_unregistered(
            db,
            actor=user,
            occurred_at=_parse_local(occurred_at, display_zone(request)),
            who=who,
            what_they_said=what_they_said,
            now=now,
        )
    except DomainError as exc:
        if not exc.errors:
            raise
        return _report_form(
            request,
            values=values,
            errors=shown_errors(request, exc.errors),
            status_code=422,
            now=now,
        )
    return RedirectResponse("/enterprise?reported=1", status_code=303)
