"""create_app(): middleware, routers, static files, error handlers, the background sweep."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import secrets
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp import static_files
from webapp.auth.deps import SAFE_METHODS, LoginRequired, login_url
from webapp.clock import Clock, SystemClock
from webapp.config import Settings, get_settings
from webapp.db import WRITE, make_engine, make_sessionmaker
from webapp.errors import DomainError
from webapp.privacy import install_log_redaction
from webapp.web import (
    LANGUAGES,
    N_,
    READER_ZONE,
    display_zone_name,
    is_htmx,
    negotiate_lang,
    render,
    translate,
)

# State-changing requests let into the app at once on SQLite (see WriteAdmission): enough
# to overlap one request's reading and answering with the next one's write, far below the
# worker threads (40).
SQLITE_WRITES_IN_PROGRESS = 8

log = logging.getLogger("webapp")
_PASS_IN_URL = re.compile(r"([?&](?:p|c)=)[^&\s]+")


class RedactPasses(logging.Filter):
    """Pass tokens and short codes never reach the access log (a log reader could replay a
    fresh one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _PASS_IN_URL.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def _problem(request: Request, status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    lang = getattr(request.state, "lang", "en")
    body = {
        "type": f"about:blank#{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": translate(lang, message, extra.pop("params", None)),
        "request_id": getattr(request.state, "request_id", ""),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def problem_for(request: Request, exc: DomainError) -> JSONResponse:
    lang = getattr(request.state, "lang", "en")
    errors = [
        {"field": e.field, "message": translate(lang, e.message, e.params)} for e in exc.errors
    ]
    extra: dict[str, Any] = {"params": exc.params}
    if errors:
        extra["errors"] = errors
    if exc.field:
        extra["field"] = exc.field
    return _problem(request, exc.status, exc.code, exc.message, **extra)


def _error_page(
    request: Request,
    status: int,
    code: str,
    message: str,
    params: dict[str, Any] | None = None,
    *,
    retry: list[tuple[str, str]] | None = None,
) -> Response:
    lang = getattr(request.state, "lang", "zh_CN")
    context = {
        "code": code,
        "message": translate(lang, message, params),
        "request_id": getattr(request.state, "request_id", ""),
        "retry": retry,
        "retry_action": request.url.path,
    }
    if is_htmx(request):
        # htmx swaps 4xx/5xx bodies only when told; retarget the error box so the user sees it.
        return render(
            request,
            "_error.html",
            context,
            status_code=status,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"},
        )
    return render(request, "error.html", context, status_code=status)


async def _submitted_fields(request: Request) -> list[tuple[str, str]] | None:
    """A page form's text fields, to offer them again when saving failed (a chosen file is
    not kept). None for anything but a page's form POST."""
    if request.method != "POST" or is_htmx(request):
        return None
    try:
        form = await request.form()
    except Exception:  # the body is gone or unreadable: nothing to offer back
        return None
    return [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if _is_api(request):
            return problem_for(request, exc)
        return _error_page(request, exc.status, exc.code, exc.message, exc.params)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = login_url(exc.next_url)
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def request_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body",
                "message": str(e.get("msg", "")),
            }
            for e in exc.errors()
        ]
        message = N_("Some fields need correcting: %(fields)s.")
        params = {"fields": ", ".join(e["field"] for e in errors)}
        if _is_api(request):
            return _problem(request, 422, "validation_error", message, params=params, errors=errors)
        return _error_page(request, 422, "validation_error", message, params)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = (
            N_("Not found, or not yours to see.") if exc.status_code == 404 else str(exc.detail)
        )
        if _is_api(request):
            return _problem(request, exc.status_code, code, message)
        return _error_page(request, exc.status_code, code, message)

    @app.exception_handler(OverflowError)
    async def number_out_of_range(request: Request, exc: OverflowError) -> Response:
        # An id or number beyond what the database stores (found by the API fuzz run):
        # it cannot name anything, so it is bad input, not a server error.
        message = N_("A number in the request is too large; no record has such a number.")
        if _is_api(request):
            return _problem(request, 422, "number_out_of_range", message)
        return _error_page(request, 422, "number_out_of_range", message)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> Response:
        # PostgreSQL refuses an id beyond its column's range itself (SQLSTATE 22003) where
        # SQLite's driver raised OverflowError: the same bad input, the same answer.
        if getattr(exc.orig, "sqlstate", None) == "22003":
            return await number_out_of_range(request, OverflowError(str(exc.orig)))
        raise exc

    @app.exception_handler(OperationalError)
    async def db_unavailable(request: Request, exc: OperationalError) -> Response:
        log.error("database unavailable: %s", exc.orig)
        message = N_("Not saved: the database is busy or unavailable. Please retry.")
        if _is_api(request):
            return _problem(request, 503, "db_unavailable", message)
        return _error_page(
            request, 503, "db_unavailable", message, retry=await _submitted_fields(request)
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error (request %s)", getattr(request.state, "request_id", ""))
        message = N_("Something went wrong on our side; nothing was saved. Quote the request id.")
        if _is_api(request):
            response: Response = _problem(request, 500, "internal_error", message)
        else:
            response = _error_page(request, 500, "internal_error", message)
        # Answered outside the middleware (Starlette's outermost): its headers are set here.
        answer_headers(
            response.headers,
            request_id=getattr(request.state, "request_id", ""),
            lang=getattr(request.state, "lang", "zh_CN"),
            strict_transport=request.app.state.settings.cookie_secure,
        )
        return response


_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


def answer_headers(
    headers: MutableHeaders, *, request_id: str, lang: str, strict_transport: bool
) -> None:
    """The headers every answer carries: its request id, the security headers, its
    language, and no caching unless it set its own."""
    headers["X-Request-Id"] = request_id
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Content-Security-Policy"] = _CSP
    headers["Referrer-Policy"] = "no-referrer"
    if strict_transport:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    # Static files set their own (webapp/static_files.py: a year for versioned URLs).
    headers.setdefault("Cache-Control", "no-store")
    headers["Content-Language"] = lang.replace("_", "-")


class PerRequest:
    """Every HTTP request: its id and language in `request.state`, the reader's zone for
    server-made messages, and the security and language headers on its answer.

    Plain ASGI, not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs the app
    in a task of its own and streams the answer through memory channels, a fifth of what a
    worker did for the bench's floor endpoint (sampled with py-spy)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.strict_transport = settings.cookie_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # its state is the scope's: the app's requests see it
        request_id = request.state.request_id = secrets.token_hex(8)
        lang = request.state.lang = negotiate_lang(request)
        # Times in server-made messages are shown in the reader's zone (web.translate).
        READER_ZONE.set(display_zone_name(request))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer_headers(
                    MutableHeaders(scope=message),
                    request_id=request_id,
                    lang=lang,
                    strict_transport=self.strict_transport,
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)


class WriteAdmission:
    """SQLite: at most `limit` state-changing requests of this process in progress at once;
    the others wait here, on the event loop, holding no worker thread.

    SQLite writes one at a time anyway. Without this, a burst (50 confirmations at once)
    filled every worker thread with requests waiting for the write turn, while the request
    holding it waited for a free thread to finish its answer: all stalled until the busy
    timeout (measured by `make bench`). With it, threads are always left for the holder."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.turns = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        async with self.turns:
            await self.app(scope, receive, send)


# The background loop looks again at windows that ended up to this long before its last
# completed sweep (a visit committed late, clocks of several hosts), and at every registered
# visit once a day and when the process starts.
SWEEP_OVERLAP = timedelta(days=1)
SWEEP_FULL_EVERY = timedelta(days=1)


def freeze_startup_objects() -> None:
    """Leave what the process built at start (modules, the app, SQLAlchemy's and pydantic's
    compiled machinery: ~250,000 objects) out of the garbage collector's full collections,
    which otherwise walk them all again every so often between requests. Measured on a
    confirmation: the collector's time per request 0.26 -> 0.09 ms, and no full collection
    left in a run of 900. For the server's entry points (webapp.asgi, the bench's app), after
    the app is built; not for tests, which build many apps in one process."""
    gc.collect()
    gc.freeze()


def _sweep_once(app: FastAPI, stop: threading.Event, ended_after: datetime | None) -> datetime:
    """One sweep, run in a worker thread: its session is made, used and closed here (a
    session belongs to one thread). Between two flags it looks at `stop`; each flag is its
    own transaction, so stopping early leaves no flag half-written. Returns the time it
    swept up to."""
    from webapp.findings import service as findings_service
    from webapp.supervision import service as supervision_service
    from webapp.supervision import summary

    now: datetime = app.state.clock.now()
    with app.state.sessionmaker(bind=app.state.write_engine) as session:
        supervision_service.sweep_unconfirmed(
            session, now=now, stop=stop.is_set, ended_after=ended_after
        )
        findings_service.sweep_overdue_hazards(session, now=app.state.clock.now(), stop=stop.is_set)
    if not stop.is_set():
        # The report summary's queue, between page views (a page catches up on what is left).
        # Looked at on the read engine: on SQLite an empty queue then takes no write turn.
        with app.state.sessionmaker(bind=app.state.engine) as session:
            summary.catch_up(session)
    return now


async def _sweep_loop(app: FastAPI, interval: int) -> None:
    """Sweep every `interval` seconds, off the event loop: the database work runs in a
    thread, so requests are answered while a long (province-size) sweep is in progress. One
    sweep at a time: the next interval starts only when the last sweep has ended. Cancelled
    (shutdown), it tells a running sweep to stop after the flag in hand and waits for it, so
    no sweep thread outlives the app."""
    loop = asyncio.get_running_loop()
    stop = threading.Event()
    swept_to: datetime | None = None  # the last completed sweep
    full_at: datetime | None = None  # the last that looked at every registered visit
    while True:
        await asyncio.sleep(interval)
        now = app.state.clock.now()
        full = swept_to is None or full_at is None or now - full_at >= SWEEP_FULL_EVERY
        ended_after = None if full or swept_to is None else swept_to - SWEEP_OVERLAP
        sweep = loop.run_in_executor(None, _sweep_once, app, stop, ended_after)
        try:
            # shield: a cancellation must not abandon the thread while it still writes.
            swept_to = await asyncio.shield(sweep)
            if full:
                full_at = swept_to
        except asyncio.CancelledError:
            stop.set()
            with contextlib.suppress(Exception):
                await sweep
            raise
        except Exception:
            log.exception("sweep failed; will retry")


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, engine: Engine | None = None
) -> FastAPI:
    settings = settings or get_settings()
    engine = engine or make_engine(settings.database_url)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactPasses) for f in access.filters):
        access.addFilter(RedactPasses())
    install_log_redaction()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if settings.sweep_interval_seconds > 0:
            task = asyncio.create_task(_sweep_loop(app, settings.sweep_interval_seconds))
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task  # a sweep in progress ends at its next flag, not mid-write

    app = FastAPI(
        title="Inspection registry",
        version="0.1.0",
        openapi_url="/api/v1/openapi.json",
        # No Swagger UI page: it loads scripts from a CDN and runs inline script, which the
        # Content-Security-Policy forbids (and intranets often cannot reach the CDN). The
        # schema itself is served; open it in any OpenAPI viewer.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock or SystemClock()
    app.state.engine = engine
    app.state.write_engine = engine.execution_options(**WRITE)
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.languages = LANGUAGES

    app.add_middleware(PerRequest, settings=settings)
    if engine.dialect.name == "sqlite":
        app.add_middleware(WriteAdmission, limit=SQLITE_WRITES_IN_PROGRESS)
    _install_error_handlers(app)
    # In memory, gzip-compressed, versioned by content (webapp/static_files.py).
    app.mount("/static", static_files.assets, name="static")

    from webapp import routes

    routes.include_all(app)
    return app
