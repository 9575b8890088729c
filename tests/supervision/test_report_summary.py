"""The monthly report's summary tables (webapp/supervision/summary.py): after real service
calls the report read from the summary equals the reference statements for every unit and
month; the tables follow each write path; rebuild and check."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Table, bindparam, delete, false, func, insert, select, text, update
from sqlalchemy.orm import Session

from tests.dbs import postgresql_only
from tests.factories import World, make_agency, make_inspector, make_visit
from tests.findings.helpers import results
from tests.statements import statements
from tests.supervision.report_helpers import LATER, MONTH, Month, build_month, local
from tests.visits.helpers import planned
from webapp.__main__ import main
from webapp.agencies.models import Inspector
from webapp.auth.models import User
from webapp.config import get_settings
from webapp.enums import AgencyLevel
from webapp.findings import service as findings
from webapp.supervision import reports, summary
from webapp.supervision.models import AgencyClosure, ReportChartCache, ReportVisitUnit
from webapp.supervision.service import month_bounds
from webapp.visits import service as visits
from webapp.visits.models import visit_items

MONTHS = ("2026-09", "2026-10", "2026-11", "2026-12")


def _assert_same_as_reference(db: Session, actors: list[User], now: datetime) -> None:
    for actor in actors:
        units = reports.report_units(db, actor=actor)
        for month in MONTHS:
            start, end = month_bounds(month)
            expected = reports.unit_figures(db, units=units, start=start, end=end, now=now)
            got = reports.summary_unit_figures(db, units=units, month=month, now=now)
            assert got == expected, (actor.username, month)
            series = reports.month_series(db, ids=units.all_ids, month=month, now=now)
            assert reports.summary_month_series(db, units=units, month=month, now=now) == series
    assert summary.differences(db) == []


@pytest.fixture
def month(db: Session, world: World, now: datetime) -> Month:
    return build_month(db, world, now)


def test_totals_read_from_the_chart_cache_equal_the_reference(
    db: Session, world: World, month: Month, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The month's total takes its distinct counts from the chart's point of the month,
    which for a closed month comes from the chart cache: filled by the first reads, read by
    the second, equal to the reference statements both times."""
    monkeypatch.setattr(summary, "current_month", lambda: "2027-03")  # every month closed
    monkeypatch.setattr(reports, "CACHE_ON_SQLITE", True)
    actors = [world.supervisor, month.town_supervisor, world.admin]
    _assert_same_as_reference(db, actors, LATER)
    assert (db.scalar(select(func.count()).select_from(ReportChartCache)) or 0) > 0
    _assert_same_as_reference(db, actors, LATER)


def test_summary_report_equals_the_reference_after_service_calls(
    db: Session, world: World, month: Month, now: datetime
) -> None:
    actors = [world.supervisor, month.town_supervisor, world.supervisor_other, world.admin]
    _assert_same_as_reference(db, actors, LATER)
    totals = reports.summary_unit_figures(
        db, units=reports.report_units(db, actor=world.supervisor), month="2026-11", now=LATER
    )[1]
    assert totals.inspections > 0
    assert totals.hazards > 0

    # Cancel a registered visit (service): it counts nowhere, any more.
    visit = make_visit(
        db,
        now=now,
        agency=world.county,
        enterprise=world.ent_b,
        inspectors=[world.alice],
        items=world.items[:1],
        registered_by=world.inspector1,
        window_start=local(2026, 11, 20, 9),
        window_end=local(2026, 11, 20, 12),
        status="registered",
    )
    db.commit()
    visits.cancel_visit(
        db, actor=world.inspector1, public_id=visit.public_id, reason="rain", now=now
    )
    _assert_same_as_reference(db, actors, LATER)

    # The other county joins a county visit (service: team and covered items), then it is
    # confirmed; an inspection record, a corrected version, a rectification.
    joint = visits.register_visit(
        db, actor=world.inspector1, data=planned(world, now), now=now, settings=get_settings()
    )
    erin = make_inspector(db, agency=world.other_county, name="Erin Zhou", now=now)
    db.commit()
    visits.join_visit(
        db,
        actor=world.inspector_other,
        public_id=joint.public_id,
        inspector_ids=[erin.id],
        item_ids=[world.items[3].id],
        now=now,
    )
    _assert_same_as_reference(db, actors, LATER)
    joint.status = "confirmed"  # type: ignore[assignment]
    joint.confirmed_at = now
    joint.confirmed_by_id = world.manager_a.id
    db.commit()
    db.refresh(joint)
    outcomes = ["major_hazard"] + ["hazard"] * (len(joint.items) - 1)
    findings.record_inspection(
        db,
        actor=world.inspector1,
        public_id=joint.public_id,
        results=results(joint, *outcomes),
        case_opened=True,
        case_number="2026-77",
        fine_yuan="300",
        now=now + timedelta(hours=3),
    )
    _assert_same_as_reference(db, actors, LATER)
    findings.record_inspection(
        db,
        actor=world.inspector1,
        public_id=joint.public_id,
        results=results(joint, *["compliant"] * len(joint.items)),
        correction_reason="Mis-typed",
        base_version=1,
        now=now + timedelta(hours=4),
    )
    _assert_same_as_reference(db, actors, LATER)


def test_each_write_path_keeps_the_summary_current(
    db: Session, world: World, month: Month, now: datetime
) -> None:
    # A new agency gets its closure rows (the ORM path).
    town2 = make_agency(
        db, name="Second Town", level=AgencyLevel.town, parent=world.county, now=now
    )
    db.commit()
    ancestors = set(
        db.scalars(select(AgencyClosure.ancestor_id).where(AgencyClosure.agency_id == town2.id))
    )
    assert ancestors == {town2.id, world.county.id, *_ancestors(db, world.county.id)}
    # An inspector moved to another agency by a Core UPDATE (as the import does): the
    # visits of its teams count for the new agency.
    db.execute(update(Inspector).where(Inspector.id == world.bob.id).values(agency_id=town2.id))
    db.commit()
    assert summary.differences(db) == []
    # ... and by an executemany with bound parameters (the import's chunked UPDATEs).
    table = Inspector.__table__
    assert isinstance(table, Table)
    db.execute(
        update(table)
        .where(table.c.id == bindparam("t_id"))
        .values({"agency_id": bindparam("v_agency_id")}),
        [{"t_id": world.alice.id, "v_agency_id": town2.id}],
    )
    db.commit()
    assert summary.differences(db) == []
    counted = db.scalar(
        select(func.count()).where(
            ReportVisitUnit.agency_id == town2.id, ReportVisitUnit.inspection > 0
        )
    )
    assert counted is not None
    assert counted > 0
    # A new inspector of the town on a new visit's team (ORM insert).
    tim = make_inspector(db, agency=town2, name="Tim Two", now=now)
    visit = make_visit(
        db,
        now=now,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, tim],
        items=world.items[:1],
        registered_by=world.inspector1,
        window_start=now - timedelta(hours=1),
        window_end=now + timedelta(hours=1),
        status="confirmed",
    )
    db.commit()
    assert summary.differences(db) == []
    # An item covered by another agency, by a Core INSERT (as join_visit does).
    other = world.other_county
    assert _own_row(db, visit.id, other.id) is None
    db.execute(
        insert(visit_items).values(visit_id=visit.id, item_id=world.items[2].id, agency_id=other.id)
    )
    db.commit()
    assert _own_row(db, visit.id, other.id) == 1
    db.execute(
        delete(visit_items).where(
            visit_items.c.visit_id == visit.id, visit_items.c.agency_id == other.id
        )
    )
    db.commit()
    assert _own_row(db, visit.id, other.id) is None


def _own_row(db: Session, visit_id: int, agency_id: int) -> int | None:
    summary.catch_up(db)  # applies what the writes queued (only what the hooks saw)
    return db.scalar(
        select(ReportVisitUnit.inspection).where(
            ReportVisitUnit.visit_id == visit_id,
            ReportVisitUnit.agency_id == agency_id,
            ReportVisitUnit.tree == false(),
        )
    )


def _ancestors(db: Session, agency_id: int) -> set[int]:
    return set(
        db.scalars(select(AgencyClosure.ancestor_id).where(AgencyClosure.agency_id == agency_id))
    ) - {agency_id}


def test_check_finds_a_stale_summary_and_rebuild_repairs_it(
    db: Session,
    db_url: str,
    world: World,
    month: Month,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    assert summary.differences(db) == []
    db.execute(delete(ReportVisitUnit).where(ReportVisitUnit.visit_id == month.planned.id))
    db.commit()
    found = summary.differences(db)
    assert found
    assert {d.row[3] for d in found} == {month.planned.id}
    assert all(not d.stored for d in found)
    db.rollback()  # the check wrote (and undid) in a savepoint: end the transaction
    assert main(["reports", "check"]) == 1
    assert "differs" in capsys.readouterr().err
    assert main(["reports", "rebuild"]) == 0
    assert main(["reports", "check"]) == 0
    db.rollback()
    assert summary.differences(db) == []
    get_settings.cache_clear()


def test_the_report_reads_the_summary(db: Session, world: World, month: Month) -> None:
    """Not the reference statements: with the summary emptied the report shows nothing
    (while the reference still counts)."""
    before = reports.monthly_report(db, actor=world.supervisor, month="2026-11", now=LATER)
    assert before.total.inspections > 0
    db.execute(delete(ReportVisitUnit))
    summary.clear_chart_cache(db)  # a direct write to the rows: the chart cache must go too
    db.commit()
    after = reports.monthly_report(db, actor=world.supervisor, month="2026-11", now=LATER)
    assert after.total.inspections == 0
    assert after.total.hazards == 0
    assert after.total.unconfirmed == before.total.unconfirmed  # read directly
    assert sum(p.figures.inspections for p in after.series) == 0
    summary.rebuild(db)  # for the autouse check at the end
    db.commit()


def test_the_report_reads_the_month_once(db: Session, world: World, month: Month) -> None:
    """The month's summary rows once (the units), the chart's live months once, which also
    give the total's distinct counts (no statement of their own), and the unconfirmed visits
    of the rows and of the chart in one statement. (Their equality with the reference: the
    tests above.)"""

    def report() -> reports.MonthlyReport:
        return reports.monthly_report(db, actor=world.supervisor, month=MONTH, now=LATER)

    first = report()  # PostgreSQL: fills the chart cache for the months before the previous
    assert first.total.inspections > 0
    with statements(db) as sent:
        report()
    summary_reads = [s for s in sent if "FROM report_visit_units" in s]
    assert len(summary_reads) == 2, summary_reads  # the units; the chart's live months
    assert len([s for s in sent if "FROM visits" in s]) == 1  # the unconfirmed visits
    assert report() == first


@postgresql_only
def test_report_statements_keep_plans_for_their_values(
    db: Session, world: World, month: Month
) -> None:
    """psycopg prepares a statement run 5 times on a connection; PostgreSQL may then plan
    it once for any values (a generic plan), which for the report's statements read many
    times the rows. The report asks for a plan per execution."""
    for _ in range(12):
        reports.monthly_report(db, actor=world.supervisor, month=MONTH, now=LATER)
    # The report's statements on the session's connection (not the fixtures' inserts).
    prepared, custom, generic = db.execute(
        text(
            "SELECT count(*), coalesce(sum(custom_plans), 0), coalesce(sum(generic_plans), 0)"
            " FROM pg_prepared_statements"
            " WHERE statement LIKE '%sum(report_visit_units.%'"
            " OR statement LIKE '%count(*) AS n%'"
        )
    ).one()
    assert prepared >= 3  # the units, the chart's live months, the unconfirmed visits
    assert custom > 0
    assert generic == 0
    assert db.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"
    db.rollback()
