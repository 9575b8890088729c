"""Who records, who reads: the visit's team records; its agency and supervisors above it
read; the enterprise reads its own notice; everyone else meets `not_found`."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from tests.factories import World, make_user
from tests.findings.helpers import confirmed_visit, results
from webapp.auth.models import User
from webapp.enums import Role
from webapp.errors import DomainError
from webapp.findings import service
from webapp.visits.models import Visit


def _record(db: Session, actor: User, public_id: str, visit: Visit, now: datetime) -> None:
    service.record_inspection(
        db,
        actor=actor,
        public_id=public_id,
        results=results(visit, "compliant", "compliant"),
        now=now,
    )


def test_only_the_team_records(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    carol = make_user(db, role=Role.inspector, inspector=world.carol_expired, now=now)
    db.commit()
    cases = [
        (carol, "not_on_team", 403),  # same agency, not on the team
        (world.supervisor, "not_on_team", 403),  # reads, but does not record
        (world.inspector_other, "not_found", 404),  # another agency's inspector
        (world.manager_a, "not_found", 404),  # the enterprise itself
        (world.manager_b, "not_found", 404),
    ]
    for actor, code, status in cases:
        with pytest.raises(DomainError) as excinfo:
            _record(db, actor, visit.public_id, visit, now)
        assert (excinfo.value.code, excinfo.value.status) == (code, status), actor.username
        db.rollback()
    with pytest.raises(DomainError) as excinfo:
        _record(db, world.inspector1, "no-such-visit", visit, now)
    assert excinfo.value.code == "not_found"


def test_a_joint_visit_inspector_of_another_agency_records(
    db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now, inspectors=[world.alice, world.bob, world.dave_other])
    _record(db, world.inspector_other, visit.public_id, visit, now)
    record = service.visit_inspections(db, actor=world.inspector_other, public_id=visit.public_id)
    assert record.current is not None
    assert record.can_record


def test_who_reads_the_record(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    _record(db, world.inspector1, visit.public_id, visit, now)
    carol = make_user(db, role=Role.inspector, inspector=world.carol_expired, now=now)
    db.commit()
    for reader in (world.inspector2, carol, world.supervisor, world.admin, world.manager_a):
        record = service.visit_inspections(db, actor=reader, public_id=visit.public_id)
        assert record.current is not None
        assert record.current.version == 1
        assert record.can_record == (reader is world.inspector2)
    for stranger in (world.inspector_other, world.supervisor_other, world.manager_b):
        with pytest.raises(DomainError) as excinfo:
            service.visit_inspections(db, actor=stranger, public_id=visit.public_id)
        assert excinfo.value.code == "not_found"


def test_the_enterprise_never_sees_an_unconfirmed_visit(
    db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now, status="registered")
    with pytest.raises(DomainError) as excinfo:
        service.visit_inspections(db, actor=world.manager_a, public_id=visit.public_id)
    assert excinfo.value.code == "not_found"


def test_a_supervisor_of_a_town_does_not_see_the_county(
    db: Session, world: World, now: datetime
) -> None:
    town_supervisor = make_user(db, role=Role.supervisor, agency=world.town, now=now)
    db.commit()
    visit = confirmed_visit(db, world, now)
    with pytest.raises(DomainError) as excinfo:
        service.visit_inspections(db, actor=town_supervisor, public_id=visit.public_id)
    assert excinfo.value.code == "not_found"
