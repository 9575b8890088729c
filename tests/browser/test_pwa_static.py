"""Static files on the phone (Debian's Chromium): a deploy that changes a file reaches a phone
that already has the app (the service worker is installed again under a new version and
stores the new file), and the visit card still opens with no network afterwards."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.test_offline_card import open_card_online, sign_in
from tests.live import LiveServer
from webapp import static_files
from webapp.visits.models import Visit


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="en-GB"
    )
    yield context
    context.close()


def stored_css(page: Page) -> str:
    text: str = page.evaluate(
        """async () => {
            const hit = await caches.match("/static/app.css", { cacheName: "shell-v2" });
            return hit ? await hit.text() : "";
        }"""
    )
    return text


def active_worker(page: Page) -> str:
    """The active service worker's script, as a path."""
    url: str = page.evaluate(
        """async () => {
            const r = await navigator.serviceWorker.getRegistration();
            if (!r || !r.active) { return ""; }
            const u = new URL(r.active.scriptURL);
            return u.pathname + u.search;
        }"""
    )
    return url


def test_a_deploy_reaches_the_phone_and_the_card_still_opens_offline(
    phone: BrowserContext, live: LiveServer, visit: Visit, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = phone.new_page()
    sign_in(page, live, "inspector1")
    open_card_online(page, live, visit)
    old_url = static_files.assets.url("app.css")
    assert "deployed" not in stored_css(page)
    assert active_worker(page) == f"/sw.js?v={static_files.sw_build()}"

    # A deploy: app.css changes (in the server's memory, as a new file on disk would).
    current = static_files.assets.get("app.css")
    assert current is not None
    deployed = current.body + b"\n/* deployed */\n"
    static_files.assets._assets["app.css"] = dataclasses.replace(
        current, body=deployed, gzipped=None, digest="deployed0001"
    )
    monkeypatch.setitem(static_files.assets._checked, "app.css", time.monotonic() + 3600)
    assert static_files.assets.url("app.css") != old_url
    try:
        page.goto(f"{live.url}/visits/{visit.public_id}")
        assert f'href="{static_files.assets.url("app.css")}"' in page.content()
        # The worker, registered under a new version, is installed again and stores it.
        build = static_files.sw_build()
        deadline = time.monotonic() + 15
        while "deployed" not in stored_css(page) or active_worker(page) != f"/sw.js?v={build}":
            assert time.monotonic() < deadline, "the new app.css never reached the phone"
            time.sleep(0.2)

        phone.set_offline(True)
        page.reload()
        expect(page.locator("#pass")).to_be_visible()
        css = page.evaluate(
            "async () => (await (await fetch('/static/app.css?v=deployed0001')).text())"
        )
        assert "deployed" in css
    finally:
        phone.set_offline(False)
        static_files.assets._assets["app.css"] = current
