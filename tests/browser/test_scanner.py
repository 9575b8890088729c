"""The in-app scanner in a real browser: a second Chromium whose camera is a Y4M video of the
pass read off the inspector's screen; a camera that is refused; another enterprise's pass
through the camera; and the language switch in the header."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, BrowserType, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, alpha_visit
from tests.browser.fakecam import FAKE_CAMERA_ARGS, write_qr_video
from tests.browser.test_loop import sign_in, watch_console
from tests.live import LiveServer
from tests.qr import qr_codes
from webapp.checkin.models import Scan
from webapp.checkin.passes import current_pass
from webapp.enums import ScanOutcome, VisitStatus
from webapp.visits.models import Visit
from webapp.web import translate

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}

DENIED = (
    "The camera is not allowed for this page. Type the code shown under the QR code below, "
    "or allow the camera in your browser settings and reload the page."
)
NOT_A_PASS = (
    "This code is not an inspection pass. Point the camera at the QR code on the inspector's "
    "phone, or type the code shown under it."
)


def zh(message: str) -> str:
    """What a zh-CN user reads for an English msgid."""
    return translate("zh_CN", message)


LaunchCamera = Callable[[list[str]], Browser]


@pytest.fixture
def launch_camera(browser_type: BrowserType) -> Iterator[LaunchCamera]:
    """A second Chromium with extra flags (the fake camera), closed after the test."""
    launched: list[Browser] = []

    def launch(extra: list[str]) -> Browser:
        browser = browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra])
        launched.append(browser)
        return browser

    yield launch
    for browser in launched:
        browser.close()


def open_visit(live: LiveServer) -> str:
    """A planned visit of Alpha Chemicals whose window is open now; its public id."""
    world = live.world
    now = datetime.now(UTC)
    with Session(live.engine) as db:
        visit = alpha_visit(
            db,
            world,
            now=now,
            window_start=now - timedelta(minutes=10),
            registered_at=now - timedelta(days=1),
        )
        db.commit()
        return visit.public_id


def pass_on_screen(inspector: BrowserContext, live: LiveServer, public_id: str) -> str:
    """The inspector's phone shows the visit card; the QR code is read off its screen."""
    page = inspector.new_page()
    sign_in(page, live, "inspector1")
    page.goto(f"{live.url}/visits/{public_id}")
    qr = page.locator(".qr-box svg")
    expect(qr).to_be_visible()
    found = qr_codes(qr.screenshot())
    assert len(found) == 1
    url = found[0].text
    assert url.startswith(f"{live.url}/scan?p=")
    return url


def current_code(live: LiveServer, public_id: str) -> str:
    with Session(live.engine) as db:
        visit = db.scalar(select(Visit).where(Visit.public_id == public_id))
        assert visit is not None
        return current_pass(visit, now=datetime.now(UTC), settings=live.settings).code


def scans_of(live: LiveServer, public_id: str) -> tuple[Visit, list[Scan]]:
    with Session(live.engine) as db:
        visit = db.scalar(select(Visit).where(Visit.public_id == public_id))
        assert visit is not None
        scans = list(db.scalars(select(Scan).where(Scan.visit_id == visit.id)))
        db.expunge_all()
        return visit, scans


def test_the_manager_scans_the_pass_with_the_in_app_scanner(
    browser: Browser, launch_camera: LaunchCamera, live: LiveServer, tmp_path: Path
) -> None:
    problems: list[str] = []
    public_id = open_visit(live)
    inspector = browser.new_context(**PHONE)  # type: ignore[arg-type]
    url = pass_on_screen(inspector, live, public_id)

    # The manager's phone: its camera films the inspector's screen (the pass rotates every
    # PASS_STEP, so the video is made right before it is needed).
    video = write_qr_video(tmp_path / "pass.y4m", url)
    camera = launch_camera([*FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={video}"])
    manager = camera.new_context(**PHONE)  # type: ignore[arg-type]
    mpage = manager.new_page()
    watch_console(mpage, problems)
    sign_in(mpage, live, "manager1")
    mpage.goto(f"{live.url}/enterprise")
    mpage.click("a[href='/scan/camera']")
    # The scanner reads the pass and opens the scan page by itself.
    mpage.wait_for_url(f"{live.url}/scan?p=*", timeout=15_000)
    assert mpage.url == url
    expect(mpage.locator("main")).to_contain_text("Alpha Chemicals")
    expect(mpage.locator("main")).to_contain_text("Alice Li")
    mpage.click("button.confirm")
    expect(mpage.locator(".notice.ok")).to_be_visible()

    visit, scans = scans_of(live, public_id)
    assert visit.status == VisitStatus.confirmed
    confirmed = [s for s in scans if s.outcome == ScanOutcome.confirmed]
    assert len(confirmed) == 1
    assert confirmed[0].presented_as == "url"  # the scanned URL, not a typed code

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en")
    dpage = desk.new_page()
    watch_console(dpage, problems)
    sign_in(dpage, live, "supervisor1")
    dpage.goto(f"{live.url}/supervision/visits/{public_id}")
    expect(dpage.locator("main")).to_contain_text("Alpha Chemicals")
    expect(dpage.locator("main")).to_contain_text("manager1")
    assert problems == [], problems
    for context in (inspector, manager, desk):
        context.close()


def test_a_denied_camera_leads_to_the_code_entry(
    launch_camera: LaunchCamera, live: LiveServer
) -> None:
    public_id = open_visit(live)
    # A camera exists but the user refused it: no fake-UI flag, no permission granted.
    camera = launch_camera(["--use-fake-device-for-media-stream"])
    manager = camera.new_context(**PHONE)  # type: ignore[arg-type]
    page = manager.new_page()
    problems: list[str] = []
    watch_console(page, problems)
    sign_in(page, live, "manager1")
    page.goto(f"{live.url}/scan/camera")
    status = page.locator("#scanner-status")
    expect(status).to_have_attribute("data-state", "fallback")
    expect(status).to_have_text(zh(DENIED))  # in the user's language
    expect(page.locator("#scanner-view")).to_be_hidden()
    expect(page.locator(".notice.bad")).to_have_count(0)  # a way on, not an error box
    # The way on: type the short code; the code field already has the focus.
    expect(page.locator("#code")).to_be_focused()
    page.keyboard.type(current_code(live, public_id))
    page.locator("#scanner-code button[type=submit]").click()
    expect(page).to_have_url(re.compile(re.escape(f"{live.url}/scan?c=")))
    expect(page.locator("main")).to_contain_text("Alpha Chemicals")
    expect(page.locator("button.confirm")).to_be_visible()
    assert problems == [], problems
    manager.close()


def test_a_code_that_is_not_a_pass_gets_a_plain_message(
    launch_camera: LaunchCamera, live: LiveServer, tmp_path: Path
) -> None:
    video = write_qr_video(tmp_path / "other.y4m", "https://example.com/scan?p=a.b.c")
    camera = launch_camera([*FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={video}"])
    manager = camera.new_context(**PHONE)  # type: ignore[arg-type]
    page = manager.new_page()
    sign_in(page, live, "manager1")
    page.goto(f"{live.url}/scan/camera")
    status = page.locator("#scanner-status")
    expect(status).to_have_attribute("data-state", "not-pass", timeout=15_000)
    expect(status).to_have_text(zh(NOT_A_PASS))
    assert page.url == f"{live.url}/scan/camera"  # stayed: another site's code is not followed
    expect(page.locator("#code")).to_be_visible()
    manager.close()


def test_another_enterprises_pass_is_refused_as_the_manager_sees_it(
    browser: Browser, launch_camera: LaunchCamera, live: LiveServer, tmp_path: Path
) -> None:
    public_id = open_visit(live)
    inspector = browser.new_context(**PHONE)  # type: ignore[arg-type]
    url = pass_on_screen(inspector, live, public_id)
    video = write_qr_video(tmp_path / "pass.y4m", url)
    camera = launch_camera([*FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={video}"])
    other = camera.new_context(**PHONE)  # type: ignore[arg-type]
    page = other.new_page()
    sign_in(page, live, "manager2")  # Beta's manager, shown Alpha's pass
    page.goto(f"{live.url}/scan/camera")
    page.wait_for_url(f"{live.url}/scan?p=*", timeout=15_000)
    main = page.locator("main")
    expect(main.locator(".refusal")).to_be_visible()
    expect(main).not_to_contain_text("Alpha Chemicals")
    expect(page.locator("button.confirm")).to_have_count(0)
    page.locator("form[action='/scan'] button[type=submit]").click()
    expect(page.locator("main h1")).to_have_text(zh("Scan refused"))
    expect(main.locator(".refusal")).to_be_visible()
    expect(main).not_to_contain_text("Alpha Chemicals")

    visit, _ = scans_of(live, public_id)
    assert visit.status == VisitStatus.registered  # nothing confirmed
    with Session(live.engine) as db:
        scans = list(db.scalars(select(Scan).where(Scan.user_id == live.world.manager_b.id)))
        assert [(s.outcome, s.presented_as) for s in scans] == [(ScanOutcome.refused, "url")]
    inspector.close()
    other.close()


def test_the_language_switch_is_kept_across_pages(browser: Browser, live: LiveServer) -> None:
    context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    page: Page = context.new_page()
    sign_in(page, live, "manager1")
    page.goto(f"{live.url}/scan/camera")
    html = page.locator("html")
    expect(html).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text(zh("Scan the pass"))
    page.locator("header button[name=lang][value=en]").click()
    expect(html).to_have_attribute("lang", "en")
    assert page.url == f"{live.url}/scan/camera"  # back on the same page
    expect(page.locator("h1")).to_have_text("Scan the pass")
    # Kept in a cookie: another page is in English too.
    page.goto(f"{live.url}/enterprise")
    expect(html).to_have_attribute("lang", "en")
    expect(page.locator("a.scan-camera")).to_have_text("Scan the pass")
    assert any(c["name"] == "lang" and c["value"] == "en" for c in context.cookies())
    page.locator("header button[name=lang][value=zh_CN]").click()
    expect(html).to_have_attribute("lang", "zh-CN")
    page.goto(f"{live.url}/scan/enter")
    expect(html).to_have_attribute("lang", "zh-CN")
    expect(page.locator("a.scan-camera")).to_have_text(zh("Scan with this phone's camera"))
    context.close()
