"""The monthly report's chart cache (reports._cached_chart, summary.bump_months): months
before the previous one are read from `report_chart_cache` while their version holds; the
chart always equals the reference (`month_series`), after late writes into closed months
and after a rebuild; the current and the previous month are never read from the cache."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from tests.factories import World, make_visit
from tests.supervision.report_helpers import LATER, Month, build_month, local, record_inspection
from webapp.auth.models import User
from webapp.enums import FindingOutcome, VisitStatus
from webapp.supervision import reports, summary
from webapp.supervision.models import ReportChartCache, ReportMonthVersion

CHART_MONTHS = ("2026-10", "2026-11", "2026-12", "2027-01")


@pytest.fixture(autouse=True)
def _cache_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # The wall clock, pinned: December 2026 (October and before are cacheable).
    monkeypatch.setattr(summary, "current_month", lambda: "2026-12")
    monkeypatch.setattr(reports, "CACHE_ON_SQLITE", True)


@pytest.fixture
def month(db: Session, world: World, now: datetime) -> Month:
    return build_month(db, world, now)


def _chart(db: Session, actor: User, month: str) -> list[reports.MonthPoint]:
    units = reports.report_units(db, actor=actor)
    return reports.summary_month_series(db, units=units, month=month, now=LATER)


def _assert_same(db: Session, actors: list[User]) -> None:
    for actor in actors:
        units = reports.report_units(db, actor=actor)
        for m in CHART_MONTHS:
            expected = reports.month_series(db, ids=units.all_ids, month=m, now=LATER)
            assert _chart(db, actor, m) == expected, (actor.username, m)
            assert _chart(db, actor, m) == expected, (actor.username, m, "cached")
        db.commit()


def _october(db: Session, actor: User) -> reports.Figures:
    return {p.month: p.figures for p in _chart(db, actor, "2026-12")}["2026-10"]


def test_cached_chart_equals_the_reference(db: Session, world: World, month: Month) -> None:
    actors = [world.supervisor, month.town_supervisor, world.supervisor_other, world.admin]
    _assert_same(db, actors)
    cached = set(db.scalars(select(ReportChartCache.month).distinct()))
    assert cached, "the closed months were cached"
    assert max(cached) < "2026-11"  # never the current or the previous month
    # The cached figures are what the chart shows (a tampered row shows: it is read).
    before = _october(db, world.supervisor)
    assert before.inspections > 0
    db.execute(update(ReportChartCache).values(inspections=ReportChartCache.inspections + 100))
    db.commit()
    assert _october(db, world.supervisor).inspections == before.inspections + 100


def test_the_current_and_previous_month_are_never_cached(
    db: Session, world: World, month: Month
) -> None:
    _assert_same(db, [world.supervisor])
    units = reports.report_units(db, actor=world.supervisor)
    scope = reports.chart_scope(reports._roots(units), 0)
    for m in ("2026-11", "2026-12"):
        db.add(
            ReportChartCache(
                month=m, scope=scope, version=0, **dict.fromkeys(reports.SUMMARY_NAMES, 777)
            )
        )
    db.commit()
    points = {p.month: p.figures for p in _chart(db, world.supervisor, "2026-12")}
    assert points["2026-11"].inspections != 777
    assert points["2026-12"].inspections != 777
    # A reader whose clock is behind the wall clock caches no later month either.
    db.execute(delete(ReportChartCache))
    db.commit()
    units = reports.report_units(db, actor=world.supervisor)
    early = datetime(2026, 9, 15, tzinfo=LATER.tzinfo)
    reports.summary_month_series(db, units=units, month="2026-09", now=early)
    db.commit()
    assert db.scalar(select(func.max(ReportChartCache.month))) == "2026-07"


def test_a_late_write_into_a_closed_month_changes_the_chart(
    db: Session, world: World, month: Month, now: datetime
) -> None:
    actors = [world.supervisor, world.admin]
    _assert_same(db, actors)
    before = _october(db, world.supervisor)
    # A confirmed visit of October with a late inspection record (case, hazard).
    late = make_visit(
        db,
        now=now,
        agency=world.county,
        enterprise=world.ent_b,
        inspectors=[world.alice],
        items=world.items[:1],
        registered_by=world.inspector1,
        window_start=local(2026, 10, 15, 9),
        window_end=local(2026, 10, 15, 12),
        status="confirmed",
    )
    db.commit()
    record_inspection(
        db,
        visit=late,
        by=world.inspector1,
        findings=[(world.items[0], FindingOutcome.hazard, date(2026, 10, 30))],
        case_opened=True,
        at=LATER,
    )
    db.commit()
    after = _october(db, world.supervisor)
    assert after.inspections == before.inspections + 1
    assert after.cases == before.cases + 1
    assert after.hazards == before.hazards + 1
    _assert_same(db, actors)
    # A visit whose window started in October, confirmed now (the writer's current month
    # is December): October's figures follow.
    pending = make_visit(
        db,
        now=now,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice],
        items=world.items[:1],
        registered_by=world.inspector1,
        window_start=local(2026, 10, 31, 22),
        window_end=local(2026, 11, 1, 2),
        status="registered",
    )
    db.commit()
    _assert_same(db, actors)
    version = db.scalar(
        select(ReportMonthVersion.version).where(ReportMonthVersion.month == "2026-10")
    )
    pending.status = VisitStatus.confirmed
    db.commit()
    # The write queued the visit; its rows (and October's version) change when the queue is
    # applied: before the next read of the summary.
    assert summary.catch_up(db) == 1
    assert (
        db.scalar(select(ReportMonthVersion.version).where(ReportMonthVersion.month == "2026-10"))
        == (version or 0) + 1
    )
    assert _october(db, world.supervisor).inspections == after.inspections + 1
    _assert_same(db, actors)


def test_rebuild_invalidates_the_cache(db: Session, world: World, month: Month) -> None:
    _assert_same(db, [world.supervisor])
    db.execute(update(ReportChartCache).values(inspections=ReportChartCache.inspections + 100))
    db.commit()
    summary.rebuild(db)
    db.commit()
    _assert_same(db, [world.supervisor])
