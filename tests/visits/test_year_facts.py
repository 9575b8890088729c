"""The enterprise's visits of a year as the rules see them, read as plain rows
(`visits.service.year_facts`), equal what `visit_fact` makes of the same visits loaded as ORM
objects with their agency, team and items (the way they were read before)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tests.factories import World, make_inspector, make_visit
from webapp.enums import VisitStatus
from webapp.rules import history
from webapp.visits import service
from webapp.visits.models import Visit, VisitInspector

STATUSES = (VisitStatus.registered, VisitStatus.confirmed)


def _reference(
    db: Session,
    *,
    enterprise_id: int,
    window_start: datetime,
    now: datetime,
    statuses: tuple[VisitStatus, ...],
    ancestors: set[int],
    exclude: int | None,
    joiner: int | None,
) -> list[history.VisitFact]:
    year_start, year_end = service._year_bounds(window_start)
    query = (
        select(Visit)
        .where(
            Visit.enterprise_id == enterprise_id,
            Visit.window_start >= year_start,
            Visit.window_start < year_end,
            Visit.status.in_(statuses),
        )
        .options(
            selectinload(Visit.agency),
            selectinload(Visit.items),
            selectinload(Visit.team).selectinload(VisitInspector.inspector),
        )
        .order_by(Visit.window_start, Visit.id)
    )
    if exclude is not None:
        query = query.where(Visit.id != exclude)
    return [
        service.visit_fact(
            service.visit_row(v), ancestors=ancestors, now=now, joiner_agency_id=joiner
        )
        for v in db.scalars(query)
    ]


def test_year_facts_equal_the_facts_of_loaded_visits(
    db: Session, world: World, now: datetime
) -> None:
    town_inspector = make_inspector(db, agency=world.town, name="Town Tang", now=now)
    ent = world.ent_a
    day = timedelta(days=1)
    made = [
        # a joint visit: the team from the county, the town and another county, in order
        make_visit(
            db,
            agency=world.county,
            enterprise=ent,
            inspectors=[world.bob, town_inspector, world.dave_other],
            items=world.items[:2],
            registered_by=world.inspector1,
            now=now,
            plan_entry=world.entry_a,
            status="confirmed",
            window_start=now - 3 * day,
            window_end=now - 3 * day + timedelta(hours=3),
        ),
        # case-driven, by the town (an agency below the county), no items
        make_visit(
            db,
            agency=world.town,
            enterprise=ent,
            inspectors=[town_inspector],
            items=[],
            registered_by=world.inspector1,
            now=now,
            extra_reason="complaint",
            approval="approved",
            status="confirmed",
            window_start=now - 2 * day,
        ),
        # registered, ahead: joinable by another agency
        make_visit(
            db,
            agency=world.county,
            enterprise=ent,
            inspectors=[world.alice],
            items=world.items,
            registered_by=world.inspector1,
            now=now,
            plan_entry=world.entry_a,
            window_start=now + 2 * day,
        ),
        # cancelled: not counted
        make_visit(
            db,
            agency=world.county,
            enterprise=ent,
            inspectors=[world.alice],
            items=world.items[:1],
            registered_by=world.inspector1,
            now=now,
            plan_entry=world.entry_a,
            status="cancelled",
            window_start=now + 3 * day,
        ),
        # last year: not in this year
        make_visit(
            db,
            agency=world.county,
            enterprise=ent,
            inspectors=[world.alice],
            items=world.items[:1],
            registered_by=world.inspector1,
            now=now,
            plan_entry=world.entry_a,
            status="confirmed",
            window_start=now - 400 * day,
        ),
        # another enterprise's
        make_visit(
            db,
            agency=world.county,
            enterprise=world.ent_b,
            inspectors=[world.alice],
            items=world.items[:1],
            registered_by=world.inspector1,
            now=now,
            plan_entry=world.entry_b,
            status="confirmed",
            window_start=now - day,
        ),
    ]
    db.commit()
    ancestors, _, _ = service.ancestors_and_caps(
        db, ent.agency_id, ent.enterprise_class.value, ent.risk_grade
    )
    cases = [
        (STATUSES, None, None, ancestors),
        (STATUSES, made[0].id, world.other_county.id, ancestors),
        ((VisitStatus.confirmed,), made[1].id, world.county.id, ancestors),
        ((VisitStatus.registered,), None, world.town.id, ancestors),
        (STATUSES, None, world.town.id, {world.town.id}),  # the town's visit "supervisory"
    ]
    for statuses, exclude, joiner, above in cases:
        got = service.year_facts(
            db,
            enterprise_id=ent.id,
            window_start=now,
            now=now,
            statuses=statuses,
            ancestors=above,
            exclude_visit_id=exclude,
            joiner_agency_id=joiner,
        )
        db.expire_all()
        expected = _reference(
            db,
            enterprise_id=ent.id,
            window_start=now,
            now=now,
            statuses=statuses,
            ancestors=above,
            exclude=exclude,
            joiner=joiner,
        )
        assert got == expected, (statuses, exclude, joiner)
        assert got, "each case finds visits"
    everything = service.year_facts(
        db, enterprise_id=ent.id, window_start=now, now=now, statuses=STATUSES, ancestors=set()
    )
    assert [f.visit_id for f in everything] == [v.id for v in made[:3]]
    joint = everything[0]
    assert joint.lead_name == "Bob Wang"
    assert joint.agency_ids == {world.county.id, world.town.id, world.other_county.id}
    assert everything[1].case_driven
    assert not joint.case_driven
    assert everything[2].joinable is False  # no joiner asked
