"""Request dependencies: the database session, now, the signed-in user, CSRF protection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from webapp.auth import security
from webapp.auth import service as auth_service
from webapp.auth.models import User
from webapp.config import Settings
from webapp.enums import Role
from webapp.errors import DomainError, forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def session_cookie_name(settings: Settings) -> str:
    # __Host- binds the cookie to this origin, but browsers accept it only when Secure.
    return "__Host-session" if settings.cookie_secure else "session"


async def get_db(request: Request) -> AsyncIterator[Session]:
    """One session per request; a state-changing request takes SQLite's write lock at
    BEGIN (see webapp.db.WRITE) on every transaction it opens.

    Async on purpose: the session is then closed on the event loop, not in the thread pool.
    A request that still holds the write turn (a read after its commit) must give it back
    without waiting for a free worker thread — under a burst every thread may be waiting
    for that very turn (measured: 50 clients confirming at once ran into 10 s timeouts)."""
    state = request.app.state
    bind = state.write_engine if request.method not in SAFE_METHODS else state.engine
    session = state.sessionmaker(bind=bind)
    try:
        yield session
    finally:
        session.close()


def get_now(request: Request) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


async def _now(request: Request) -> datetime:
    # Async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request
    # for nothing that blocks (under a burst, a wait for a free thread).
    return get_now(request)


DB = Annotated[Session, Depends(get_db)]
Now = Annotated[datetime, Depends(_now)]


async def app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests and servers may each have their own).
    Async for the same reason as `_now`."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(app_settings)]


class LoginRequired(Exception):
    """A page needs a signed-in user: the app answers with a redirect to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="")


@dataclass(frozen=True)
class Viewer:
    """What pages show of the signed-in user: a plain copy, so an error page rendered
    after a rollback (which expires every ORM object) never touches the database."""

    id: int
    username: str
    display_name: str
    role: Role
    agency_id: int | None
    enterprise_id: int | None

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(
            user.id, user.username, user.display_name, user.role, user.agency_id, user.enterprise_id
        )


def optional_web_user(request: Request, db: DB, now: Now, settings: SettingsDep) -> User | None:
    token = request.cookies.get(session_cookie_name(settings), "")
    found = auth_service.resolve_session(db, token=token, kind="web", now=now, settings=settings)
    if found is None:
        return None
    request.state.user = Viewer.of(found.user)
    request.state.session_id = found.session_id
    request.state.csrf_token = security.csrf_token_for(settings.secret_key, found.session_id)
    return found.user


def web_user(request: Request, user: Annotated[User | None, Depends(optional_web_user)]) -> User:
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/")
    return user


def _not_authenticated() -> DomainError:
    return DomainError(
        "not_authenticated",
        "Sign in first: send 'Authorization: Bearer <token>' from POST /api/v1/auth/token.",
    )


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def api_user(request: Request, db: DB, now: Now, settings: SettingsDep) -> User:
    token = _bearer(request)
    found = None
    if token:
        found = auth_service.resolve_session(
            db,
            token=token,
            kind="api",
            now=now,
            settings=settings,
            touch_with_next_write=request.method not in SAFE_METHODS,
        )
    if found is None:
        raise _not_authenticated()
    request.state.user = Viewer.of(found.user)
    return found.user


async def api_token(request: Request) -> str:
    """The bearer secret of an API request, checked for presence only (absent: 401 before
    anything else); `api_user_for_write` resolves it. Async: no thread-pool hop."""
    token = _bearer(request)
    if not token:
        raise _not_authenticated()
    return token


def api_user_for_write(
    request: Request, db: Session, *, token: str, now: datetime, settings: Settings
) -> User:
    """`ApiUser` resolved by a state-changing endpoint itself, in its own thread, right
    before its use case: no thread-pool hop of its own for the lookup and, on PostgreSQL,
    the lookup read in the use case's write transaction (one connection a request, see
    `resolve_session_for_write`). For the busiest write, the confirmation. A request with
    a bearer secret that is no longer valid and a malformed body is answered 422 (the body
    is checked first), not 401: neither reveals anything."""
    found = auth_service.resolve_session_for_write(
        db, token=token, kind="api", now=now, settings=settings
    )
    if found is None:
        raise _not_authenticated()
    request.state.user = Viewer.of(found.user)
    return found.user


WebUser = Annotated[User, Depends(web_user)]
OptionalWebUser = Annotated[User | None, Depends(optional_web_user)]
ApiUser = Annotated[User, Depends(api_user)]
ApiToken = Annotated[str, Depends(api_token)]


def require(user: User, *roles: Role) -> User:
    if user.role not in roles:
        raise forbidden()
    return user


def _same_origin(request: Request, settings: Settings) -> bool:
    """Origin / Sec-Fetch-Site check: a cross-site request never changes anything."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin == "null":
        # Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even on a
        # same-origin form post; then only the browser-set Sec-Fetch-Site can vouch for it.
        return site == "same-origin"
    if origin is None:
        return True
    own = {f"{request.url.scheme}://{request.url.netloc}"}
    base = urlsplit(settings.base_url)
    own.add(f"{base.scheme}://{base.netloc}")
    return origin in own


async def csrf_protect(request: Request, settings: SettingsDep, _user: OptionalWebUser) -> None:
    """For page routes: every state change needs the same origin and the session-bound
    token (form field `csrf_token` or header `X-CSRF-Token`, which htmx sends)."""
    if request.method in SAFE_METHODS:
        return
    if not _same_origin(request, settings):
        raise DomainError("csrf_failed", "Cross-site request refused.")
    session_id = getattr(request.state, "session_id", None)
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if session_id is None:
        # Before sign-in (the sign-in form itself): a token bound to the pre-session cookie.
        pre = request.cookies.get(PRE_SESSION_COOKIE, "")
        if not pre or not security.csrf_token_ok(settings.secret_key, "pre:" + pre, presented):
            raise DomainError(
                "csrf_failed",
                "This form has expired. Reload the page and try again.",
            )
        return
    if not security.csrf_token_ok(settings.secret_key, session_id, presented):
        raise DomainError("csrf_failed", "This form has expired. Reload the page and try again.")


PRE_SESSION_COOKIE = "pre_session"
CsrfProtected = Depends(csrf_protect)
