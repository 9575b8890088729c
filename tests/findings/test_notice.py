"""The result notice (检查结果告知): the enterprise's own, acknowledged once per version, and
again after a correction."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.findings.helpers import confirmed_visit, results
from webapp.audit.models import AuditEvent
from webapp.errors import DomainError
from webapp.findings import service
from webapp.findings.models import Inspection, NoticeAcknowledgement


def _recorded(db: Session, world: World, now: datetime, *outcomes: str) -> Inspection:
    visit = confirmed_visit(db, world, now)
    return service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, *(outcomes or ("compliant", "major_hazard"))),
        case_opened=True,
        case_number="AJ-7",
        fine_fen=300000,
        now=now,
    )


def _acks(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(NoticeAcknowledgement)) or 0)


def test_the_manager_reads_the_notice_of_their_confirmed_visit(
    db: Session, world: World, now: datetime
) -> None:
    inspection = _recorded(db, world, now)
    notice = service.notice(
        db, actor=world.manager_a, public_id=inspection.visit.public_id, now=now
    )
    assert notice.current.id == inspection.id
    assert notice.card.agency_name == "Example County Bureau"
    assert [m.name for m in notice.card.members] == ["Alice Li", "Bob Wang"]
    assert notice.current.major_hazards == 1
    assert notice.current.fine_yuan == "3,000.00"
    assert [h.finding.item.code for h in notice.hazards] == ["AQ-002"]
    assert notice.earlier == []
    for stranger in (world.manager_b, world.inspector1, world.supervisor):
        with pytest.raises(DomainError) as excinfo:
            service.notice(db, actor=stranger, public_id=inspection.visit.public_id, now=now)
        assert excinfo.value.code in ("not_found", "forbidden")


def test_no_notice_before_the_findings(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    with pytest.raises(DomainError) as excinfo:
        service.notice(db, actor=world.manager_a, public_id=visit.public_id, now=now)
    assert excinfo.value.code == "no_notice_yet"
    assert excinfo.value.status == 404


def test_acknowledged_once_per_version(db: Session, world: World, now: datetime) -> None:
    inspection = _recorded(db, world, now)
    assert [r.visit.id for r in service.notices(db, actor=world.manager_a, pending_only=True)] == [
        inspection.visit_id
    ]
    ack, created = service.acknowledge_notice(
        db, actor=world.manager_a, inspection_id=inspection.id, now=now, note=" Received "
    )
    assert created
    assert ack.note == "Received"
    assert ack.acknowledged_by_id == world.manager_a.id
    again, created_again = service.acknowledge_notice(
        db, actor=world.manager_a, inspection_id=inspection.id, now=now + timedelta(minutes=1)
    )
    assert not created_again
    assert again.id == ack.id
    assert _acks(db) == 1
    assert service.notices(db, actor=world.manager_a, pending_only=True) == []
    rows = service.notices(db, actor=world.manager_a)
    assert [(r.inspection.id, r.acknowledged_at) for r in rows] == [(inspection.id, now)]
    assert db.scalar(select(func.count()).where(AuditEvent.action == "notice.acknowledged")) == 1


def test_a_correction_must_be_acknowledged_again(db: Session, world: World, now: datetime) -> None:
    first = _recorded(db, world, now)
    visit = first.visit
    service.acknowledge_notice(db, actor=world.manager_a, inspection_id=first.id, now=now)
    second = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "hazard"),
        correction_reason="Downgraded after measuring the gas level again",
        now=now + timedelta(hours=1),
    )
    pending = service.notices(db, actor=world.manager_a, pending_only=True)
    assert [r.inspection.id for r in pending] == [second.id]
    notice = service.notice(db, actor=world.manager_a, public_id=visit.public_id, now=now)
    assert notice.current.version == 2
    assert notice.current.acknowledged is None
    assert [v.version for v in notice.earlier] == [1]
    assert notice.earlier[0].acknowledged is not None

    with pytest.raises(DomainError) as excinfo:
        service.acknowledge_notice(db, actor=world.manager_a, inspection_id=first.id, now=now)
    assert excinfo.value.code == "notice_superseded"
    assert excinfo.value.status == 409
    db.rollback()
    _ack, created = service.acknowledge_notice(
        db, actor=world.manager_a, inspection_id=second.id, now=now + timedelta(hours=2)
    )
    assert created
    assert _acks(db) == 2


def test_another_enterprise_cannot_acknowledge(db: Session, world: World, now: datetime) -> None:
    inspection = _recorded(db, world, now)
    for actor, code in (
        (world.manager_b, "not_found"),
        (world.inspector1, "forbidden"),
        (world.supervisor, "forbidden"),
    ):
        with pytest.raises(DomainError) as excinfo:
            service.acknowledge_notice(db, actor=actor, inspection_id=inspection.id, now=now)
        assert excinfo.value.code == code
        db.rollback()
    with pytest.raises(DomainError) as excinfo:
        service.acknowledge_notice(db, actor=world.manager_a, inspection_id=99999, now=now)
    assert excinfo.value.code == "not_found"
    assert _acks(db) == 0
