"""Never a control that silently does nothing: every htmx-driven control of the app, in
Debian's Chromium, when its request fails.

For each control and each way of failing — a server (or proxy) error page (500), a lost
connection (the request aborted), and our app's own 503 "not saved, please retry" (a real
answer of the live server with its database made to fail) — the user sees a translated
message right beside the control (role=alert), and the control works again: used once more
with the network back, its answer arrives and the message goes away.

The service worker is blocked in these pages so that `page.route` sees every request (the
worker's own offline behaviour is tested in test_offline_card.py)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.browser.conftest import alpha_visit
from tests.browser.test_loop import sign_in
from tests.live import LiveServer
from webapp.enums import ImportKind, ImportStatus
from webapp.imports.models import ImportBatch
from webapp.web import translate

ROOT = Path(__file__).resolve().parent.parent.parent
OFFLINE = "No connection: nothing was sent or saved. Try again when you have signal."
FAILED = "The request failed (error %(status)s): nothing was saved. Try again."
DB_DOWN = "Not saved: the database is busy or unavailable. Please retry."
MODES = ("server_error", "offline", "app_503")


@dataclass(frozen=True)
class Seed:
    visit_id: str  # a visit with a live pass, alice (inspector1) on it
    plan_id: int
    import_id: int  # an import batch being applied (its page polls the progress)


@dataclass(frozen=True)
class Control:
    name: str
    username: str
    page: Callable[[Seed], str]
    request: str  # regex of the htmx request's path (hx-get / hx-post)
    near: str  # the box follows this element directly
    act: Callable[[Page], None] | None  # the user's action; None: it fires by itself
    again: Callable[[Page], None] | None  # using it once more; None: the box's retry button
    prepare: Callable[[Page], None] | None = None
    wait_ms: int = 5_000  # a poll comes every 10 s (the pass) or 1 s (an import)


def _search(text: str) -> Callable[[Page], None]:
    return lambda page: page.fill("#q", text)


def _both_enterprises(page: Page) -> None:
    page.fill("#q", "a")
    expect(page.locator("#enterprise-results input[name=enterprise_id]")).to_have_count(2)


def _alpha_entries(page: Page) -> None:
    _both_enterprises(page)
    page.locator("#enterprise-results label", has_text="Alpha Chemicals").locator("input").check()
    expect(page.locator("#entries input[name=plan_entry_id]:not([value=extra])")).to_have_count(1)


def _plan_entry_again(page: Page) -> None:
    page.locator("#entries input[value=extra]").check()
    page.locator("#entries input[name=plan_entry_id]:not([value=extra])").check()


def _select(name: str, index: int) -> Callable[[Page], None]:
    def choose(page: Page) -> None:
        page.locator(f"form.filters select[name={name}]").select_option(index=index)

    return choose


CONTROLS = [
    Control(
        "registration check",
        "inspector1",
        lambda s: "/visits/new",
        r"/visits/check$",
        "#warnings",
        act=lambda p: p.locator("input[name=co_inspector_ids]").first.check(),
        again=lambda p: p.locator("input[name=co_inspector_ids]").first.uncheck(),
    ),
    Control(
        "enterprise search",
        "inspector1",
        lambda s: "/visits/new",
        r"/visits/enterprise-search\?",
        ".search-row",
        act=_search("Alpha"),
        again=_search("Alph"),
    ),
    Control(
        "plan options of the chosen enterprise",
        "inspector1",
        lambda s: "/visits/new",
        r"/visits/plan-options\?",
        "label.choice",
        prepare=_both_enterprises,
        act=lambda p: p.locator("#enterprise-results input[name=enterprise_id]").first.check(),
        again=lambda p: p.locator("#enterprise-results input[name=enterprise_id]").last.check(),
    ),
    Control(
        "item options of the chosen plan entry",
        "inspector1",
        lambda s: "/visits/new",
        r"/visits/item-options\?",
        "label.check",
        prepare=_alpha_entries,
        act=_plan_entry_again,  # (the only entry may come chosen already)
        again=_plan_entry_again,
    ),
    Control(
        "live pass refresh",
        "inspector1",
        lambda s: f"/visits/{s.visit_id}",
        r"/visits/[^/]+/pass$",
        "#pass",
        act=None,
        again=None,
        wait_ms=13_000,
    ),
    Control(
        "enterprise search of a plan entry (admin)",
        "admin",
        lambda s: f"/admin/plans/{s.plan_id}",
        r"/admin/enterprises/search\?",
        "#f-enterprise_code",
        act=lambda p: p.fill("#f-enterprise_code", "Alpha"),
        again=lambda p: p.fill("#f-enterprise_code", "Alph"),
    ),
    Control(
        "import progress",
        "admin",
        lambda s: f"/admin/imports/{s.import_id}",
        r"/admin/imports/\d+/progress$",
        "#import-progress",
        act=None,
        again=None,
    ),
    Control(
        "flag filters",
        "supervisor1",
        lambda s: "/supervision/flags",
        r"/supervision/flags\?",
        "form.filters",
        act=_select("state", 1),
        again=_select("state", 0),
    ),
    Control(
        "hazard filters",
        "supervisor1",
        lambda s: "/supervision/hazards",
        r"/supervision/hazards\?",
        "form.filters",
        act=_select("state", 1),
        again=_select("state", 0),
    ),
    Control(
        "inspection versions of a visit",
        "supervisor1",
        lambda s: f"/supervision/visits/{s.visit_id}",
        r"/supervision/visits/[^/]+/inspections$",
        "#inspection-versions",
        act=None,
        again=None,
    ),
    Control(
        "result notices to acknowledge",
        "manager1",
        lambda s: "/enterprise",
        r"/enterprise/notices/pending$",
        "#pending-notices",
        act=None,
        again=None,
    ),
]


def test_every_htmx_control_of_the_templates_is_covered() -> None:
    """A new hx-get/hx-post in a template fails here until it is added to CONTROLS."""
    found: set[str] = set()
    for html in (ROOT / "templates").rglob("*.html"):
        for match in re.finditer(r'hx-(?:get|post)="([^"]+)"', html.read_text()):
            # Template expressions stand for one path segment (or a number).
            path = re.sub(r"\{\{[^}]*\}\}", "x", match.group(1))
            found.add(path)
    assert found, "no htmx control found: has the markup changed?"
    patterns = [re.compile(c.request.replace(r"\d+", "[^/]+")) for c in CONTROLS]
    uncovered = sorted(
        path
        for path in found
        if not any(p.search(path) or p.search(path + "?q=1") for p in patterns)
    )
    assert uncovered == []


@contextmanager
def database_down(engine: Engine) -> Iterator[None]:
    """Every statement of the live server fails as a locked or lost database does: the app
    answers with its own 503."""

    def refuse(*args: Any) -> None:
        raise OperationalError("(refused by the test)", {}, sqlite3.OperationalError("locked"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


@pytest.fixture
def seed(live: LiveServer) -> Seed:
    world = live.world
    now = datetime.now(UTC)
    with Session(live.engine) as db:
        visit = alpha_visit(
            db,
            world,
            now=now - timedelta(hours=1),
            window_start=now - timedelta(minutes=10),
            window_end=now + timedelta(hours=2),
        )
        batch = ImportBatch(
            kind=ImportKind.enterprises,
            status=ImportStatus.applying,
            filename="enterprises.xlsx",
            sha256="0" * 64,
            total_rows=10,
            processed_rows=3,
            payload="{}",
            created_at=now,
            created_by_id=world.admin.id,
        )
        db.add(batch)
        db.commit()
        return Seed(visit.public_id, world.entry_a.plan_id, batch.id)


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        service_workers="block",
    )
    yield context
    context.close()


def _failing(mode: str, live: LiveServer) -> Callable[[Route], None]:
    def handle(route: Route) -> None:
        if route.request.headers.get("hx-request") != "true":
            route.continue_()
        elif mode == "server_error":
            route.fulfill(status=500, content_type="text/plain", body="Internal Server Error")
        elif mode == "offline":
            route.abort("internetdisconnected")
        else:
            with database_down(live.engine):
                answer = route.fetch()
            route.fulfill(response=answer)

    return handle


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("control", CONTROLS, ids=[c.name for c in CONTROLS])
def test_a_failed_request_is_shown_beside_its_control_which_works_again(
    phone: BrowserContext, live: LiveServer, seed: Seed, control: Control, mode: str
) -> None:
    page = phone.new_page()
    sign_in(page, live, control.username)
    request = re.compile(control.request)
    page.route(request, _failing(mode, live))
    page.goto(live.url + control.page(seed))
    if control.prepare:
        page.unroute(request)
        control.prepare(page)
        page.route(request, _failing(mode, live))
    if control.act:
        control.act(page)

    # (With the database down, another request of the same action may fail beside its own
    # control too: the registration check that follows every change of the form.)
    box = page.locator(f"{control.near} + [data-htmx-error]")
    if mode == "offline" and control.name == "live pass refresh":
        # The card has its own answer: the offline banner, and a pass computed in the page.
        expect(page.locator("#offline-banner")).to_be_visible(timeout=control.wait_ms)
        expect(box).to_have_count(0)
    else:
        expect(box).to_have_count(1, timeout=control.wait_ms)
        expect(box).to_be_visible()
        expect(box).to_have_attribute("role", "alert")
        expected = {
            "server_error": translate("zh_CN", FAILED, {"status": "500"}),
            "offline": translate("zh_CN", OFFLINE),
            "app_503": translate("zh_CN", DB_DOWN),
        }[mode]
        expect(box).to_contain_text(expected)
        # Beside the control: directly after it (or after its label, row, or answer area).
        assert box.evaluate("(b, sel) => b.previousElementSibling.matches(sel)", control.near)
        if mode != "app_503":
            expect(page.locator("[data-htmx-error]")).to_have_count(1)

    # Used again with the network back: the answer arrives and the message goes away.
    page.unroute(request)
    with page.expect_response(request, timeout=control.wait_ms) as answer:
        if control.again:
            control.again(page)
        elif control.act is None and box.count():
            retry = box.locator("button.retry")
            if retry.count():
                retry.click()
    assert answer.value.status == 200
    expect(box).to_have_count(0)
    if mode != "app_503":
        expect(page.locator("[data-htmx-error]")).to_have_count(0)
    if mode == "offline" and control.name == "live pass refresh":
        expect(page.locator("#offline-banner")).to_be_hidden()
