"""Every page, as every role, in a real Chromium: it loads, runs its scripts and styles under
the Content-Security-Policy (no `unsafe-inline`, no `unsafe-eval`) without a single console
error or CSP violation, and never answers with a server error."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Browser, Page

from tests.browser.conftest import alpha_visit
from tests.browser.test_loop import sign_in, watch_console
from tests.factories import make_flag, make_inspection
from tests.live import LiveServer, app_routes
from webapp.app import create_app
from webapp.db import make_sessionmaker

PAGES_PER_ROLE = 24
SKIP = re.compile(
    r"^/(logout|static/|api/|manifest)|/template/|\.(png|svg|ico|xlsx|csv|json)(\?|$)|/pass(\?|$)"
)


def _seed(live: LiveServer) -> None:
    """A confirmed visit with its findings and a flag, so the detail pages have content."""
    world = live.world
    now = datetime.now(UTC)
    with make_sessionmaker(live.engine)() as db:
        visit = alpha_visit(
            db,
            world,
            now=now - timedelta(hours=5),
            status="confirmed",
            window_start=now - timedelta(hours=3),
        )
        make_flag(db, kind="short_notice", agency=world.county, now=now, visit=visit)
        make_inspection(
            db,
            visit=visit,
            recorded_by=world.inspector1,
            now=now,
            results=[(world.items[0], "major_hazard", (now + timedelta(days=9)).date())]
            + [(i, "compliant", None) for i in world.items[1:2]],
        )
        db.commit()


def _crawl(
    page: Page, live: LiveServer, start: list[str], console: list[str]
) -> tuple[list[str], list[str]]:
    """Visit the pages the role may open, following their links; a page the role may not
    open (refused, or sent elsewhere) is skipped and not counted (the authorisation matrix
    covers it). Every console problem is tagged with the page it happened on."""
    seen: list[str] = []
    tried: set[str] = set()
    problems: list[str] = []
    queue = list(start)
    while queue and len(seen) < PAGES_PER_ROLE:
        url = queue.pop(0)
        parts = urlsplit(url)
        if parts.netloc or SKIP.search(parts.path) or parts.path in tried:
            continue
        tried.add(parts.path)
        console.clear()
        response = page.goto(f"{live.url}{url}")
        page.wait_for_load_state("networkidle")
        status = response.status if response else 0
        if status >= 500 or status == 0:
            problems.append(f"{url}: {status or 'no response'}")
        if status != 200 or urlsplit(page.url).path != parts.path:
            continue
        seen.append(parts.path)
        problems += [f"{url}: {p}" for p in console]
        links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        queue += [urljoin(url, href) for href in links if href and href.startswith("/")]
    return seen, problems


def test_every_page_runs_clean_under_the_csp(browser: Browser, live: LiveServer) -> None:
    _seed(live)
    pages = [
        path
        for path, methods, _ in app_routes(create_app(live.settings, engine=live.engine))
        if "GET" in methods and "{" not in path and not SKIP.search(path)
    ]
    failures: list[str] = []
    for username in ("inspector1", "manager1", "supervisor1", "admin"):
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        page = context.new_page()
        console: list[str] = []
        watch_console(page, console)
        sign_in(page, live, username)
        seen, bad = _crawl(page, live, ["/", *pages], console)
        assert len(seen) >= 4, f"{username}: only {seen}"
        failures += [f"{username} {p}" for p in bad]
        context.close()
    assert not failures, "\n".join(failures)
