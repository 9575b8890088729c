"""axe-core (vendored, pinned: `vendor/axe-4.14.1.min.js`) on every page as every role, in a
real Chromium at phone size: no `serious` or `critical` violation anywhere.

"Every page" is the crawl of `test_every_page.py` (parameterless pages, then their links, only
pages the role may open) plus seeded detail pages: a visit card, its findings, the scan page of
a live pass, a flag, the supervisor's visit and inspection history, the monthly report."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.conftest import alpha_visit
from tests.browser.test_loop import sign_in
from tests.factories import make_flag, make_inspection, make_visit
from tests.live import LiveServer, app_routes
from webapp.app import create_app
from webapp.checkin.passes import current_pass
from webapp.db import make_sessionmaker

AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
ROLES = ("inspector1", "manager1", "supervisor1", "admin")
PAGES_PER_ROLE = 40
SKIP = re.compile(
    r"^/(logout|static/|api/|manifest)|/template/|\.(png|svg|ico|xlsx|csv|json|webmanifest)(\?|$)"
    r"|/pass(\?|$)|/photos/|/progress$"
)


def seed(live: LiveServer) -> list[str]:
    """A confirmed visit with findings and a flag, and a live visit with a valid pass; returns
    the detail pages they give (each role opens those it may)."""
    world = live.world
    now = datetime.now(UTC)
    with make_sessionmaker(live.engine)() as db:
        done = alpha_visit(
            db,
            world,
            now=now - timedelta(hours=5),
            status="confirmed",
            window_start=now - timedelta(hours=3),
        )
        flag = make_flag(db, kind="short_notice", agency=world.county, now=now, visit=done)
        make_inspection(
            db,
            visit=done,
            recorded_by=world.inspector1,
            now=now,
            results=[(world.items[0], "major_hazard", (now + timedelta(days=9)).date())]
            + [(i, "compliant", None) for i in world.items[1:2]],
        )
        live_visit = make_visit(
            db,
            agency=world.county,
            enterprise=world.ent_a,
            inspectors=[world.alice],
            items=world.items[:2],
            registered_by=world.inspector1,
            now=now - timedelta(minutes=30),
            window_start=now - timedelta(minutes=10),
        )
        db.commit()
        token = current_pass(live_visit, now=now, settings=live.settings).token
        done_id, live_id, flag_id = done.public_id, live_visit.public_id, flag.id
    return [
        f"/visits/{live_id}",
        f"/visits/{done_id}",
        f"/visits/{done_id}/findings",
        f"/visits/{done_id}/findings/new",
        f"/scan?p={token}",
        f"/enterprise/visits/{done_id}",
        f"/enterprise/visits/{done_id}/notice",
        f"/supervision/visits/{done_id}",
        f"/supervision/visits/{done_id}/inspections",
        f"/supervision/flags/{flag_id}",
        "/supervision/report",
    ]


def start_pages(live: LiveServer) -> list[str]:
    """Every parameterless GET page of the app."""
    return [
        path
        for path, methods, _ in app_routes(create_app(live.settings, engine=live.engine))
        if "GET" in methods and "{" not in path and not SKIP.search(path)
    ]


def phone(browser: Browser, width: int = 390) -> BrowserContext:
    # bypass_csp only so that the test can inject axe and its own stylesheets; the CSP itself
    # is proven by test_every_page.py.
    return browser.new_context(
        viewport={"width": width, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        bypass_csp=True,
    )


def crawl(
    page: Page,
    live: LiveServer,
    start: list[str],
    on_page: Callable[[str], None],
    limit: int = PAGES_PER_ROLE,
) -> list[str]:
    """Open the pages the role may open (a refusal or a redirect elsewhere is skipped),
        following their links, and call `on_page(url)` on each full page loaded (htmx fragments
    are not pages). Links are de-duplicated
        by path; the start pages (seeded details with a query) by their whole URL."""
    seen: list[str] = []
    tried: set[str] = set()
    queue = list(start)
    explicit = set(start)
    while queue and len(seen) < limit:
        url = queue.pop(0)
        parts = urlsplit(url)
        key = url if url in explicit else parts.path
        if parts.netloc or SKIP.search(parts.path) or key in tried:
            continue
        tried.add(key)
        response = page.goto(f"{live.url}{url}")
        page.wait_for_load_state("networkidle")
        if not response or response.status != 200 or urlsplit(page.url).path != parts.path:
            continue
        if not page.evaluate("!!document.doctype"):
            continue  # an htmx fragment: checked inside the page that includes it
        seen.append(url)
        on_page(url)
        links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        queue += [urljoin(url, href) for href in links if href and href.startswith("/")]
    return seen


AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.impact} ${v.id}: ${v.help} -> ` +
      v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
}"""


def axe_violations(page: Page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(AXE_RUN)
    return found


def test_no_serious_or_critical_axe_violation_on_any_page(
    browser: Browser, live: LiveServer
) -> None:
    details = seed(live)
    pages = start_pages(live)
    failures: list[str] = []
    checked: dict[str, int] = {}
    for username in (None, *ROLES):
        context = phone(browser)
        page = context.new_page()
        who = username or "anonymous"
        if username:
            sign_in(page, live, username)
            start = ["/", *details, *pages]
        else:
            start = ["/login", "/scan/enter", details[4]]

        def check(url: str, who: str = who, page: Page = page) -> None:
            failures.extend(f"{who} {url}: {v}" for v in axe_violations(page))

        seen = crawl(page, live, start, check)
        checked[who] = len(seen)
        context.close()
    # The crawl must have reached the pages: a broken sign-in would make this pass vacuously.
    assert all(n >= 2 for n in checked.values()), checked
    assert sum(checked.values()) >= 40, checked
    assert not failures, "\n".join(failures)


def test_axe_finds_a_planted_violation(browser: Browser, live: LiveServer) -> None:
    """The check can fail: an image without alt text and an unlabeled field are reported."""
    context = phone(browser)
    page = context.new_page()
    page.goto(f"{live.url}/login")
    page.evaluate(
        """() => {
        const img = document.createElement('img'); img.src = '/favicon.ico';
        const input = document.createElement('input'); input.type = 'text';
        document.querySelector('main').append(img, input);
    }"""
    )
    found = axe_violations(page)
    context.close()
    assert any("image-alt" in v for v in found), found
    assert any(re.search(r"\blabel\b", v) for v in found), found
