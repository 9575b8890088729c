"""Real-browser tests: Debian's Chromium driven by Playwright, against the app served by
uvicorn on a free 127.0.0.1 port, with its own migrated SQLite database and real time."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine

from tests.factories import World, build_world
from webapp.app import create_app
from webapp.clock import SystemClock
from webapp.config import Settings
from webapp.db import make_engine, make_sessionmaker

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


@dataclass
class LiveServer:
    url: str
    engine: Engine
    world: World
    settings: Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live(template_db: Path, tmp_path: Path) -> Iterator[LiveServer]:
    path = tmp_path / "live.sqlite3"
    shutil.copyfile(template_db, path)
    url = f"sqlite:///{path}"
    port = _free_port()
    settings = Settings(
        database_url=url,
        secret_key="browser-test-secret-0123456789-abcdefghijkl",
        base_url=f"http://127.0.0.1:{port}",
        sweep_interval_seconds=0,
    )
    engine = make_engine(url)
    clock = SystemClock()
    with make_sessionmaker(engine)() as session:
        world = build_world(session, now=clock.now())
    app = create_app(settings, clock=clock, engine=engine)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield LiveServer(url=settings.base_url, engine=engine, world=world, settings=settings)
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
