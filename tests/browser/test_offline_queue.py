"""The offline registration queue in Debian's Chromium: a visit registered with no network is
kept on the phone and shown as waiting, sent exactly once when the network returns (a send
whose answer is lost creates nothing twice), a refusal that comes back later is shown with the
server's message, and signing out with an item waiting asks first and leaves nothing behind."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, Route, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.browser.test_offline_card import sign_in, watch_console
from tests.live import LiveServer
from webapp.auth.models import IdempotencyRecord
from webapp.visits.models import Visit

SHANGHAI = ZoneInfo("Asia/Shanghai")


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


def visits(live: LiveServer) -> list[Visit]:
    with Session(live.engine) as db:
        return list(db.scalars(select(Visit)))


def keys(live: LiveServer) -> list[str]:
    with Session(live.engine) as db:
        return list(db.scalars(select(IdempotencyRecord.key)))


def stored(page: Page, path: str) -> bool:
    found: bool = page.evaluate(
        """async (url) => {
            for (const name of await caches.keys()) {
                if (await (await caches.open(name)).match(url)) { return true; }
            }
            return false;
        }""",
        path,
    )
    return found


def queued(page: Page) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = page.evaluate("registrationQueue.items()")
    return items


def wait_until(page: Page, check: Any, what: str, seconds: float = 10) -> None:
    """Wait while Playwright runs its handlers (a route, a dialog): no bare sleep."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        page.wait_for_timeout(100)


def open_form_online(page: Page, live: LiveServer) -> None:
    """Home and the form for Alpha Chemicals' plan entry, opened online once the service
    worker controls the page (so both are stored on the phone)."""
    sign_in(page, live, "inspector1")
    page.goto(f"{live.url}/visits")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    page.reload()
    form_url = f"{live.url}/visits/new?entry={live.world.entry_a.id}"
    page.goto(form_url)
    wait_until(page, lambda: stored(page, f"{live.url}/visits"), "home never stored")
    wait_until(page, lambda: stored(page, form_url), "form never stored")


def fill_and_queue(page: Page, live: LiveServer, *, past: bool = False) -> dict[str, Any]:
    """Offline: choose bob as co-inspector (the plan entry is preselected), register."""
    expect(page.locator("[data-offline-only]").first).to_be_visible()
    page.check(f"input[name=co_inspector_ids][value='{live.world.bob.id}']")
    if past:
        start = datetime.now(SHANGHAI) - timedelta(hours=3)
        page.fill("#window_start", start.strftime("%Y-%m-%dT%H:%M"))
        page.fill("#window_end", (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.click("button[name=action][value=register]")
    item = page.locator("[data-queue-item]")
    expect(item).to_have_count(1)
    expect(item).to_have_attribute("data-status", "waiting")
    items = queued(page)
    assert len(items) == 1
    return items[0]


def test_registered_offline_waits_then_is_sent_once_when_the_network_returns(
    phone: BrowserContext, live: LiveServer
) -> None:
    page = phone.new_page()
    problems: list[str] = []
    watch_console(page, problems)
    open_form_online(page, live)
    phone.set_offline(True)
    item = fill_and_queue(page, live)

    # Shown as waiting, with what it is and since when; no pass yet.
    box = page.locator("[data-queue]")
    expect(box).to_contain_text("Alpha Chemicals")
    expect(box).to_contain_text(re.compile("待发送|Waiting to be sent"))
    expect(box).to_contain_text(re.compile(r"\d\d:\d\d"))
    assert item["userId"] == str(live.world.inspector1.id)
    assert item["key"]
    assert visits(live) == []

    # The home page, reloaded with no network, shows it too.
    response = page.goto(f"{live.url}/visits")
    assert response is not None
    assert response.from_service_worker
    expect(page.locator("[data-queue-item]")).to_have_count(1)
    expect(page.locator("[data-queue]")).to_contain_text("Alpha Chemicals")
    assert visits(live) == []

    # Back online: sent once, under the key the form was given.
    phone.set_offline(False)
    expect(page.locator("[data-queue-item]")).to_have_count(0, timeout=10_000)
    sent = page.locator("[data-queue-sent-item] a")
    expect(sent).to_be_visible()
    assert queued(page) == []
    found = visits(live)
    assert len(found) == 1
    assert keys(live) == [item["key"]]
    # The card opens.
    sent.click()
    expect(page).to_have_url(f"{live.url}/visits/{found[0].public_id}")
    expect(page.locator("main")).to_contain_text("Alpha Chemicals")
    assert problems == [] or all("ERR_INTERNET_DISCONNECTED" in p for p in problems), problems


def test_a_send_whose_answer_is_lost_creates_nothing_twice(
    phone: BrowserContext, live: LiveServer
) -> None:
    page = phone.new_page()
    open_form_online(page, live)
    phone.set_offline(True)
    item = fill_and_queue(page, live)

    posts: list[int] = []

    def lose_first_answer(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        posts.append(1)
        if len(posts) == 1:
            route.fetch()  # the server registers the visit...
            route.abort("connectionreset")  # ...but the phone never hears back
        else:
            route.continue_()

    phone.route(re.compile(r".*/visits/new$"), lose_first_answer)
    phone.set_offline(False)
    wait_until(
        page,
        lambda: len(posts) == 1 and queued(page)[0]["attempts"] == 1,
        f"no first send {posts} {queued(page)} {len(visits(live))}",
    )
    assert len(visits(live)) == 1  # it did reach the server
    expect(page.locator("[data-queue-item]")).to_have_count(1)
    assert queued(page)[0]["key"] == item["key"]

    page.click("[data-queue-send]")
    expect(page.locator("[data-queue-item]")).to_have_count(0, timeout=10_000)
    assert len(posts) == 2
    assert queued(page) == []
    assert len(visits(live)) == 1
    assert keys(live) == [item["key"]]
    expect(page.locator("[data-queue-sent-item] a")).to_have_attribute(
        "href", f"/visits/{visits(live)[0].public_id}"
    )


def test_a_refusal_that_comes_back_later_is_shown_and_can_be_discarded(
    phone: BrowserContext, live: LiveServer
) -> None:
    page = phone.new_page()
    open_form_online(page, live)
    phone.set_offline(True)
    fill_and_queue(page, live, past=True)  # the window is over by the time it is sent

    phone.set_offline(False)
    item = page.locator("[data-queue-item]")
    expect(item).to_have_attribute("data-status", "refused", timeout=10_000)
    expect(item).to_contain_text(
        re.compile("检查时段已结束，请在出发前报备。|The window is already over")
    )
    expect(item.locator("[data-queue-edit]")).to_be_visible()
    assert visits(live) == []
    assert len(queued(page)) == 1  # kept until discarded

    # Not sent again by itself: a reload leaves it refused, nothing created.
    page.reload()
    expect(page.locator("[data-queue-item]")).to_have_attribute("data-status", "refused")
    page.once("dialog", lambda d: d.accept())
    page.click("[data-queue-discard]")
    expect(page.locator("[data-queue-item]")).to_have_count(0)
    assert queued(page) == []
    assert visits(live) == []


def test_signing_out_with_an_item_waiting_asks_first_and_leaves_nothing_for_the_next_user(
    phone: BrowserContext, live: LiveServer
) -> None:
    page = phone.new_page()
    open_form_online(page, live)
    phone.set_offline(True)
    fill_and_queue(page, live)
    # The server is unreachable for registrations: the item stays waiting while online.
    phone.route(
        re.compile(r".*/visits/new$"),
        lambda route: (
            route.abort("connectionrefused")
            if route.request.method == "POST"
            else route.continue_()
        ),
    )
    phone.set_offline(False)
    page.goto(f"{live.url}/visits")
    expect(page.locator("[data-queue-item]")).to_have_count(1)

    asked: list[str] = []

    def refuse(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", refuse)
    page.locator("form[action='/logout'] button").click()
    wait_until(page, lambda: len(asked) == 1, "no confirmation asked")
    assert "1" in asked[0]
    expect(page).to_have_url(f"{live.url}/visits")  # still signed in, item still there
    expect(page.locator("[data-queue-item]")).to_have_count(1)

    page.once("dialog", lambda d: d.accept())
    page.locator("form[action='/logout'] button").click()
    expect(page).to_have_url(re.compile(r"/login"))

    sign_in(page, live, "inspector2")
    page.goto(f"{live.url}/visits")
    expect(page.locator("[data-queue]")).to_be_hidden()
    assert queued(page) == []
    assert visits(live) == []


def test_a_refused_registration_can_be_edited_and_sent_again(
    phone: BrowserContext, live: LiveServer
) -> None:
    page = phone.new_page()
    open_form_online(page, live)
    phone.set_offline(True)
    refused = fill_and_queue(page, live, past=True)
    phone.set_offline(False)
    expect(page.locator("[data-queue-item]")).to_have_attribute(
        "data-status", "refused", timeout=10_000
    )

    page.click("[data-queue-edit]")
    expect(page).to_have_url(re.compile(r"/visits/new#queued="))
    expect(page.locator("[data-queue-editing]")).to_be_visible()
    expect(
        page.locator(f"input[name=co_inspector_ids][value='{live.world.bob.id}']")
    ).to_be_checked()
    # Still the key of the refused send until the inspector changes something.
    assert page.input_value("input[name=idempotency_key]") == refused["key"]
    start = datetime.now(SHANGHAI) + timedelta(hours=2)
    page.fill("#window_start", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#window_end", (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    assert page.input_value("input[name=idempotency_key]") != refused["key"]
    page.click("button[name=action][value=register]")

    expect(page.locator("[data-queue-sent-item] a")).to_be_visible(timeout=10_000)
    expect(page.locator("[data-queue-item]")).to_have_count(0)
    assert queued(page) == []
    found = visits(live)
    assert len(found) == 1
    assert found[0].enterprise_id == live.world.ent_a.id
    assert found[0].plan_entry_id == live.world.entry_a.id
    assert refused["key"] not in keys(live)


def test_offline_the_enterprise_comes_from_the_months_plan_or_a_typed_credit_code(
    phone: BrowserContext, live: LiveServer
) -> None:
    world = live.world
    page = phone.new_page()
    sign_in(page, live, "inspector1")
    page.goto(f"{live.url}/visits/new")
    page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=10_000)
    page.reload()
    wait_until(page, lambda: stored(page, f"{live.url}/visits/new"), "form never stored")
    phone.set_offline(True)
    page.reload()
    expect(page.locator("[data-offline-only]").first).to_be_visible()
    expect(page.locator("#q")).to_be_visible()

    # From this month's plan (stored in the page).
    page.select_option("[data-offline-entry]", str(world.entry_b.id))
    page.check(f"input[name=co_inspector_ids][value='{world.bob.id}']")
    page.click("button[name=action][value=register]")
    expect(page.locator("[data-queue-item]")).to_have_count(1)

    # A credit code typed in, for an extra visit.
    page.fill("#enterprise_uscc", world.ent_a.uscc)
    page.check("input[name=plan_entry_id][value=extra]")
    page.select_option("#extra_reason", "complaint")
    page.fill("#extra_reason_text", "12345 hotline: blocked fire exits in workshop 2")
    page.check(f"input[name=item_ids][value='{world.items[0].id}']")
    page.click("button[name=action][value=register]")
    expect(page.locator("[data-queue-item]")).to_have_count(2)
    expect(page.locator("[data-queue]")).to_contain_text(world.ent_a.uscc)
    assert visits(live) == []

    phone.set_offline(False)
    expect(page.locator("[data-queue-item]")).to_have_count(0, timeout=15_000)
    by_enterprise = {v.enterprise_id: v for v in visits(live)}
    assert set(by_enterprise) == {world.ent_a.id, world.ent_b.id}
    assert by_enterprise[world.ent_b.id].plan_entry_id == world.entry_b.id
    assert by_enterprise[world.ent_a.id].plan_entry_id is None
