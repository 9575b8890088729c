"""Plan coverage reads "merged" from the report summary (`report_visit_units`, migration 0010):
its figures and drill-down lists equal those of the statement it replaced — an EXISTS over
visits, team and items — kept here as the reference, on a month with every case that
separates them: joint visits, a team member of another agency, an item covered by another
agency, an inspector moved to another agency, a cancelled visit, a visit never confirmed
with a case on record (a summary row with `inspection` 0), a re-check, an entry done by its
own visit and joined by another, extra visits approved, pending and rejected, and visits at
the months' local boundaries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import and_, event, exists, or_, select, update
from sqlalchemy.orm import Session

from tests.factories import World, make_enterprise, make_inspector, make_plan_entry, make_visit
from tests.supervision.report_helpers import (
    LATER,
    MONTH,
    Month,
    build_month,
    cover_item,
    local,
    record_inspection,
)
from webapp.agencies.models import Agency, Inspector
from webapp.auth.models import User
from webapp.enterprises.models import Enterprise
from webapp.enums import Approval, FindingOutcome, VisitStatus
from webapp.plans.models import PlanEntry
from webapp.supervision import reports
from webapp.supervision.reports import CoverageFigures
from webapp.supervision.service import month_bounds
from webapp.visits.models import Visit, VisitInspector, visit_items

MONTHS = ("2026-10", "2026-11", "2026-12")


# --- the reference: the statement's clauses before migration 0010 ---------------------------


def _took_part(agency_id: Any) -> Any:
    """The agency registered the visit, had an inspector on its team or covered an item."""
    return or_(
        Visit.agency_id == agency_id,
        exists()
        .where(
            VisitInspector.visit_id == Visit.id,
            Inspector.id == VisitInspector.inspector_id,
            Inspector.agency_id == agency_id,
        )
        .correlate_except(VisitInspector, Inspector),
        exists()
        .where(visit_items.c.visit_id == Visit.id, visit_items.c.agency_id == agency_id)
        .correlate_except(visit_items),
    )


def _reference(db: Session, month: str, now: datetime) -> dict[int, tuple[int, str, list[int]]]:
    """Per plan entry of `month`: its agency, its coverage and the visits that merged it."""
    start, end = month_bounds(month)
    done = exists().where(
        Visit.plan_entry_id == PlanEntry.id, Visit.status == VisitStatus.confirmed
    )
    merging: dict[int, list[int]] = {}
    for entry_id, visit_id in db.execute(
        select(PlanEntry.id, Visit.id)
        .select_from(PlanEntry)
        .join(
            Visit,
            and_(
                Visit.enterprise_id == PlanEntry.enterprise_id,
                Visit.window_start >= start,
                Visit.window_start < end,
                Visit.status == VisitStatus.confirmed,
                _took_part(PlanEntry.agency_id),
            ),
        )
        .where(PlanEntry.month == month)
        .order_by(Visit.window_start, Visit.id)
    ):
        merging.setdefault(entry_id, []).append(visit_id)
    neither = "missed" if now >= end else "open"
    found = {}
    for entry_id, agency_id, is_done in db.execute(
        select(PlanEntry.id, PlanEntry.agency_id, done).where(PlanEntry.month == month)
    ):
        status = "done" if is_done else "merged" if entry_id in merging else neither
        found[entry_id] = (
            agency_id,
            status,
            merging.get(entry_id, []) if status == "merged" else [],
        )
    return found


def _reference_extras(db: Session, month: str) -> list[tuple[int, int, Approval]]:
    start, end = month_bounds(month)
    return [
        (v.id, v.agency_id, v.approval)
        for v in db.scalars(
            select(Visit).where(
                Visit.plan_entry_id.is_(None),
                Visit.window_start >= start,
                Visit.window_start < end,
                Visit.status != VisitStatus.cancelled,
            )
        )
    ]


def _reference_figures(
    entries: dict[int, tuple[int, str, list[int]]],
    extras: list[tuple[int, int, Approval]],
    agencies: frozenset[int],
) -> CoverageFigures:
    statuses = [status for agency, status, _ in entries.values() if agency in agencies]
    approvals = [approval for _, agency, approval in extras if agency in agencies]
    return CoverageFigures(
        planned=len(statuses),
        done=statuses.count("done"),
        merged=statuses.count("merged"),
        missed=statuses.count("missed"),
        open=statuses.count("open"),
        extra_approved=approvals.count(Approval.approved),
        extra_not_approved=sum(a in (Approval.pending, Approval.rejected) for a in approvals),
    )


def _check_against_reference(db: Session, actors: Sequence[User], now: datetime) -> None:
    """Every unit's figures and the entries behind done / merged / missed (or open), with
    the merging visits, equal the reference's, for each actor and month."""
    for month in MONTHS:
        entries, extras = _reference(db, month, now), _reference_extras(db, month)
        for actor in actors:
            db.rollback()  # a page's own transaction: the summary caught up first
            coverage = reports.plan_coverage(db, actor=actor, month=month, now=now)
            for row in coverage.rows:
                where = (actor.username, month, row.unit.name)
                assert row.figures == _reference_figures(entries, extras, row.unit.agency_ids), (
                    where
                )
                for show in ("done", "merged", "missed" if coverage.closed else "open"):
                    records = reports.coverage_records(
                        db,
                        actor=actor,
                        month=month,
                        now=now,
                        show=show,
                        unit_id=row.unit.agency_id,
                        scope=row.unit.scope,
                    )
                    assert len(records.entries) == row.figures.value(show), (where, show)
                    expected = {
                        entry: visits
                        for entry, (agency, status, visits) in entries.items()
                        if status == show and agency in row.unit.agency_ids
                    }
                    shown = {r.entry.id: r for r in records.entries}
                    assert set(shown) == set(expected), (where, show)
                    if show == "merged":
                        for entry, visits in expected.items():
                            # The visits tied to the entry (none: it is not done), then the
                            # merging ones.
                            assert [v.id for v in shown[entry].visits] == visits, (where, entry)
                db.expire_all()


# --- the month: build_month's, and the cases it lacks ---------------------------------------


class Cases:
    """Plan entries (November unless named) whose coverage each case decides."""

    def __init__(self, db: Session, world: World, month: Month, now: datetime) -> None:
        county, town, other = world.county, world.town, world.other_county
        items = world.items

        def enterprise(name: str, agency: Agency) -> Enterprise:
            return make_enterprise(db, agency=agency, name=name, now=now)

        def entry(agency: Agency, at: Enterprise, month: str = MONTH) -> PlanEntry:
            return make_plan_entry(
                db, agency=agency, enterprise=at, items=items[:1], month=month, now=now
            )

        def visit(at: Enterprise, start: datetime, **fields: Any) -> Visit:
            values: dict[str, Any] = {
                "agency": county,
                "inspectors": [world.alice],
                "items": items[:1],
                "registered_by": world.inspector1,
                "extra_reason": "complaint",
                "approval": "approved",
                "status": "confirmed",
                "window_start": start,
            }
            values.update(fields)
            return make_visit(db, enterprise=at, now=now, **values)

        # Boundaries: the county's visits at F at 31 October 23:59 and 1 December 00:00
        # local merge neither November's entry; December's is merged by the second.
        f = enterprise("Foxtrot Metals", county)
        self.boundary_nov, self.boundary_dec = entry(county, f), entry(county, f, "2026-12")
        visit(f, local(2026, 10, 31, 23, 59))
        visit(f, local(2026, 12, 1, 0, 0))
        # An inspector of the other county on its visit at G, then moved to the town: the
        # town (current agency, as the report counts) took part, its entry is merged.
        g = enterprise("Golf Textiles", town)
        self.moved = entry(town, g)
        self.mo = make_inspector(db, agency=other, name="Mo Sun", now=now)
        visit(
            g,
            local(2026, 11, 15),
            agency=other,
            inspectors=[world.dave_other, self.mo],
            registered_by=world.inspector_other,
        )
        # A re-check by the county at H merges the county's entry like any visit.
        h = enterprise("Hotel Ceramics", county)
        self.recheck = entry(county, h)
        recheck = visit(h, local(2026, 11, 16), extra_reason="referral")
        recheck.recheck_of_visit_id = month.planned.id
        # The county's visits at I, never confirmed or cancelled, one with a case on record
        # (its summary row has `inspection` 0): nothing merges the county's entry.
        i = enterprise("India Plastics", county)
        self.unconfirmed = entry(county, i)
        never = visit(i, local(2026, 11, 17), status="registered", approval="pending")
        record_inspection(
            db,
            visit=never,
            by=world.inspector1,
            findings=[(items[0], FindingOutcome.hazard, None)],
            case_opened=True,
            fine_fen=2_000,
        )
        visit(i, local(2026, 11, 18), status="cancelled")
        # The county's visit at J where the town covered an item, no town inspector on the
        # team: the town took part, its entry is merged.
        j = enterprise("Juliet Steel", town)
        self.item_only = entry(town, j)
        joint = visit(j, local(2026, 11, 19), items=items[1:2])
        cover_item(db, visit=joint, item=items[0], agency=town)
        db.commit()

    def move_mo(self, db: Session, town: Agency) -> None:
        db.execute(update(Inspector).where(Inspector.id == self.mo.id).values(agency_id=town.id))
        db.commit()


@pytest.fixture
def month(db: Session, world: World, now: datetime) -> Month:
    return build_month(db, world, now)


def _statuses(db: Session, month: str, now: datetime) -> dict[int, str]:
    return {entry: status for entry, (_, status, _v) in _reference(db, month, now).items()}


def test_the_summary_statement_counts_what_the_old_one_did(
    db: Session, world: World, month: Month, now: datetime
) -> None:
    cases = Cases(db, world, month, now)
    actors = [world.supervisor, world.supervisor_other, month.town_supervisor, world.admin]

    before = _statuses(db, MONTH, LATER)
    # The cases are there (the reference says so): else the comparison proves little.
    assert before[world.entry_a.id] == "done"  # its own visit; the campaign joined it too
    assert before[world.entry_b.id] == "merged"  # alice on the town's visit
    assert before[cases.boundary_nov.id] == "missed"
    assert _statuses(db, "2026-12", LATER)[cases.boundary_dec.id] == "merged"
    assert before[cases.moved.id] == "missed"  # Mo is still the other county's
    assert before[cases.recheck.id] == "merged"
    assert before[cases.unconfirmed.id] == "missed"
    assert before[cases.item_only.id] == "merged"
    _check_against_reference(db, actors, LATER)
    _check_against_reference(db, [world.supervisor], now)  # November not over: open

    cases.move_mo(db, world.town)
    assert _statuses(db, MONTH, LATER)[cases.moved.id] == "merged"
    _check_against_reference(db, actors, LATER)


# --- the indexes (PostgreSQL) --------------------------------------------------------------


def _coverage_sql(db: Session, actor: User) -> tuple[str, Any]:
    """The figures' statement as plan_coverage sends it, with its parameters."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        reports.plan_coverage(db, actor=actor, month=MONTH, now=LATER)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    (found,) = [(s, p) for s, p in sent if "FROM plan_entries" in s and "GROUP BY" in s]
    return found


def test_the_statement_reads_the_coverage_indexes(db: Session, world: World, month: Month) -> None:
    """EXPLAIN with seq scans off: on a few rows the planner reads the tables whole; off,
    the plan shows whether the indexes CAN serve each part."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the plan of PostgreSQL (SQLite plans without statistics)")
    db.rollback()
    statement, params = _coverage_sql(db, world.supervisor)
    db.rollback()
    conn = db.connection()
    reports.for_aggregates(db)
    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = "\n".join(str(r[0]) for r in conn.exec_driver_sql("EXPLAIN " + statement, params))
    db.rollback()
    for index in (
        "ix_report_visit_units_merge",  # merged
        "ix_visits_confirmed_plan_entry",  # done
        "ix_visits_extra_window",  # the extra visits
    ):
        assert re.search(rf"Index (Only )?Scan using {index}\b", plan), (index, plan)


def test_the_partial_indexes_constants_are_in_the_sql(
    db: Session, world: World, month: Month
) -> None:
    """The constants of the partial indexes' WHERE clauses are written into the statement, not
    bound: a plan made for any value of a parameter (PostgreSQL's generic plan of a prepared
    statement, SQLite's plan of `?`) cannot prove an index's clause and would not use it."""
    db.rollback()
    statement, _params = _coverage_sql(db, world.supervisor)
    db.rollback()
    flat = " ".join(statement.split())
    assert "report_visit_units.inspection = 1" in flat
    assert "visits.status = 'confirmed'" in flat
    assert "visits.status != 'cancelled'" in flat
