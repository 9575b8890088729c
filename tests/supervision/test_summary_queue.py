"""The report summary's queue (summary.mark_written / the hooks → report_summary_queue →
summary.catch_up): a write queues its visits in its own transaction and leaves the summary's
rows alone; a rolled-back write queues nothing; the report's pages, the check and the
background sweep apply the queue; two catch-ups at once apply each visit once."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, event, false, func, select
from sqlalchemy.orm import Session

from tests.checkin.helpers import make_visit, url_of
from tests.dbs import postgresql_only
from tests.factories import World
from webapp.app import _sweep_once
from webapp.checkin import service as checkin
from webapp.config import Settings, get_settings
from webapp.db import begin_write, make_sessionmaker
from webapp.enums import VisitStatus
from webapp.supervision import reports, summary
from webapp.supervision.models import ReportSummaryQueue, ReportVisitUnit
from webapp.visits.models import Visit


@pytest.fixture
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


def _queued(db: Session) -> list[int]:
    ids = list(db.scalars(select(ReportSummaryQueue.visit_id).order_by(ReportSummaryQueue.id)))
    db.rollback()
    return ids


def _inspection(db: Session, visit_id: int, agency_id: int) -> int | None:
    """The visit's own-work row for the agency, read without catching up."""
    found = db.scalar(
        select(ReportVisitUnit.inspection).where(
            ReportVisitUnit.visit_id == visit_id,
            ReportVisitUnit.agency_id == agency_id,
            ReportVisitUnit.tree == false(),
        )
    )
    db.rollback()
    return found


def _confirm(db: Session, world: World, visit: Visit, now: datetime, settings: Settings) -> None:
    result = checkin.scan_pass(
        db,
        actor=world.manager_a,
        presented=url_of(visit, now=now, settings=settings),
        device_time=None,
        now=now,
        settings=settings,
        idempotency_key=None,
    )
    assert result.reason_code is None, result.reason_code


def _confirmed_only_queued(db: Session, world: World, now: datetime, settings: Settings) -> int:
    """A visit registered (its queue row applied), then confirmed: the queue holds it once."""
    visit = make_visit(db, world, now=now)
    visit_id = visit.id  # (read now: reading it later would begin a read transaction)
    summary.catch_up(db)  # the registration's queue row
    db.rollback()
    _confirm(db, world, visit, now, settings)
    assert _queued(db) == [visit_id]
    return visit_id


def test_a_confirmation_queues_its_visit_and_catch_up_applies_it(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    visit_id = visit.id  # (read now: reading it later would begin a read transaction)
    summary.catch_up(db)
    db.rollback()
    assert _queued(db) == []
    assert not _inspection(db, visit_id, world.county.id)
    _confirm(db, world, visit, now, settings)
    # Committed with the confirmation: the queue row; not yet: the summary's rows.
    assert _queued(db) == [visit_id]
    assert not _inspection(db, visit_id, world.county.id)
    assert summary.catch_up(db) == 1
    assert _queued(db) == []
    assert _inspection(db, visit_id, world.county.id) == 1
    assert summary.catch_up(db) == 0
    db.rollback()


def test_a_rolled_back_write_queues_nothing(db: Session, world: World, now: datetime) -> None:
    visit = make_visit(db, world, now=now)
    other = make_visit(db, world, now=now)
    visit_id, other_id = visit.id, other.id
    summary.catch_up(db)
    db.rollback()
    begin_write(db)
    changed = db.get(Visit, visit_id)
    assert changed is not None
    changed.status = VisitStatus.cancelled
    db.flush()  # the hooks saw it ...
    db.rollback()  # ... and it is gone
    begin_write(db)  # the session's next write transaction queues only its own
    cancelled = db.get(Visit, other_id)
    assert cancelled is not None
    cancelled.status = VisitStatus.cancelled
    db.commit()
    assert _queued(db) == [other_id]


def test_the_report_shows_a_confirmation_made_since_its_last_read(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    visit_id = visit.id  # (read now: reading it later would begin a read transaction)

    def inspections() -> int:
        report = reports.monthly_report(db, actor=world.supervisor, month=None, now=now)
        db.rollback()
        return report.total.inspections

    before = inspections()
    _confirm(db, world, visit, now, settings)
    assert _queued(db) == [visit_id]
    assert inspections() == before + 1
    assert _queued(db) == []


def test_the_check_applies_the_queue_first(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    _confirmed_only_queued(db, world, now, settings)
    assert summary.differences(db) == []  # queued is not stale: the check applies it
    db.rollback()
    assert _queued(db) == []


def test_the_background_sweep_applies_the_queue(
    app: FastAPI, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit_id = _confirmed_only_queued(db, world, now, settings)
    _sweep_once(app, threading.Event(), None)
    assert _queued(db) == []
    assert _inspection(db, visit_id, world.county.id) == 1


def test_two_catch_ups_at_once_apply_each_visit_once(
    engine: Engine, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visits = [make_visit(db, world, now=now) for _ in range(6)]
    ids = sorted(v.id for v in visits)
    summary.catch_up(db)
    db.rollback()
    for visit in visits:
        _confirm(db, world, visit, now, settings)
    db.rollback()  # (reading a visit's attributes began a read: end it)
    assert sorted(_queued(db)) == ids
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(2)
    applied: list[int] = []
    errors: list[BaseException] = []

    def catch_up() -> None:
        try:
            with factory() as session:
                barrier.wait()
                applied.append(summary.catch_up(session))
        except BaseException as error:  # reported below, with the other thread's result
            errors.append(error)

    threads = [threading.Thread(target=catch_up) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(applied) == [0, len(ids)]  # one applied every queued visit, the other none
    assert _queued(db) == []
    assert summary.differences(db) == []
    db.rollback()
    counted = db.scalar(
        select(func.count()).where(
            ReportVisitUnit.agency_id == world.county.id,
            ReportVisitUnit.tree == false(),
            ReportVisitUnit.visit_id.in_(ids),
            ReportVisitUnit.inspection == 1,
        )
    )
    assert counted == len(ids)


def test_a_long_queue_is_applied_batch_by_batch(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    visits = [make_visit(db, world, now=now) for _ in range(5)]
    ids = sorted(v.id for v in visits)
    db.rollback()
    assert sorted(_queued(db)) == ids
    monkeypatch.setattr(summary, "_BATCH", 2)
    batches: list[int] = []
    original = summary.refresh_visits

    def spy(session: Session, visit_ids: Any) -> None:
        batches.append(len(set(visit_ids)))
        original(session, visit_ids)

    monkeypatch.setattr(summary, "refresh_visits", spy)
    assert summary.catch_up(db) == 5
    assert batches == [2, 2, 1]
    assert _queued(db) == []
    assert summary.differences(db) == []
    db.rollback()


def test_it_refuses_to_commit_changes_it_did_not_make(
    db: Session, world: World, now: datetime
) -> None:
    make_visit(db, world, now=now)  # queues its visit
    db.rollback()
    db.add(ReportSummaryQueue(visit_id=424242))  # pending, not flushed, no write transaction
    with pytest.raises(RuntimeError, match="pending changes"):
        summary.catch_up(db)
    db.rollback()
    assert 424242 not in _queued(db)


def test_a_write_of_many_visits_recomputes_them_itself(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summary, "INLINE_AT", 2)
    visits = [make_visit(db, world, now=now) for _ in range(3)]  # one transaction each
    ids = [v.id for v in visits]
    db.rollback()
    assert _queued(db) == ids  # one visit a write: queued
    summary.catch_up(db)
    db.rollback()
    before = {i: _inspection(db, i, world.county.id) for i in ids}
    begin_write(db)
    for visit_id in ids:
        changed = db.get(Visit, visit_id)
        assert changed is not None
        changed.status = VisitStatus.confirmed
    db.commit()  # three visits in one transaction: more than INLINE_AT
    assert _queued(db) == []  # not queued ...
    after = {i: _inspection(db, i, world.county.id) for i in ids}
    assert before != after  # ... recomputed by the write itself
    assert set(after.values()) == {1}
    assert summary.differences(db) == []
    db.rollback()


@postgresql_only
def test_two_catch_ups_of_one_visit_queued_twice_take_turns(
    engine: Engine, db: Session, world: World, now: datetime
) -> None:
    """PostgreSQL: catch-up A has taken the visit's first queue row and deleted its summary
    rows; a write queues the visit again; catch-up B takes that row. B must wait for A:
    recomputing in parallel, B's INSERT would collide with A's rows."""
    visit = make_visit(db, world, now=now, status=VisitStatus.confirmed)  # it has rows
    visit_id = visit.id
    db.rollback()
    factory = make_sessionmaker(engine)
    paused, resume = threading.Event(), threading.Event()
    a_thread: list[threading.Thread] = []

    def pause_a(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread() in a_thread and statement.startswith(
            "DELETE FROM report_visit_units"
        ):
            paused.set()
            resume.wait(10)

    errors: list[BaseException] = []
    applied: list[int] = []

    def catch_up() -> None:
        try:
            with factory() as session:
                applied.append(summary.catch_up(session))
        except BaseException as error:  # reported below
            errors.append(error)

    event.listen(engine, "after_cursor_execute", pause_a)
    try:
        a = threading.Thread(target=catch_up)
        a_thread.append(a)
        a.start()
        assert paused.wait(10)
        with factory() as writer:  # the visit queued again, committed
            begin_write(writer)
            summary.mark_written(writer, visit_id)
            writer.commit()
        b = threading.Thread(target=catch_up)
        b.start()
        b.join(0.5)  # B is waiting for A (the lock); without it B would be on its way
        resume.set()
        a.join(10)
        b.join(10)
    finally:
        resume.set()
        event.remove(engine, "after_cursor_execute", pause_a)
    assert errors == []
    assert sorted(applied) == [1, 1]
    assert _queued(db) == []
    assert summary.differences(db) == []
    db.rollback()
