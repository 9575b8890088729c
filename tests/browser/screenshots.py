"""Screenshots of the main pages for the README, from the demo data in Chinese:
`make screenshots` (writes docs/screenshots/*.png)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from PIL import Image
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import select

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.browser.fakecam import FAKE_CAMERA_ARGS
from tests.live import free_port
from webapp.__main__ import migrate
from webapp.app import create_app
from webapp.clock import SystemClock
from webapp.config import Settings
from webapp.db import make_engine, make_sessionmaker
from webapp.demo import DEMO_PASSWORD, load
from webapp.enums import VisitStatus
from webapp.visits.models import Visit

os.environ.setdefault("DEMO_MODE", "true")  # a throwaway demo database, never a real one
OUT = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshots"


def sign_in(page: Page, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()


def shot_scanner(pw: Playwright, url: str, phone: dict[str, Any]) -> None:
    """The in-app scanner, the camera running (Chromium's fake camera: its test pattern)."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *FAKE_CAMERA_ARGS])
    page = browser.new_context(**phone).new_page()
    sign_in(page, url, "manager1")
    page.goto(f"{url}/scan/camera")
    page.locator("#scanner-view").wait_for(state="visible", timeout=10_000)
    page.wait_for_timeout(800)  # a few frames in the video element
    page.screenshot(path=OUT / "8-phone-scanner.png")
    browser.close()


def shot_offline_card(browser: Browser, url: str, phone: dict[str, Any], public_id: str) -> None:
    """The visit card with no network: the banner says since when; the pass is computed on
    the phone."""
    context = browser.new_context(**phone)
    page = context.new_page()
    sign_in(page, url, "inspector1")
    page.goto(f"{url}/visits/{public_id}")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    page.reload()
    context.set_offline(True)
    page.locator("#offline-banner").wait_for(state="visible")
    page.locator(".qr-box img.qr").wait_for(state="visible", timeout=10_000)
    page.screenshot(path=OUT / "9-phone-offline-card.png")
    context.set_offline(False)
    context.close()


def shot_preferences(browser: Browser, url: str, phone: dict[str, Any]) -> None:
    """Language and time zone (the header's link), as the inspector sees it."""
    context = browser.new_context(**phone)
    page = context.new_page()
    sign_in(page, url, "inspector1")
    page.goto(f"{url}/preferences")
    page.screenshot(path=OUT / "10-phone-preferences.png")
    context.close()


def shot_waiting_registration(browser: Browser, url: str, phone: dict[str, Any]) -> None:
    """A visit registered with no network, kept on the phone and shown as waiting (the
    offline registration queue, static/queue.js)."""
    context = browser.new_context(**phone)
    page = context.new_page()
    sign_in(page, url, "inspector1")
    page.goto(f"{url}/visits")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    page.reload()
    page.goto(f"{url}/visits/new")
    page.wait_for_function(
        """async (u) => { for (const n of await caches.keys()) {
            if (await (await caches.open(n)).match(u)) { return true; } } return false; }""",
        arg=f"{url}/visits/new",
        timeout=10_000,
    )
    context.set_offline(True)
    page.locator("[data-offline-entry]").select_option(index=1)
    page.locator("input[name=co_inspector_ids]").first.check()
    page.click("button[name=action][value=register]")
    page.locator("[data-queue-item]").first.wait_for(state="visible", timeout=10_000)
    page.goto(f"{url}/visits")  # from the phone's own copy: the queue is listed there too
    page.locator("[data-queue-item]").first.wait_for(state="visible", timeout=10_000)
    page.screenshot(path=OUT / "11-phone-waiting-registration.png")
    context.set_offline(False)
    context.close()


def optional(name: str, shot: Callable[[], None]) -> None:
    """A shot that depends on a part still being built: reported, not fatal."""
    try:
        shot()
    except PlaywrightError as exc:
        print(f"screenshot {name} skipped: {exc}".splitlines()[0])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    db_url = f"sqlite:///{tmp / 'shots.sqlite3'}"
    port = free_port()
    settings = Settings(
        database_url=db_url,
        demo_mode=True,
        base_url=f"http://127.0.0.1:{port}",
        sweep_interval_seconds=0,
    )
    migrate(db_url)
    engine = make_engine(db_url)
    clock = SystemClock()
    with make_sessionmaker(engine)() as session:
        load(session, now=clock.now(), settings=settings)
        today = session.scalars(
            select(Visit).where(Visit.status == VisitStatus.registered).order_by(Visit.window_start)
        ).all()
        live_visit = next(v for v in today if v.window_start <= clock.now() <= v.window_end)
        public_id = live_visit.public_id
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, clock=clock, engine=engine),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = settings.base_url
    phone: dict[str, Any] = {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        inspector = browser.new_context(**phone).new_page()
        sign_in(inspector, url, "inspector1")
        inspector.screenshot(path=OUT / "1-inspector-home.png", full_page=True)
        inspector.goto(f"{url}/visits/new")
        inspector.fill("#q", "化工")
        inspector.locator("#enterprise-results label").first.click()
        inspector.wait_for_timeout(600)
        inspector.locator("#entries input[value=extra]").check()
        inspector.wait_for_timeout(600)
        inspector.screenshot(path=OUT / "2-register.png", full_page=True)
        inspector.goto(f"{url}/visits/{public_id}")
        inspector.screenshot(path=OUT / "3-visit-card.png", full_page=True)
        code = inspector.locator("[data-short-code]").inner_text()
        shot_offline_card(browser, url, phone, public_id)  # while its pass is still live

        manager = browser.new_context(**phone).new_page()
        sign_in(manager, url, "manager1")
        manager.goto(f"{url}/scan?c={code}")
        manager.screenshot(path=OUT / "4-scan-page.png", full_page=True)
        manager.click("button.confirm")
        manager.wait_for_load_state()
        manager.screenshot(path=OUT / "5-confirmed.png", full_page=True)

        desk = browser.new_context(
            viewport={"width": 1280, "height": 860}, locale="zh-CN", timezone_id="Asia/Shanghai"
        ).new_page()
        sign_in(desk, url, "supervisor1")
        desk.goto(f"{url}/supervision/flags?state=all")
        desk.screenshot(path=OUT / "6-supervisor-flags.png", full_page=True)
        desk.goto(f"{url}/supervision/visits/{public_id}")
        desk.screenshot(path=OUT / "7-visit-history.png", full_page=True)

        # The phone: the in-app scanner, the offline card, preferences, the offline queue.
        shot_scanner(pw, url, phone)
        shot_preferences(browser, url, phone)
        optional("waiting registration", lambda: shot_waiting_registration(browser, url, phone))
        browser.close()
    server.should_exit = True
    for png in OUT.glob("*.png"):
        # 256 colours are plenty for UI screenshots and keep the repository light.
        Image.open(png).convert("RGB").quantize(256).save(png, optimize=True)
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
