"""The offline visit card in Debian's Chromium: once opened online, the card opens again with
no network after a reload, says it is offline and since when, and its pass keeps rotating,
computed in the page from the visit's secret; the server accepts what the page computed.
Signing out clears it: the next person on the phone does not see the card."""

from __future__ import annotations

import base64
import contextlib
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Error, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import register_open_visit
from tests.factories import PASSWORD
from tests.live import LiveServer
from tests.qr import qr_codes
from webapp.auth import security
from webapp.enums import VisitStatus
from webapp.visits.models import Visit

STEP = 10  # the shortest pass step the settings allow: the test sees a rotation quickly


@pytest.fixture
def fast_live(live: LiveServer) -> LiveServer:
    # The app reads this very Settings object on every request.
    live.settings.pass_step_seconds = STEP
    return live


@pytest.fixture
def visit(fast_live: LiveServer) -> Visit:
    """conftest's, registered after the pass step is set."""
    return register_open_visit(fast_live)


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    yield context
    context.close()


def watch_console(page: Page, problems: list[str]) -> None:
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))


def sign_in(page: Page, live: LiveServer, username: str) -> None:
    page.goto(f"{live.url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    expect(page).not_to_have_url(f"{live.url}/login")


def card_is_stored(page: Page) -> bool:
    stored: bool = page.evaluate(
        """async () => {
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                if (await cache.match(location.href)) { return true; }
            }
            return false;
        }"""
    )
    return stored


def open_card_online(page: Page, live: LiveServer, visit: Visit) -> None:
    """Open the card, wait for the service worker to control the page, open it again (the
    worker stores it on the way), and wait until it is stored."""
    page.goto(f"{live.url}/visits/{visit.public_id}")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    page.reload()
    deadline = time.monotonic() + 10
    while not card_is_stored(page):
        assert time.monotonic() < deadline, "the card was never stored"
        time.sleep(0.1)


def read_qr(page: Page) -> str:
    png = page.locator(".qr-box img.qr").screenshot()
    found = qr_codes(png)
    assert len(found) == 1
    return str(found[0].text)


def test_page_computes_the_same_token_and_code_as_the_server(
    phone: BrowserContext, live: LiveServer
) -> None:
    page = phone.new_page()
    page.goto(f"{live.url}/login")
    page.wait_for_function("window.offlinePass !== undefined")
    secret = bytes(range(1, 33))
    secret_b64 = base64.urlsafe_b64encode(secret).decode().rstrip("=")
    for step, step_seconds, accepted in [
        (0, 30, 2),
        (59_000_000, 30, 2),
        (176_400_000, 10, 3),
        (2**33 + 7, 10, 1),  # beyond 32 bits: the HOTP counter is 8 bytes
    ]:
        token = page.evaluate(
            "a => offlinePass.token(...a)",
            [secret_b64, "Vis-it_Id0123456789abc", 42, step, step_seconds, accepted],
        )
        expected = security.issue_pass_token(
            secret,
            visit_public_id="Vis-it_Id0123456789abc",
            enterprise_id=42,
            step=step,
            step_seconds=step_seconds,
            accepted_steps=accepted,
        )
        assert token == expected
        code = page.evaluate("a => offlinePass.code(...a)", [secret_b64, "K7Q2M", step])
        assert code == security.short_code("K7Q2M", secret, step)
    # And a different secret gives a different token (the comparison can fail).
    other = page.evaluate(
        "a => offlinePass.token(...a)",
        [base64.urlsafe_b64encode(bytes(32)).decode(), "Vis-it_Id0123456789abc", 42, 5, 30, 2],
    )
    assert other != security.issue_pass_token(
        secret,
        visit_public_id="Vis-it_Id0123456789abc",
        enterprise_id=42,
        step=5,
        step_seconds=30,
        accepted_steps=2,
    )


def test_card_opens_offline_after_a_reload_and_its_pass_keeps_rotating(
    phone: BrowserContext, fast_live: LiveServer, visit: Visit
) -> None:
    live = fast_live
    page = phone.new_page()
    problems: list[str] = []
    watch_console(page, problems)
    sign_in(page, live, "inspector1")
    open_card_online(page, live, visit)
    expect(page.locator("#offline-banner")).to_be_hidden()

    phone.set_offline(True)
    response = page.reload()
    assert response is not None
    assert response.from_service_worker
    main = page.locator("main")
    # Credentials with photos, checklist: all in the stored page.
    expect(main).to_contain_text("Alpha Chemicals")
    for name in ("Alice Li", "Bob Wang"):
        expect(main).to_contain_text(name)
    expect(page.locator(".people img[src^='data:image/']").first).to_be_visible()
    for item in live.world.entry_a.items:
        expect(main).to_contain_text(item.title)
    # It says plainly that it is offline, and since when (Shanghai time).
    banner = page.locator("#offline-banner")
    expect(banner).to_be_visible()
    # (zh-CN: "离线 · 自 10:02 起" once the catalogue is compiled.)
    expect(banner).to_have_text(re.compile(r"^(离线 · 自 \d\d:\d\d 起|Offline · since \d\d:\d\d)$"))
    shown = re.search(r"\d\d:\d\d", banner.inner_text())
    assert shown is not None
    local = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    minutes = {(local - timedelta(minutes=d)).strftime("%H:%M") for d in (0, 1)}
    assert shown.group() in minutes

    # The pass, computed in the page: a real pass for this visit and this step.
    image = page.locator(".qr-box img.qr")
    expect(image).to_be_visible(timeout=5_000)
    first_step = int(image.get_attribute("data-step") or "0")
    url = read_qr(page)
    assert url.startswith(f"{live.url}/scan?p=")
    claims = security.verify_pass_token(
        url.split("?p=", 1)[1],
        visit.pass_secret,
        now=datetime.now(UTC),
        step_seconds=STEP,
        accepted_steps=live.settings.pass_accepted_steps,
    )
    assert claims.visit_public_id == visit.public_id
    assert claims.step == first_step
    code = page.locator("[data-short-code]")
    expect(code).to_have_text(security.short_code(visit.code_prefix, visit.pass_secret, first_step))

    # It keeps rotating with no network.
    expect(image).not_to_have_attribute("data-step", str(first_step), timeout=(STEP + 3) * 1000)
    new_step = int(image.get_attribute("data-step") or "0")
    assert new_step > first_step
    assert read_qr(page) != url
    expect(code).to_have_text(security.short_code(visit.code_prefix, visit.pass_secret, new_step))

    # Back online: the banner goes, and the code typed in from the offline screen confirms.
    typed = code.inner_text()
    phone.set_offline(False)
    expect(banner).to_be_hidden()
    with httpx.Client(base_url=live.url) as api:
        token = api.post(
            "/api/v1/auth/token", data={"username": "manager1", "password": PASSWORD}
        ).json()["access_token"]
        confirmed = api.post(
            "/api/v1/checkins",
            json={"pass": typed},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert confirmed.status_code == 201, confirmed.text
    with Session(live.engine) as db:
        stored = db.scalar(select(Visit).where(Visit.public_id == visit.public_id))
        assert stored is not None
        assert stored.status == VisitStatus.confirmed
    assert problems == [], problems


def test_signing_out_clears_the_stored_card(
    phone: BrowserContext, fast_live: LiveServer, visit: Visit
) -> None:
    live = fast_live
    page = phone.new_page()
    sign_in(page, live, "inspector1")
    open_card_online(page, live, visit)
    # The card is there offline (so its absence below is the sign-out's doing).
    phone.set_offline(True)
    page.reload()
    expect(page.locator("main")).to_contain_text("Alpha Chemicals")
    phone.set_offline(False)
    page.reload()

    page.locator("form[action='/logout'] button").click()
    expect(page).to_have_url(re.compile(r"/login"))
    assert not card_is_stored_anywhere(page, f"{live.url}/visits/{visit.public_id}")

    phone.set_offline(True)
    # No service worker left to answer: the browser's own offline error.
    with contextlib.suppress(Error):
        page.goto(f"{live.url}/visits/{visit.public_id}")
    shown = settled_content(page)  # the browser may still be switching to its error page
    assert "Alpha Chemicals" not in shown
    assert "Alice Li" not in shown


def settled_content(page: Page) -> str:
    """The page's HTML once it has stopped navigating."""
    for _ in range(20):
        with contextlib.suppress(Error):
            page.wait_for_load_state("load")
            return page.content()
        page.wait_for_timeout(100)
    return page.content()


def card_is_stored_anywhere(page: Page, url: str) -> bool:
    stored: bool = page.evaluate(
        """async (url) => {
            for (const name of await caches.keys()) {
                if (await (await caches.open(name)).match(url)) { return true; }
            }
            return false;
        }""",
        url,
    )
    return stored
