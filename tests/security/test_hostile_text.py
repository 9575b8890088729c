"""Hostile text in every user-entered field renders inert on every page and fragment.

Every free-text column in the database is filled with markup that would run script, load a
`javascript:` URL or fire an htmx request if it were rendered raw; then every page reachable
by each role is crawled (links, htmx GETs and GET forms, the latter submitted with the same
payload) and must show the text only as text."""

from __future__ import annotations

import re
from collections import deque
from datetime import datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.dbs import unguard
from tests.factories import World, login, make_flag, make_scan, make_visit
from tests.live import app_routes
from webapp.checkin.models import UnregisteredReport
from webapp.db import Base
from webapp.enterprises.models import Enterprise
from webapp.plans.models import PlanEntry
from webapp.supervision.models import FlagResolution
from webapp.visits.models import Visit, VisitDecision

PAYLOAD = (
    "<script>alert(1)</script><img src=x onerror=alert(2)>"
    '<a href="javascript:alert(3)" hx-get="/logout" hx-trigger="load">x</a>'
    '"><svg onload=alert(4)>'
)
# What must never appear in a response: the payload's markup, unescaped.
RAW = (
    "<script>alert(1)",
    "<img src=x onerror",
    'href="javascript:',
    'hx-get="/logout"',
    "<svg onload",
)

# Every free-text column a person can type into (names, notes, reasons, codes).
USER_TEXT = {
    "agencies": ["name"],
    "inspection_items": ["title", "legal_basis", "description"],
    "enterprises": ["name", "address", "industry"],
    "inspectors": ["name"],
    "users": ["display_name"],
    "plans": ["title"],
    "plan_entries": ["note"],
    "unregistered_reports": ["who", "what_they_said"],
    "visits": ["extra_reason_text", "cancel_reason"],
    "visit_decisions": ["note"],
    "flag_resolutions": ["note"],
    "inspections": ["summary", "case_number", "correction_reason"],
    "item_findings": ["note"],
    "notice_acknowledgements": ["note"],
    "rectifications": ["note"],
    "import_batches": ["filename", "error"],
}
MAX_PAGES_PER_ROLE = 400
PER_PATH = 4  # filter and paging variants of one page: a few are enough
SKIP = re.compile(r"^/(logout|static/|api/|sw\.js|manifest)|\.(png|jpg|jpeg|xlsx|csv)(\?|$)")


def _seed(db: Session, world: World, now: datetime) -> None:
    """Visits in every state, a decision, a refused scan with its flag and a resolution, an
    unregistered report: so every kind of page has something to show."""

    def visit(
        enterprise: Enterprise,
        entry: PlanEntry | None,
        status: str = "registered",
        start: datetime | None = None,
    ) -> Visit:
        return make_visit(
            db,
            agency=world.county,
            enterprise=enterprise,
            inspectors=[world.alice, world.bob],
            items=world.items[:2],
            registered_by=world.inspector1,
            now=now,
            plan_entry=entry,
            status=status,
            window_start=start,
        )

    visit(world.ent_a, world.entry_a)
    confirmed = visit(world.ent_a, world.entry_a, "confirmed", now - timedelta(hours=3))
    visit(world.ent_b, world.entry_b, "cancelled")
    extra = visit(world.ent_b, None)
    db.add(
        VisitDecision(
            visit_id=extra.id,
            decision="approved",
            note="n",
            decided_by_id=world.supervisor.id,
            decided_at=now,
        )
    )
    scan = make_scan(db, visit=confirmed, user=world.manager_a, now=now)
    flag = make_flag(
        db, kind="refused_scan", agency=world.county, now=now, scan=scan, visit=confirmed
    )
    db.add(
        FlagResolution(
            flag_id=flag.id, note="n", resolved_by_id=world.supervisor.id, resolved_at=now
        )
    )
    make_flag(db, kind="short_notice", agency=world.county, now=now, visit=confirmed)  # open
    db.add(
        UnregisteredReport(
            enterprise_id=world.ent_a.id,
            reported_by_id=world.manager_a.id,
            occurred_at=now - timedelta(hours=1),
            who="w",
            what_they_said="s",
            created_at=now,
        )
    )
    db.commit()


def _hostile(table: str, column: str, postgresql: bool) -> str:
    """The SQL expression that fills one column with the payload. PostgreSQL enforces the
    column's length (as the app's own checks do): there the payload is cut to fit, its start
    (the script tag) kept."""
    length = getattr(Base.metadata.tables[table].c[column].type, "length", None)
    if postgresql and length is not None:
        return f"substr(:payload, 1, {length - 12}) || ' #' || id"
    return ":payload || ' #' || id"


def _poison(db: Session) -> None:
    """Overwrite every user-entered text with the payload (the test database's evidence
    guards are dropped first: this is a test of rendering, not of the guards)."""
    unguard(db)
    postgresql = db.get_bind().dialect.name == "postgresql"
    for table, columns in USER_TEXT.items():
        sets = ", ".join(f"{c} = {_hostile(table, c, postgresql)}" for c in columns)
        db.execute(text(f"UPDATE {table} SET {sets}"), {"payload": PAYLOAD})  # noqa: S608
    db.commit()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.forms: list[tuple[str, list[str], list[tuple[str, str]]]] = []
        self._form: tuple[str, list[str], list[tuple[str, str]]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("href", "hx-get", "src"):
            if a.get(key):
                self.urls.append(a[key])
        if tag == "form" and a.get("method", "get").lower() == "get":
            self._form = (a.get("action", ""), [], [])
        elif self._form is not None and tag in ("input", "textarea", "select") and a.get("name"):
            kind = a.get("type", "text")
            if tag == "textarea" or kind in ("text", "search"):
                self._form[1].append(a["name"])
            elif kind not in ("submit", "button", "checkbox", "radio", "file"):
                self._form[2].append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None


def _get_routes(app: FastAPI) -> list[str]:
    """Every page without path parameters, so pages no link leads to are checked too."""
    return [path for path, methods, _ in app_routes(app) if "GET" in methods and "{" not in path]


ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _crawl(client: TestClient, app: FastAPI, start: list[str]) -> tuple[int, int, list[str]]:
    """(pages crawled, pages showing the payload as text, problems)."""
    shown = 0
    seen: set[str] = set()
    per_path: dict[str, int] = {}
    queue = deque(start + _get_routes(app))
    problems: list[str] = []
    while queue and len(seen) < MAX_PAGES_PER_ROLE:
        url = queue.popleft()
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        if url in seen or SKIP.search(url) or per_path.get(parts.path, 0) >= PER_PATH:
            continue
        seen.add(url)
        per_path[parts.path] = per_path.get(parts.path, 0) + 1
        response = client.get(url, headers={"Accept-Language": "en"}, follow_redirects=True)
        if response.status_code >= 500:
            problems.append(f"{url}: {response.status_code}")
            continue
        body = response.text
        shown += ESCAPED in body
        for raw in RAW:
            if raw in body:
                at = body.index(raw)
                problems.append(f"{url}: raw {raw!r} in …{body[max(0, at - 80) : at + 40]!r}")
        if "html" not in response.headers.get("content-type", ""):
            continue
        parser = _Links()
        parser.feed(body)
        for link in parser.urls:
            queue.append(urljoin(url, link))
        for action, texts, hidden in parser.forms:
            if texts:
                query = urlencode([(n, PAYLOAD) for n in texts] + hidden)
                queue.append(f"{urljoin(url, action or parts.path)}?{query}")
    return len(seen), shown, problems


def test_hostile_text_is_inert_everywhere(
    client: TestClient, app: FastAPI, db: Session, world: World, now: datetime
) -> None:
    _seed(db, world, now)
    _poison(db)
    all_problems: list[str] = []
    for user in (world.inspector1, world.manager_a, world.supervisor, world.admin):
        client.cookies.clear()
        login(client, user.username)
        crawled, shown, problems = _crawl(client, app, ["/"])
        assert crawled > 5, f"{user.username}: only {crawled} pages reached"
        # The payload did reach the pages (as text): the crawl tested something.
        assert shown > 2, f"{user.username}: the payload was shown on {shown} page(s) only"
        print(f"{user.username}: {crawled} pages, payload shown as text on {shown}")
        all_problems += [f"{user.username} {p}" for p in problems]
    assert not all_problems, "\n".join(all_problems)
