from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.dbs import unguard
from webapp.__main__ import main
from webapp.audit import service as audit
from webapp.audit.models import AuditEvent
from webapp.config import get_settings


def _without_triggers(db: Session) -> None:
    """What someone editing the database file directly could do: drop the guards."""
    unguard(db, "audit_events")
    db.commit()


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
    _without_triggers(db)
    db.execute(update(AuditEvent).where(AuditEvent.id == events[1].id).values(data='{"n":9}'))
    db.commit()
    report = audit.verify_chain(db)
    assert not report.ok
    assert report.first_bad_id == events[1].id


def test_a_removed_entry_is_named(db: Session, now: datetime) -> None:
    events = _three(db, now)
    _without_triggers(db)
    db.delete(db.get(AuditEvent, events[1].id))
    db.commit()
    report = audit.verify_chain(db)
    assert not report.ok
    assert report.first_bad_id == events[2].id


def test_the_database_refuses_to_alter_or_remove_an_entry(db: Session, now: datetime) -> None:
    events = _three(db, now)
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(update(AuditEvent).where(AuditEvent.id == events[1].id).values(data="{}"))
    db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("DELETE FROM audit_events"))
    db.rollback()
    assert audit.verify_chain(db).ok


def _rewrite_from(db: Session, event_id: int) -> None:
    """A careful forger: change one entry, then recompute every hash after it."""
    _without_triggers(db)
    db.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(data='{"n":9}'))
    prev = audit.GENESIS
    for event in db.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        event.prev_hash = prev
        event.hash = audit._entry_hash(prev, event)
        prev = event.hash
    db.commit()


def test_a_rewritten_chain_verifies_alone_but_not_against_a_kept_head(
    db: Session, now: datetime
) -> None:
    events = _three(db, now)
    kept = audit.KeptHead(count=3, head=events[-1].hash)
    assert audit.verify_chain(db, kept=kept).ok
    _rewrite_from(db, events[0].id)
    assert audit.verify_chain(db).ok  # internally consistent again...
    report = audit.verify_chain(db, kept=kept)  # ...but not the chain that was kept
    assert not report.ok
    assert "kept head" in report.problem


def test_a_truncated_chain_fails_against_a_kept_head(db: Session, now: datetime) -> None:
    events = _three(db, now)
    report = audit.verify_chain(db, kept=audit.KeptHead(count=5, head=events[-1].hash))
    assert not report.ok
    assert "shorter" in report.problem


@pytest.mark.parametrize(
    "text_", ["", "{}", '{"count": 1, "head": "xyz"}', '{"count": -1, "head": "' + "a" * 64 + '"}']
)
def test_a_malformed_kept_head_is_refused_in_words(text_: str) -> None:
    with pytest.raises(ValueError, match="kept head"):
        audit.parse_kept_head(text_)


def test_cli_exports_a_dated_head_and_checks_against_it(
    db: Session,
    db_url: str,
    now: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    events = _three(db, now)
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    head_file = tmp_path / "head.json"
    assert main(["audit", "verify", "--export", str(head_file)]) == 0
    kept = json.loads(head_file.read_text())
    assert kept["head"] == events[-1].hash
    assert kept["count"] == 3
    assert kept["verified_at"]
    assert events[-1].hash in capsys.readouterr().out
    assert main(["audit", "verify", "--against", str(head_file)]) == 0
    _rewrite_from(db, events[1].id)
    assert main(["audit", "verify", "--against", str(head_file)]) == 1
    assert "kept head" in capsys.readouterr().err
