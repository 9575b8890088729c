"""Jinja environment, languages, time display, and page-or-fragment rendering."""

from __future__ import annotations

import io
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from babel import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from webapp import static_files
from webapp.config import get_settings
from webapp.errors import FieldError, in_zone
from webapp.privacy import masked

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = {"zh_CN": "中文", "en": "English"}
LANG_COOKIE = "lang"
TZ_COOKIE = "tz"


@lru_cache
def translations(lang: str) -> NullTranslations:
    """The catalogue of a language, compiled in memory from its .po file (English is the
    source language and needs none)."""
    po = TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"
    if lang == "en" or not po.exists():
        return NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def negotiate_lang(request: Request) -> str:
    """Cookie first, then the browser's Accept-Language, then the default (zh_CN)."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return get_settings().default_locale


def N_(message: str) -> str:  # noqa: N802 (the conventional name)
    """Mark a message for extraction where it is not translated on the spot."""
    return message


# The display zone of the request being answered (set by the app's middleware), for the
# times in server-made messages (errors.LocalTime) translated away from a template.
READER_ZONE: ContextVar[str | None] = ContextVar("reader_zone", default=None)


def translate(
    lang: str, message: str, params: dict[str, Any] | None = None, zone: ZoneInfo | None = None
) -> str:
    """A message in `lang`; its times (LocalTime) in `zone`, else the reader's, else as made."""
    text = translations(lang).gettext(message)
    if not params:
        return text
    zone = zone or reader_zone()
    return text % (in_zone(params, zone) if zone is not None else params)


def reader_zone() -> ZoneInfo | None:
    """The display zone of the request being answered, if any (READER_ZONE)."""
    name = valid_zone(READER_ZONE.get())
    return ZoneInfo(name) if name else None


@dataclass(frozen=True)
class ShownError:
    """A field error in the reader's language, for the `field_errors` macro."""

    field: str
    message: str


def shown_errors(request: Request, errors: Iterable[FieldError]) -> list[ShownError]:
    """Translate a refusal's field errors for the page that shows them again."""
    lang = getattr(request.state, "lang", "zh_CN")
    return [ShownError(e.field, translate(lang, e.message, e.params)) for e in errors]


def tz() -> ZoneInfo:
    """The office's zone (Settings.timezone): business rules count days and months in it."""
    return ZoneInfo(get_settings().timezone)


# The display zones offered on the preferences page (any valid IANA name is accepted from
# the cookie: "use this phone's zone" may set another).
TIMEZONE_CHOICES: dict[str, str] = {
    "Asia/Shanghai": N_("Beijing time (Asia/Shanghai)"),
    "Asia/Urumqi": N_("Xinjiang time (Asia/Urumqi)"),
    "Asia/Hong_Kong": N_("Hong Kong (Asia/Hong_Kong)"),
    "Asia/Macau": N_("Macao (Asia/Macau)"),
    "Asia/Taipei": N_("Taipei (Asia/Taipei)"),
    "UTC": N_("Universal time (UTC)"),
}


@lru_cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_zone(name: str | None) -> str | None:
    """An IANA zone name the system knows, else None (a forged or stale cookie is ignored)."""
    return name if name and name in _known_zones() else None


def display_zone_name(request: Request) -> str:
    """The zone the user reads dates and times in: the `tz` cookie, else the office's."""
    settings = getattr(request.app.state, "settings", None) or get_settings()
    return valid_zone(request.cookies.get(TZ_COOKIE)) or str(settings.timezone)


def display_zone(request: Request) -> ZoneInfo:
    """The user's display zone; also the zone the forms' typed times are read in."""
    return ZoneInfo(display_zone_name(request))


def to_local(value: datetime) -> datetime:
    return value.astimezone(tz())


def _fmt(lang: str) -> Locale:
    return Locale.parse(lang)


def _zone(ctx: Context) -> ZoneInfo:
    """The display zone of the page being rendered (see `render`); the office's without one."""
    name = ctx.get("display_tz")
    return ZoneInfo(name) if isinstance(name, str) and valid_zone(name) else tz()


@pass_context
def _gettext(ctx: Context, message: str, **params: Any) -> str:
    text = translations(ctx.get("lang", "zh_CN")).gettext(message)
    if ctx.eval_ctx.autoescape:
        # Our own catalogue is trusted markup; Markup's % escapes every parameter.
        text = Markup(text)  # noqa: S704
    return text % in_zone(params, _zone(ctx)) if params else text


@pass_context
def _ngettext(ctx: Context, singular: str, plural: str, n: int, **params: Any) -> str:
    params.setdefault("num", n)
    text = translations(ctx.get("lang", "zh_CN")).ngettext(singular, plural, n)
    if ctx.eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704
    return text % params


@pass_context
def _label(ctx: Context, table: str, value: Any) -> str:
    """`{{ label("visit_status", visit.status) }}`: the value's words in the user's language."""
    from webapp.labels import label_msgid

    return translations(ctx.get("lang", "zh_CN")).gettext(label_msgid(table, value))


@pass_context
def _datetime(ctx: Context, value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    zone = _zone(ctx)
    return format_datetime(
        value.astimezone(zone), fmt, tzinfo=zone, locale=_fmt(ctx.get("lang", "en"))
    )


@pass_context
def _time(ctx: Context, value: datetime | None, fmt: str = "short") -> str:
    if value is None:
        return ""
    zone = _zone(ctx)
    return format_time(value.astimezone(zone), fmt, tzinfo=zone, locale=_fmt(ctx.get("lang", "en")))


@pass_context
def _date(ctx: Context, value: date | datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(_zone(ctx)).date()
    return format_date(value, fmt, locale=_fmt(ctx.get("lang", "en")))


@pass_context
def _local_input(ctx: Context, value: datetime | None) -> str:
    """A UTC datetime as the value of an <input type=datetime-local>: in the user's display
    zone, the zone the forms' times are read back in (`display_zone`)."""
    return value.astimezone(_zone(ctx)).strftime("%Y-%m-%dT%H:%M") if value else ""


@lru_cache
def environment() -> Environment:
    # Autoescape every template, whatever its extension (Starlette's default covers only
    # .html/.htm/.xml).
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        _=_gettext,
        gettext=_gettext,
        ngettext=_ngettext,
        label=_label,
        languages=LANGUAGES,
        timezone_choices=TIMEZONE_CHOICES,
        static_url=static_files.assets.url,
        sw_build=static_files.sw_build,
    )
    env.filters.update(
        datetime=_datetime, time=_time, date=_date, local_input=_local_input, masked=masked
    )
    return env


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page (or a `_partial.html` for htmx) with the request's language and user."""
    ctx: dict[str, Any] = {
        "request": request,
        "lang": getattr(request.state, "lang", "zh_CN"),
        "user": getattr(request.state, "user", None),
        "csrf_token": getattr(request.state, "csrf_token", ""),
        "settings": request.app.state.settings,
        "htmx": is_htmx(request),
        # Dates and times are shown in the user's zone (the |datetime, |date, |time filters).
        "display_tz": display_zone_name(request),
    }
    ctx.update(context or {})
    html = environment().get_template(template).render(ctx)
    return HTMLResponse(html, status_code=status_code, headers=headers)
