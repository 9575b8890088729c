"""Sign-in page (separate from every scan page), sign-out, language, home by role."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from webapp.auth import security
from webapp.auth import service as auth_service
from webapp.auth.deps import (
    DB,
    PRE_SESSION_COOKIE,
    CsrfProtected,
    Now,
    OptionalWebUser,
    SettingsDep,
    WebUser,
    session_cookie_name,
)
from webapp.config import Settings
from webapp.enums import Role
from webapp.errors import DomainError
from webapp.web import LANG_COOKIE, LANGUAGES, TZ_COOKIE, render, translate, valid_zone

router = APIRouter(dependencies=[CsrfProtected])

HOME_BY_ROLE = {
    Role.inspector: "/visits",
    Role.manager: "/enterprise",
    Role.supervisor: "/supervision/flags",
    Role.admin: "/admin",
}


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: never `//evil`, `/\\evil` or a full URL."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(c in target for c in "\r\n\\"):
        return default
    return target


def _set_pre_session(response: Response, pre: str, settings: Settings) -> None:
    """The pre-session cookie that binds a signed-out form's CSRF token (sign-in, preferences)."""
    response.set_cookie(
        PRE_SESSION_COOKIE,
        pre,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        max_age=3600,
    )


def _login_page(
    request: Request,
    settings: Settings,
    *,
    next_url: str,
    error: str = "",
    username: str = "",
    status_code: int = 200,
) -> Response:
    pre = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "auth/login.html",
        {
            "next": next_url,
            "error": error,
            "username": username,
            "csrf_token": security.csrf_token_for(settings.secret_key, "pre:" + pre),
        },
        status_code=status_code,
    )
    _set_pre_session(response, pre, settings)
    return response


@router.get("/login")
def login_form(
    request: Request, settings: SettingsDep, user: OptionalWebUser, next: str = "/"
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next, HOME_BY_ROLE[user.role]), status_code=303)
    return _login_page(request, settings, next_url=safe_next(next))


@router.post("/login")
def login(
    request: Request,
    db: DB,
    now: Now,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        user = auth_service.authenticate(
            db,
            username=username,
            password=password,
            address=request.client.host if request.client else "",
            kind="web",
            now=now,
            settings=settings,
        )
    except DomainError as exc:
        message = translate(request.state.lang, exc.message, exc.params)
        return _login_page(
            request,
            settings,
            next_url=safe_next(next),
            error=message,
            username=username,
            status_code=exc.status,
        )
    token, _ = auth_service.start_session(db, user=user, kind="web", now=now, settings=settings)
    target = safe_next(next, HOME_BY_ROLE[user.role])
    if target == "/":
        target = HOME_BY_ROLE[user.role]
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        session_cookie_name(settings),
        token,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
        max_age=settings.session_absolute_hours * 3600,
    )
    response.delete_cookie(PRE_SESSION_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, db: DB, now: Now, settings: SettingsDep, user: WebUser) -> Response:
    auth_service.end_session(db, session_id=request.state.session_id, actor_id=user.id, now=now)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        session_cookie_name(settings), path="/", secure=settings.cookie_secure, httponly=True
    )
    # Tell the browser to drop whatever it cached for this user (shared phones).
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@router.post("/lang")
def set_language(
    request: Request,
    settings: SettingsDep,
    lang: Annotated[str, Form()] = "",
    tz: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """The language (header buttons, preferences page) and the display time zone
    (preferences page), each kept a year in its cookie; an unknown value changes nothing."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=settings.cookie_secure
        )
    if valid_zone(tz):
        response.set_cookie(
            TZ_COOKIE, tz, max_age=365 * 86400, samesite="lax", secure=settings.cookie_secure
        )
    return response


@router.get("/preferences")
def preferences(
    request: Request, settings: SettingsDep, now: Now, user: OptionalWebUser, saved: int = 0
) -> Response:
    """Language and time zone, for anyone (a safety manager may not be signed in)."""
    context: dict[str, object] = {"now": now, "saved": bool(saved)}
    pre = None
    if user is None:
        # Before sign-in the form's token is bound to the pre-session cookie (as on /login).
        pre = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(24)
        context["csrf_token"] = security.csrf_token_for(settings.secret_key, "pre:" + pre)
    response = render(request, "auth/preferences.html", context)
    if pre is not None:
        _set_pre_session(response, pre, settings)
    return response


@router.get("/")
def home(user: OptionalWebUser) -> Response:
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME_BY_ROLE[user.role], status_code=303)
