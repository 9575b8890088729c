"""Installability, by Chromium's own check (`Page.getInstallabilityErrors` over CDP). A normal
Playwright context is incognito (always `in-incognito`), so a persistent profile is used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.live import LiveServer


def installability_errors(page: Any) -> list[dict[str, Any]]:
    cdp = page.context.new_cdp_session(page)
    found: list[dict[str, Any]] = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    return found


def test_chromium_finds_the_app_installable(
    playwright: Playwright, live: LiveServer, tmp_path: Path
) -> None:
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    try:
        page = context.new_page()
        page.goto(f"{live.url}/login")
        # The service worker installs (every shell file it pre-caches was there).
        page.wait_for_function(
            "navigator.serviceWorker.ready.then(r => r.active !== null)", timeout=10_000
        )
        assert installability_errors(page) == []
        manifest = context.new_cdp_session(page).send("Page.getAppManifest")
        assert manifest["url"] == f"{live.url}/manifest.webmanifest"
        assert manifest["errors"] == []
    finally:
        context.close()


def test_the_check_does_report_errors(browser: Browser, live: LiveServer) -> None:
    """The same call in an incognito context reports it: the check above can fail."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live.url}/login")
        errors = installability_errors(page)
        assert any(e["errorId"] == "in-incognito" for e in errors)
    finally:
        context.close()
