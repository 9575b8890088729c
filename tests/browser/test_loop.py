"""The core loop in a real browser, across three phones/desks: the inspector registers a
visit through the form (seeing the rule warnings before submitting), shows the card with the
QR pass, the manager's browser opens the URL read off the screen and confirms with one tap,
another enterprise's manager is refused, and the supervisor sees it all in the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD
from tests.live import LiveServer
from tests.qr import qr_codes
from webapp.checkin.models import Scan
from webapp.enums import ScanOutcome, VisitStatus
from webapp.visits.models import Visit
from webapp.web import to_local


def watch_console(page: Page, problems: list[str]) -> None:
    """Collect console errors (a CSP violation is one) and uncaught page errors."""
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))


def sign_in(page: Page, live: LiveServer, username: str) -> None:
    page.goto(f"{live.url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    expect(page).not_to_have_url(f"{live.url}/login")


def test_register_show_scan_confirm_and_supervise(browser: Browser, live: LiveServer) -> None:
    world = live.world
    inspector = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    page = inspector.new_page()
    problems: list[str] = []
    watch_console(page, problems)
    sign_in(page, live, "inspector1")

    page.goto(f"{live.url}/visits/new")
    page.fill("#q", "Alpha")
    page.locator("#enterprise-results label", has_text="Alpha Chemicals").click()
    entry = page.locator("#entries input[name=plan_entry_id]:not([value=extra])")
    expect(entry).to_have_count(1)
    entry.check()
    expect(page.locator("#items-options input[name=item_ids]:checked")).to_have_count(2)
    start = to_local(datetime.now(UTC)) - timedelta(minutes=5)
    page.fill("#window_start", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#window_end", (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))

    # The form warns at once: Carol's credential has expired.
    page.locator("#f-co_inspector_ids label", has_text="Carol Zhang").click()
    warning = page.locator("#warnings [data-rule='credentials.two_valid']")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Carol Zhang")
    # Bob instead: the warning goes away (the window is already open, so the form still
    # warns that a scan within minutes of registering is flagged as short notice).
    page.locator("#f-co_inspector_ids label", has_text="Carol Zhang").click()
    page.locator("#f-co_inspector_ids label", has_text="Bob Wang").click()
    expect(page.locator("#warnings [data-rule='timing.short_notice']")).to_be_visible()
    expect(warning).to_have_count(0)

    page.click("button[value=register]")
    expect(page.locator(".qr-box svg")).to_be_visible()
    expect(page.locator("body")).to_contain_text("Alice Li")
    expect(page.locator("body")).to_contain_text("Bob Wang")
    expect(page.locator("body")).to_contain_text(world.items[0].legal_basis)
    public_id = page.url.rsplit("/", 1)[-1]

    # Read the QR code off the inspector's screen, as a camera would.
    png = page.locator(".qr-box svg").screenshot()
    found = qr_codes(png)
    assert len(found) == 1
    url = found[0].text
    assert url.startswith(f"{live.url}/scan?p=")
    code = page.locator("[data-short-code]").inner_text()
    assert len(code.replace("-", "")) == 11

    # Another enterprise's manager opens it: refused, and told nothing about the enterprise.
    other = browser.new_context(locale="zh-CN")
    other_page = other.new_page()
    sign_in(other_page, live, "manager2")
    other_page.goto(url)
    expect(other_page.locator("main")).not_to_contain_text("Alpha Chemicals")
    expect(other_page.locator("button.confirm")).to_have_count(0)

    # The enterprise's own manager opens the URL with the camera app and confirms.
    manager = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    mpage = manager.new_page()
    watch_console(mpage, problems)
    sign_in(mpage, live, "manager1")
    mpage.goto(url)
    expect(mpage.locator("main")).to_contain_text("Alpha Chemicals")
    expect(mpage.locator("main")).to_contain_text("Alice Li")
    mpage.click("button.confirm")
    expect(mpage.locator(".notice.ok")).to_be_visible()

    with Session(live.engine) as db:
        visit = db.scalar(select(Visit).where(Visit.public_id == public_id))
        assert visit is not None
        assert visit.status == VisitStatus.confirmed
        scans = db.scalars(select(Scan).where(Scan.visit_id == visit.id)).all()
        confirmed = [s for s in scans if s.outcome == ScanOutcome.confirmed]
        assert len(confirmed) == 1
        assert confirmed[0].device_time is not None  # sent by the phone

    # The supervisor sees the confirmation in the visit's full history.
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en")
    dpage = desk.new_page()
    watch_console(dpage, problems)
    sign_in(dpage, live, "supervisor1")
    dpage.goto(f"{live.url}/supervision/flags")
    dpage.goto(f"{live.url}/supervision/visits/{public_id}")
    expect(dpage.locator("main")).to_contain_text("Alpha Chemicals")
    expect(dpage.locator("main")).to_contain_text("manager1")
    # Every page worked under the strict Content-Security-Policy, with no script error.
    assert problems == []
    for context in (inspector, other, manager, desk):
        context.close()
