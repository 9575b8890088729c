"""Hazards tracked to closure: the supervisor's list (current versions, scope, filters,
pages), and a re-check that finds a hazard rectified closes it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import World, make_enterprise, make_user
from tests.findings.helpers import confirmed_visit, day_of, recheck, recheck_visit, results
from webapp.audit.models import AuditEvent
from webapp.enums import RectificationOutcome, Role
from webapp.errors import DomainError
from webapp.findings import service
from webapp.findings.models import Inspection, Rectification
from webapp.findings.service import HazardLevel, HazardState, RectificationInput
from webapp.visits.models import Visit


def _record(db: Session, world: World, now: datetime, visit: Visit, *outcomes: str, **kw: object):  # type: ignore[no-untyped-def]
    return service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, *outcomes, **kw),  # type: ignore[arg-type]
        now=now,
    )


def _codes(page: service.HazardPage) -> list[tuple[str, str]]:
    return [(row.visit.public_id, row.finding.item.code) for row in page.items]


def test_open_major_hazards_of_current_versions_in_scope(
    db: Session, world: World, now: datetime
) -> None:
    early = confirmed_visit(db, world, now)
    _record(
        db, world, now, early, "major_hazard", "hazard", deadline=day_of(early) + timedelta(days=5)
    )
    late = confirmed_visit(db, world, now, enterprise=world.ent_b, items=world.items[2:])
    _record(
        db,
        world,
        now,
        late,
        "major_hazard",
        "major_hazard",
        deadline=day_of(late) + timedelta(days=20),
    )
    clean = confirmed_visit(db, world, now)
    _record(db, world, now, clean, "compliant", "compliant")
    other_agency = confirmed_visit(
        db,
        world,
        now,
        agency=world.other_county,
        inspectors=[world.dave_other],
        registered_by=world.inspector_other,
        plan_entry=None,
        extra_reason="complaint",
    )
    service.record_inspection(
        db,
        actor=world.inspector_other,
        public_id=other_agency.public_id,
        results=results(other_agency, "major_hazard", "compliant"),
        now=now,
    )

    page = service.list_hazards(db, actor=world.supervisor, now=now)
    assert _codes(page) == [
        (early.public_id, "AQ-001"),
        (late.public_id, "AQ-003"),
        (late.public_id, "AQ-004"),
    ]
    assert page.next_cursor is None
    row = page.items[0]
    assert not row.closed
    assert row.days_overdue == 0
    assert row.recheck_state == "none"
    assert row.visit.enterprise.name == "Alpha Chemicals"

    every = service.list_hazards(db, actor=world.supervisor, now=now, level=HazardLevel.all)
    assert (early.public_id, "AQ-002") in _codes(every)
    assert len(every.items) == 4

    others = service.list_hazards(db, actor=world.supervisor_other, now=now)
    assert _codes(others) == [(other_agency.public_id, "AQ-001")]
    everything = service.list_hazards(db, actor=world.admin, now=now)
    assert len(everything.items) == 4

    # A correction downgrades a hazard: only the current version counts.
    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=early.public_id,
        results=results(early, "hazard", "hazard"),
        correction_reason="Not a major hazard after all",
        now=now,
    )
    page = service.list_hazards(db, actor=world.supervisor, now=now)
    assert (early.public_id, "AQ-001") not in _codes(page)


def test_pages_continue_after_the_cursor(db: Session, world: World, now: datetime) -> None:
    visits = []
    for days in (30, 10, 20):
        visit = confirmed_visit(db, world, now)
        _record(
            db,
            world,
            now,
            visit,
            "major_hazard",
            "compliant",
            deadline=day_of(visit) + timedelta(days=days),
        )
        visits.append(visit)
    first = service.list_hazards(db, actor=world.supervisor, now=now, limit=2)
    assert [r.visit.id for r in first.items] == [visits[1].id, visits[2].id]
    assert first.next_cursor
    second = service.list_hazards(
        db, actor=world.supervisor, now=now, limit=2, cursor=first.next_cursor
    )
    assert [r.visit.id for r in second.items] == [visits[0].id]
    assert second.next_cursor is None
    with pytest.raises(DomainError) as excinfo:
        service.list_hazards(db, actor=world.supervisor, now=now, cursor="garbage!")
    assert excinfo.value.code == "validation_error"


def test_only_supervisors_list_hazards(db: Session, world: World, now: datetime) -> None:
    for actor in (world.inspector1, world.manager_a):
        with pytest.raises(DomainError) as excinfo:
            service.list_hazards(db, actor=actor, now=now)
        assert excinfo.value.code == "forbidden"
    with pytest.raises(DomainError) as excinfo:
        service.list_hazards(db, actor=world.supervisor, now=now, agency_id=world.other_county.id)
    assert excinfo.value.code == "not_found"


def test_the_agency_filter_takes_the_agencies_below(
    db: Session, world: World, now: datetime
) -> None:
    county_visit = confirmed_visit(db, world, now)
    _record(db, world, now, county_visit, "major_hazard", "compliant")
    town_enterprise = make_enterprise(db, agency=world.town, now=now)
    town_visit = confirmed_visit(
        db,
        world,
        now,
        agency=world.town,
        enterprise=town_enterprise,
        plan_entry=None,
        extra_reason="complaint",
    )
    _record(db, world, now, town_visit, "major_hazard", "compliant")
    county = service.list_hazards(db, actor=world.supervisor, now=now, agency_id=world.county.id)
    assert {r.visit.id for r in county.items} == {county_visit.id, town_visit.id}
    town = service.list_hazards(db, actor=world.supervisor, now=now, agency_id=world.town.id)
    assert [r.visit.id for r in town.items] == [town_visit.id]
    town_supervisor = make_user(db, role=Role.supervisor, agency=world.town, now=now)
    db.commit()
    mine = service.list_hazards(db, actor=town_supervisor, now=now)
    assert [r.visit.id for r in mine.items] == [town_visit.id]


def test_a_recheck_finding_it_rectified_closes_the_hazard(
    db: Session, world: World, now: datetime
) -> None:
    original = confirmed_visit(db, world, now)
    deadline = day_of(original) + timedelta(days=7)
    first = _record(db, world, now, original, "major_hazard", "hazard", deadline=deadline)
    major, general = sorted(first.findings, key=lambda f: f.item.code)

    later = now + timedelta(days=5)
    recheck = recheck_visit(db, world, later, original)
    form = service.findings_form(db, actor=world.inspector1, public_id=recheck.public_id, now=later)
    assert form.recheck_of is not None
    assert form.recheck_of.id == original.id
    assert [h.finding.id for h in form.hazards] == [major.id, general.id]
    page = service.list_hazards(db, actor=world.supervisor, now=later, level=HazardLevel.all)
    assert {r.recheck_state for r in page.items} == {"confirmed"}

    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=recheck.public_id,
        results=results(recheck, "compliant", "compliant"),
        rectifications=[
            RectificationInput(major.id, "rectified", "Gas detector installed and tested"),
            RectificationInput(general.id, RectificationOutcome.not_rectified, "Still blocked"),
        ],
        now=later,
    )
    rows = db.scalars(select(Rectification).order_by(Rectification.id)).all()
    assert [(r.item_finding_id, r.outcome, r.recheck_visit_id) for r in rows] == [
        (major.id, RectificationOutcome.rectified, recheck.id),
        (general.id, RectificationOutcome.not_rectified, recheck.id),
    ]
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "rectification.recorded")
    ).all()
    assert [e.visit_id for e in events] == [original.id, original.id]

    open_rows = service.list_hazards(db, actor=world.supervisor, now=later, level=HazardLevel.all)
    assert [r.finding.id for r in open_rows.items] == [general.id]
    closed = service.list_hazards(
        db, actor=world.supervisor, now=later, level=HazardLevel.all, state=HazardState.closed
    )
    assert [r.finding.id for r in closed.items] == [major.id]
    assert closed.items[0].rectified_on_time
    assert closed.items[0].days_overdue == 0

    # Correcting the re-check's own record with the same verdicts appends nothing.
    form = service.findings_form(db, actor=world.inspector1, public_id=recheck.public_id, now=later)
    assert {fid: r.outcome for fid, r in form.verdicts.items()} == {
        major.id: RectificationOutcome.rectified,
        general.id: RectificationOutcome.not_rectified,
    }
    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=recheck.public_id,
        results=results(recheck, "compliant", "hazard"),
        rectifications=[
            RectificationInput(major.id, "rectified", "Gas detector installed and tested"),
            RectificationInput(general.id, "rectified", "Cleared while we were there"),
        ],
        correction_reason="AQ-002 cleared during the visit",
        now=later + timedelta(minutes=30),
    )
    assert len(db.scalars(select(Rectification)).all()) == 3
    closed = service.list_hazards(
        db, actor=world.supervisor, now=later, level=HazardLevel.all, state=HazardState.closed
    )
    assert {r.finding.id for r in closed.items} == {major.id, general.id}


def test_rectifications_follow_the_hazard_across_corrected_versions(
    db: Session, world: World, now: datetime
) -> None:
    original = confirmed_visit(db, world, now)
    first = _record(db, world, now, original, "major_hazard", "compliant")
    major = next(f for f in first.findings if f.item.code == "AQ-001")
    recheck(db, world, now, original, major.id, "rectified", note="")
    # The original's record is corrected afterwards (a typo in the note).
    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=original.public_id,
        results=results(original, "major_hazard", "compliant", note="Gas detector missing"),
        correction_reason="Clearer note",
        now=now + timedelta(hours=1),
    )
    current = db.scalar(
        select(Inspection).where(Inspection.visit_id == original.id, Inspection.version == 2)
    )
    assert current is not None
    rows = service.open_hazards_of(db, visit=original, today=now.date())
    assert [r.finding.inspection_id for r in rows] == [current.id]
    assert rows[0].closed


def test_rectifications_only_on_a_recheck_of_that_visit(
    db: Session, world: World, now: datetime
) -> None:
    original = confirmed_visit(db, world, now)
    first = _record(db, world, now, original, "major_hazard", "compliant")
    finding_id = first.findings[0].id
    plain = confirmed_visit(db, world, now)
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=plain.public_id,
            results=results(plain, "compliant", "compliant"),
            rectifications=[RectificationInput(finding_id, "rectified")],
            now=now,
        )
    assert excinfo.value.code == "not_a_recheck"
    db.rollback()
    other = confirmed_visit(db, world, now)
    recheck = recheck_visit(db, world, now, other)
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=recheck.public_id,
            results=results(recheck, "compliant", "compliant"),
            rectifications=[RectificationInput(finding_id, "rectified")],
            now=now,
        )
    assert excinfo.value.code == "unknown_hazard"
    assert [e.field for e in excinfo.value.errors] == [f"rectification_{finding_id}"]
