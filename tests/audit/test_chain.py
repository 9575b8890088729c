from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.audit import service as audit
from webapp.audit.models import AuditEvent


def _three(db: Session, now: datetime) -> list[AuditEvent]:
    events = [
        audit.record(
            db,
            actor_id=None,
            action=f"test.{i}",
            object_type="thing",
            object_id=i,
            now=now,
            data={"n": i, "text": "中文"},
        )
        for i in range(3)
    ]
    db.commit()
    return events


def test_an_untouched_chain_verifies(db: Session, now: datetime) -> None:
    events = _three(db, now)
    report = audit.verify_chain(db)
    assert report.ok
    assert report.count == 3
    assert report.head == events[-1].hash
    assert events[1].prev_hash == events[0].hash


def test_an_altered_entry_is_named(db: Session, now: datetime) -> None:
    events = _three(db, now)
    db.execute(update(AuditEvent).where(AuditEvent.id == events[1].id).values(data='{"n":9}'))
    db.commit()
    report = audit.verify_chain(db)
    assert not report.ok
    assert report.first_bad_id == events[1].id


def test_a_removed_entry_is_named(db: Session, now: datetime) -> None:
    events = _three(db, now)
    db.delete(db.get(AuditEvent, events[1].id))
    db.commit()
    report = audit.verify_chain(db)
    assert not report.ok
    assert report.first_bad_id == events[2].id
