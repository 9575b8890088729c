"""The background sweep in a running app (real uvicorn, real database): it runs off the event
loop, so a request is answered while a long sweep is in progress; one sweep at a time; and a
shutdown during a sweep stops it between two flags and waits for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.dbs import Databases
from tests.factories import World
from tests.live import LiveServer, Prepare, live_server
from tests.supervision.helpers import planned_visit
from webapp.app import SWEEP_OVERLAP
from webapp.enums import FlagKind
from webapp.supervision import service
from webapp.supervision.models import Flag

REAL_SWEEP = service.sweep_unconfirmed


@dataclass
class SlowSweep:
    """Stands in for sweep_unconfirmed: blocks its thread for `seconds` (or until told to
    stop), then runs the real sweep on the real database."""

    seconds: float
    started: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    threads: list[int] = field(default_factory=list)
    spans: list[tuple[float, float]] = field(default_factory=list)
    calls: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    stopped_early: bool = False
    running: int = 0
    most_at_once: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(
        self,
        session: Session,
        *,
        now: datetime,
        stop: Callable[[], bool] | None = None,
        ended_after: datetime | None = None,
    ) -> int:
        begun = time.monotonic()
        self.calls.append((now, ended_after))
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.threads.append(threading.get_ident())
        self.finished.clear()
        self.started.set()
        try:
            while time.monotonic() - begun < self.seconds:
                if stop is not None and stop():
                    self.stopped_early = True
                    return 0
                time.sleep(0.02)  # blocks the calling thread, as a long sweep does
            return REAL_SWEEP(session, now=now, stop=stop, ended_after=ended_after)
        finally:
            with self.lock:
                self.running -= 1
            self.spans.append((begun, time.monotonic()))
            self.started.clear()
            self.finished.set()


@contextmanager
def running_app(
    databases: Databases, tmp_path: Path, prepare: Prepare | None = None
) -> Iterator[LiveServer]:
    """The app under uvicorn in a thread, sweeping every second, real time, its own database
    (`prepare` fills it before the server starts)."""
    with live_server(
        databases, tmp_path, sweep_interval_seconds=1, prepare=prepare, name="sweeping"
    ) as app:
        yield app


def _overdue(session: Session, world: World, now: datetime) -> None:
    end = now - timedelta(hours=3)
    planned_visit(
        session,
        world,
        now,
        window_start=end - timedelta(hours=2),
        window_end=end,
        registered_at=end - timedelta(days=1),
    )


def _flagged(app: LiveServer) -> list[Any]:
    with app.session() as session:
        return list(
            session.scalars(
                select(Flag.visit_id).where(Flag.kind == FlagKind.window_passed_unconfirmed)
            )
        )


def test_a_request_is_answered_while_a_long_sweep_runs(
    databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowSweep(seconds=3)
    monkeypatch.setattr(service, "sweep_unconfirmed", slow)
    with running_app(databases, tmp_path, _overdue) as app:
        assert slow.started.wait(timeout=10), "no sweep started"
        asked = time.monotonic()
        response = httpx.get(f"{app.url}/login", timeout=10)
        answered = time.monotonic() - asked
        # Answered while the sweep is still in progress, and without waiting for it.
        assert response.status_code == 200
        assert not slow.finished.is_set()
        assert answered < 2, answered
        # The sweep ran in a thread of its own, not on the server's (event loop) thread.
        assert app.thread.ident not in slow.threads
        # ... and did its real work: the overdue visit is flagged, once.
        assert slow.finished.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not _flagged(app) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_flagged(app)) == 1


def test_one_sweep_at_a_time(
    databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each sweep outlasts the one-second interval: the next starts only after it ended.
    slow = SlowSweep(seconds=1.3)
    monkeypatch.setattr(service, "sweep_unconfirmed", slow)
    with running_app(databases, tmp_path, _overdue) as app:
        deadline = time.monotonic() + 15
        while len(slow.spans) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_flagged(app)) == 1  # two sweeps, one flag
    assert len(slow.spans) >= 2
    assert slow.most_at_once == 1
    for (_, first_end), (second_start, _) in zip(slow.spans, slow.spans[1:], strict=False):
        assert second_start >= first_end + 0.9  # the interval counts from the end
    # The first sweep of a process looks at every registered visit; the next only at windows
    # that ended since a day before the last completed sweep.
    (first_now, first_after), (_, second_after) = slow.calls[:2]
    assert first_after is None
    assert second_after == first_now - SWEEP_OVERLAP


def test_shutdown_stops_a_running_sweep_and_waits_for_it(
    databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowSweep(seconds=30)  # longer than any test: only `stop` ends it
    monkeypatch.setattr(service, "sweep_unconfirmed", slow)
    with running_app(databases, tmp_path) as app:
        assert slow.started.wait(timeout=10)
        asked = time.monotonic()
        app.server.should_exit = True
        app.thread.join(timeout=20)
        assert not app.thread.is_alive()
        # The sweep was told to stop, did so promptly, and had ended before the app did.
        assert slow.stopped_early
        assert slow.finished.is_set()
        assert time.monotonic() - asked < 10
