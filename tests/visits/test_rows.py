"""A visit read as plain rows (`visits.rows.load`, what a scan reads) equals the rows made
from the same visit loaded as ORM objects (`visits.service.visit_row`, what pages use): a
joint visit with items covered by the joining agency, an inspector with several credentials
and none, a photo, an extra visit, a re-check, a confirmed and a cancelled one."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from tests.factories import World, make_inspector, make_visit
from tests.statements import statements
from webapp.agencies.models import Credential
from webapp.checkin import passes
from webapp.config import get_settings
from webapp.enums import CredentialStatus, VisitStatus
from webapp.visits import rows, service
from webapp.visits.models import Visit, VisitInspector, visit_items


def _as_pages_read_it(db: Session, visit_id: int) -> rows.VisitRow:
    db.expire_all()
    visit = db.get(Visit, visit_id)
    assert visit is not None
    return service.visit_row(visit)


def _both_ways(db: Session, visit: Visit) -> tuple[rows.VisitRow, rows.VisitRow]:
    expected = _as_pages_read_it(db, visit.id)
    by_id = rows.load(db, "public_id", visit.public_id)
    by_code = rows.load(db, "code_prefix", visit.code_prefix, lock=True)
    assert by_id == by_code
    assert by_id is not None
    return by_id, expected


def test_a_joint_visit_read_as_rows_equals_the_loaded_one(
    db: Session, world: World, now: datetime
) -> None:
    # Several credentials (one expired), one with none at all, one without a photo.
    veteran = make_inspector(db, agency=world.county, name="Veteran Wu", now=now)
    db.add(
        Credential(
            number="JZ-OLD-0001",
            inspector_id=veteran.id,
            issuing_agency_id=world.county.id,
            valid_from=(now - timedelta(days=900)).date(),
            valid_until=(now - timedelta(days=500)).date(),
            status=CredentialStatus.revoked,
            created_at=now,
        )
    )
    newcomer = make_inspector(db, agency=world.other_county, name="New Ning", now=now, photo=None)
    db.execute(delete(Credential).where(Credential.inspector_id == newcomer.id))
    visit = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, veteran, world.dave_other, newcomer],
        items=world.items[:3],
        registered_by=world.inspector1,
        now=now,
        plan_entry=world.entry_a,
    )
    # The other county joined: it covers one item, its inspectors joined later.
    db.execute(
        visit_items.update()
        .where(visit_items.c.visit_id == visit.id, visit_items.c.item_id == world.items[2].id)
        .values(agency_id=world.other_county.id)
    )
    db.execute(
        update(VisitInspector)
        .where(VisitInspector.visit_id == visit.id, VisitInspector.position >= 2)
        .values(added_at=now)
    )
    db.commit()

    got, expected = _both_ways(db, visit)
    assert got == expected
    assert [m.name for m in got.team] == ["Alice Li", "Veteran Wu", "Dave Chen", "New Ning"]
    assert len(got.team[1].credentials) == 2
    assert got.team[3].credentials == ()
    assert got.team[3].photo is None
    assert [i.covering_agency_id for i in got.items] == [None, None, world.other_county.id]
    assert got.plan_month == world.entry_a.month
    assert got.plan_title is not None
    card = service.card_of(got, now=now)
    assert card == service.visit_card(db.get(Visit, visit.id), now=now)  # type: ignore[arg-type]
    assert card.is_joint


@pytest.mark.parametrize("status", ["registered", "confirmed", "cancelled"])
def test_an_extra_re_check_read_as_rows_equals_the_loaded_one(
    db: Session, world: World, now: datetime, status: str
) -> None:
    original = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice],
        items=world.items[:1],
        registered_by=world.inspector1,
        now=now,
        plan_entry=world.entry_a,
        status="confirmed",
        window_start=now - timedelta(days=7),
    )
    visit = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob],
        items=[],
        registered_by=world.inspector1,
        now=now,
        extra_reason="recheck",
        extra_reason_text="Re-check of the hazards",
        approval="approved",
        status=status,
    )
    visit.recheck_of_visit_id = original.id
    db.commit()

    got, expected = _both_ways(db, visit)
    assert got == expected
    assert got.recheck_of_public_id == original.public_id
    assert got.is_extra
    assert got.items == ()
    assert got.status == VisitStatus(status)


def test_no_visit_no_rows(db: Session, world: World) -> None:
    assert rows.load(db, "public_id", "no-such-visit") is None
    assert rows.load(db, "code_prefix", "ZZZZZZ", lock=True) is None


def test_a_pass_that_names_no_visit_reads_only_the_visit_row(
    db: Session, world: World, now: datetime
) -> None:
    visit = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob],
        items=world.items[:2],
        registered_by=world.inspector1,
        now=now,
        plan_entry=world.entry_a,
    )
    db.commit()
    wrong = visit.code_prefix + "000000"  # a real prefix, digits that are not the visit's
    with statements(db) as seen:
        found = passes.identify(db, wrong, now=now, settings=get_settings())
    assert found.visit is None
    assert found.refusal is not None
    # The visit's row only: no team (with photos) or items for a code that is not the pass.
    assert len([s for s in seen if s.lstrip().upper().startswith("SELECT")]) == 1, seen
