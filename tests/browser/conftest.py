"""Real-browser tests: Debian's Chromium driven by Playwright, against the app served by
uvicorn on a free 127.0.0.1 port, with its own migrated SQLite database and real time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.dbs import Databases
from tests.factories import World, make_visit
from tests.live import LiveServer, live_server
from tests.visits.helpers import planned
from webapp.auth.models import User
from webapp.visits import service
from webapp.visits.models import Visit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's Chromium is missing: run `make system-deps` (make test does).")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # A phone: 390 px wide, touch, high density.
    return {
        **browser_context_args,
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 3,
        "is_mobile": True,
        "has_touch": True,
        "locale": "zh-CN",
        "timezone_id": "Asia/Shanghai",
    }


@pytest.fixture
def live(databases: Databases, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(databases, tmp_path) as server:
        yield server


def alpha_visit(db: Session, world: World, *, now: datetime, **fields: Any) -> Visit:
    """The browser tests' visit: Alpha Chemicals, planned (entry A), the county's alice and
    bob on two items, registered by inspector1; `fields` as `make_visit` takes them (the
    window, the status, ...)."""
    return make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob],
        items=world.items[:2],
        registered_by=world.inspector1,
        now=now,
        plan_entry=world.entry_a,
        **fields,
    )


def register_open_visit(live: LiveServer) -> Visit:
    """alice (inspector1) and bob at Alpha Chemicals, the window open now, registered through
    the service as the app registers it (with the live server's settings)."""
    now = datetime.now(UTC)
    with Session(live.engine, expire_on_commit=False) as db:
        actor = db.get(User, live.world.inspector1.id)
        assert actor is not None
        data = planned(
            live.world,
            now,
            window_start=now - timedelta(minutes=5),
            window_end=now + timedelta(hours=2),
        )
        return service.register_visit(db, actor=actor, data=data, now=now, settings=live.settings)


@pytest.fixture
def visit(live: LiveServer) -> Visit:
    return register_open_visit(live)
