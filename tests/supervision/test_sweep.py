"""The sweep: a registered visit whose window (plus the tolerance) passed unconfirmed is
flagged exactly once, however often and by however many workers it runs."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.supervision.helpers import planned_visit
from webapp.__main__ import main
from webapp.audit.models import AuditEvent
from webapp.clock import FixedClock
from webapp.config import get_settings
from webapp.db import make_sessionmaker
from webapp.enums import FlagKind
from webapp.supervision import service
from webapp.supervision.models import Flag
from webapp.visits.models import Visit

TOLERANCE = timedelta(minutes=get_settings().window_tolerance_minutes)


def _visit(
    db: Session, world: World, now: datetime, *, ended: timedelta, status: str = "registered"
) -> Visit:
    end = now - ended
    return planned_visit(
        db,
        world,
        now,
        status=status,
        window_start=end - timedelta(hours=2),
        window_end=end,
        registered_at=end - timedelta(days=1),
    )


def _flags(db: Session) -> list[Flag]:
    db.rollback()
    return list(
        db.scalars(
            select(Flag).where(Flag.kind == FlagKind.window_passed_unconfirmed).order_by(Flag.id)
        )
    )


def test_sweep_flags_each_overdue_visit_once(db: Session, world: World, clock: FixedClock) -> None:
    now = clock.now()
    overdue = _visit(db, world, now, ended=TOLERANCE + timedelta(minutes=1))
    long_overdue = _visit(db, world, now, ended=timedelta(days=3))
    _visit(db, world, now, ended=TOLERANCE + timedelta(hours=1), status="confirmed")
    _visit(db, world, now, ended=TOLERANCE + timedelta(hours=1), status="cancelled")
    within_tolerance = _visit(db, world, now, ended=TOLERANCE - timedelta(minutes=1))
    future = _visit(db, world, now, ended=-timedelta(hours=3))
    db.commit()

    assert service.sweep_unconfirmed(db, now=now) == 2
    flags = _flags(db)
    assert {f.visit_id for f in flags} == {overdue.id, long_overdue.id}
    for flag in flags:
        assert flag.dedupe_key == f"visit:{flag.visit_id}"
        assert flag.agency_id == world.county.id
        assert flag.enterprise_id == world.ent_a.id
        assert flag.raised_at == now
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "flag.raised")).all()
    assert len(events) == 2
    assert all(e.actor_id is None for e in events)

    # again, and again later: nothing new until the next window passes
    assert service.sweep_unconfirmed(db, now=now) == 0
    clock.advance(minutes=2)
    assert service.sweep_unconfirmed(db, now=clock.now()) == 1
    assert {f.visit_id for f in _flags(db)} == {overdue.id, long_overdue.id, within_tolerance.id}
    clock.advance(hours=6)
    assert service.sweep_unconfirmed(db, now=clock.now()) == 1
    assert service.sweep_unconfirmed(db, now=clock.now()) == 0
    assert len(_flags(db)) == 4
    assert future.id in {f.visit_id for f in _flags(db)}


def test_a_visit_confirmed_late_but_within_tolerance_is_not_flagged(
    db: Session, world: World, now: datetime
) -> None:
    _visit(db, world, now, ended=TOLERANCE + timedelta(hours=1), status="confirmed")
    db.commit()
    assert service.sweep_unconfirmed(db, now=now) == 0
    assert _flags(db) == []


def test_several_workers_raise_one_flag_per_visit(
    engine: Engine, db: Session, world: World, now: datetime
) -> None:
    visits = [_visit(db, world, now, ended=timedelta(hours=i + 1)) for i in range(8)]
    db.commit()
    factory = make_sessionmaker(engine)
    counts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            with factory() as session:
                counts.append(service.sweep_unconfirmed(session, now=now))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(counts) == len(visits)
    flags = _flags(db)
    assert sorted(f.visit_id or 0 for f in flags) == sorted(v.id for v in visits)
    assert (
        db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "flag.raised")) == 8
    )


def test_sweep_command_line(
    db_url: str,
    db: Session,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The command line uses the real clock: a window that ended in 2020 is overdue.
    long_ago = datetime(2020, 1, 1, 12, tzinfo=UTC)
    visit = _visit(db, world, long_ago, ended=timedelta(hours=1))
    db.commit()
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        assert main(["sweep"]) == 0
        assert "1 flag(s) raised" in capsys.readouterr().out
        assert main(["sweep"]) == 0
        assert "0 flag(s) raised" in capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    assert [f.visit_id for f in _flags(db)] == [visit.id]


def test_ended_after_limits_the_sweep_to_recent_windows(
    db: Session, world: World, now: datetime
) -> None:
    # The app's loop, after a completed sweep, looks only at windows that ended since a day
    # before it; the command line and a process's first sweep look at all of them.
    old = _visit(db, world, now, ended=timedelta(days=3))
    recent = _visit(db, world, now, ended=TOLERANCE + timedelta(hours=2))
    db.commit()
    assert service.sweep_unconfirmed(db, now=now, ended_after=now - timedelta(days=1)) == 1
    assert [f.visit_id for f in _flags(db)] == [recent.id]
    assert service.sweep_unconfirmed(db, now=now) == 1
    assert {f.visit_id for f in _flags(db)} == {old.id, recent.id}
