"""The user's time zone in Debian's Chromium: chosen on the preferences page (a listed zone,
or "this phone's time zone" as the browser reports it), and every time shown follows it —
the visit card's window, and the offline banner's "since" computed in the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy.orm import Session

from tests.browser.conftest import alpha_visit
from tests.browser.test_loop import sign_in
from tests.live import LiveServer

PHONE_ZONE = "Asia/Kathmandu"  # UTC+05:45: no other zone of the list gives its minutes
START = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)


@pytest.fixture
def visit_id(live: LiveServer) -> str:
    world = live.world
    with Session(live.engine) as db:
        visit = alpha_visit(
            db,
            world,
            now=datetime.now(UTC),
            window_start=START,
            window_end=START + timedelta(hours=2),
        )
        db.commit()
        return visit.public_id


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id=PHONE_ZONE,
        # Pages straight from the server (the cached card is test_offline_card.py's subject).
        service_workers="block",
    )
    yield context
    context.close()


def window_shown(page: Page, live: LiveServer, visit_id: str) -> str:
    """The visit card's time window, as shown."""
    page.goto(f"{live.url}/visits/{visit_id}")
    label = page.locator("dl dt", has_text=re.compile(r"^(检查时段|Window)$"))
    return label.locator("xpath=following-sibling::dd[1]").inner_text()


def choose_zone(page: Page, live: LiveServer, value: str) -> None:
    page.goto(f"{live.url}/visits")
    page.click("header a[href='/preferences']")
    page.select_option("#tz", value)
    page.click("form[action='/lang'] button.primary")
    expect(page).to_have_url(re.compile(r"/preferences\?saved=1$"))
    expect(page.locator("#tz")).to_have_value(value)
    expect(page.locator("html")).to_have_attribute("data-tz", value)


def test_times_follow_the_chosen_zone_and_the_phones_own(
    phone: BrowserContext, live: LiveServer, visit_id: str
) -> None:
    page = phone.new_page()
    sign_in(page, live, "inspector1")
    # By default: the office's zone (Shanghai, UTC+8), whatever the phone's zone.
    assert "2026/12/20 10:00" in window_shown(page, live, visit_id)

    choose_zone(page, live, "UTC")
    shown = window_shown(page, live, visit_id)
    assert "2026/12/20 02:00" in shown
    assert "10:00" not in shown

    # "This phone's time zone": the browser's own zone, filled in by the page's script.
    page.goto(f"{live.url}/preferences")
    device = page.locator("option[data-device-tz]")
    expect(device).to_have_attribute("value", re.compile(r"^Asia/Kath?mandu$"))
    # (Chromium's ICU names it by its older spelling; both are IANA names the server knows.)
    choose_zone(page, live, str(device.get_attribute("value")))
    assert "2026/12/20 07:45" in window_shown(page, live, visit_id)

    # The offline banner's time is computed in the page: in the same zone.
    page.goto(f"{live.url}/visits/{visit_id}")
    page.evaluate("sessionStorage.removeItem('offline-since')")
    phone.set_offline(True)
    try:
        banner = page.locator("#offline-banner")
        expect(banner).to_be_visible()
        found = re.search(r"\d\d:\d\d", banner.inner_text())
        assert found is not None
        local = datetime.now(UTC).astimezone(ZoneInfo(PHONE_ZONE))
        assert found.group() in {(local - timedelta(minutes=d)).strftime("%H:%M") for d in (0, 1)}
    finally:
        phone.set_offline(False)
