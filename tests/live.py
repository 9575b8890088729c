"""A real server for tests that need one: uvicorn in a thread on 127.0.0.1, real time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.dbs import Databases
from tests.factories import World, build_world
from webapp.app import create_app
from webapp.clock import SystemClock
from webapp.config import Settings
from webapp.db import make_engine, make_sessionmaker


@dataclass
class LiveServer:
    url: str
    engine: Engine
    world: World
    settings: Settings  # the very object the app reads on every request
    server: uvicorn.Server  # `server.should_exit = True` shuts it down
    thread: threading.Thread  # the server's thread (its event loop)

    def session(self) -> Session:
        """A new session on the server's database (use it as a context manager)."""
        return make_sessionmaker(self.engine)()


Prepare = Callable[[Session, World, datetime], None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def live_server(
    databases: Databases,
    tmp_path: Path,
    *,
    sweep_interval_seconds: int = 0,
    prepare: Prepare | None = None,
    name: str = "live",
) -> Iterator[LiveServer]:
    """The app under uvicorn on a free 127.0.0.1 port, its own fresh migrated database,
    the standard world, and real time.

    `sweep_interval_seconds`: the app's background sweep (0: none, the default).
    `prepare(session, world, now)`: runs on the database before the server starts (and so
    before its first sweep); committed after it returns."""
    url = databases.new(tmp_path, name)
    port = free_port()
    settings = Settings(
        database_url=url,
        secret_key="browser-test-secret-0123456789-abcdefghijkl",
        base_url=f"http://127.0.0.1:{port}",
        sweep_interval_seconds=sweep_interval_seconds,
    )
    engine = make_engine(url)
    clock = SystemClock()
    with make_sessionmaker(engine)() as session:
        world = build_world(session, now=clock.now())
        if prepare is not None:
            prepare(session, world, clock.now())
            session.commit()
    app = create_app(settings, clock=clock, engine=engine)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield LiveServer(
            url=settings.base_url,
            engine=engine,
            world=world,
            settings=settings,
            server=server,
            thread=thread,
        )
    finally:
        # Also when the test failed: no server thread or database outlives it.
        server.should_exit = True
        thread.join(timeout=20)
        engine.dispose()
        databases.drop(url)


def app_routes(app: Any) -> list[tuple[str, frozenset[str], Any]]:
    """Every (path, methods, endpoint) the app serves, through included routers too (FastAPI
    keeps included routers as branches, not as a flat list)."""
    found: list[tuple[str, frozenset[str], Any]] = []

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if hasattr(route, "effective_route_contexts"):
                for ctx in route.effective_route_contexts():
                    found.append((ctx.path, frozenset(ctx.methods or ()), ctx.endpoint))
            elif isinstance(getattr(route, "methods", None), set | frozenset):
                found.append((route.path, frozenset(route.methods), route.endpoint))

    walk(list(app.routes))
    return found
