from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event
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
    for i in range(3):
        audit.record(
            db,
            actor_id=None,
            action=f"test.{i}",
            object_type="thing",
            object_id=i,
            now=now,
            data={"n": i, "text": "中文"},
        )
    db.commit()
    return list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))


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


AWKWARD: list[dict[str, Any]] = [
    {"text": '中文 "quoted" \\ back\nslash', "prev": "P" * 64},
    {"nested": {"b": [1, 2.5, None, True], "a": '"prev":"' + "P" * 64 + '"'}},
    {},
    {"emoji": "🙂", "tab": "\t", "nul": "\u0000", "rtl": "\u202e"},
]


def test_awkward_events_chain_and_verify_in_one_transaction(db: Session, now: datetime) -> None:
    """Several events of one transaction, with data that JSON must escape (on PostgreSQL
    the hashes are computed by the server; the verifier recomputes them in Python)."""
    for i, data in enumerate(AWKWARD):
        audit.record(
            db,
            actor_id=None,
            action=f"test.{i}",
            object_type="thing",
            object_id=f"id-{i}",
            now=now.replace(microsecond=i * 1000),
            visit_id=None,
            data=data,
        )
    db.commit()
    report = audit.verify_chain(db)
    assert report.ok, report
    assert report.count == len(AWKWARD)
    stored = list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [e.action for e in stored] == [f"test.{i}" for i in range(len(AWKWARD))]
    assert all(e.hash == audit._entry_hash(e.prev_hash, e) for e in stored)
    assert stored[0].prev_hash == audit.GENESIS


def test_many_events_of_one_transaction_chain_in_order(db: Session, now: datetime) -> None:
    """Past the in-SQL batch size the events go by one executemany, chained the same way."""
    for i in range(audit._IN_SQL_AT_MOST + 5):
        audit.record(
            db, actor_id=None, action="bulk", object_type="t", object_id=i, now=now, data={"i": i}
        )
    db.commit()
    audit.record(db, actor_id=None, action="after", object_type="t", object_id=0, now=now)
    db.commit()
    report = audit.verify_chain(db)
    assert report.ok, report
    assert report.count == audit._IN_SQL_AT_MOST + 6
    ids = [e.object_id for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert ids == [str(i) for i in range(audit._IN_SQL_AT_MOST + 5)] + ["0"]


def test_a_transaction_reads_the_events_it_recorded(db: Session, now: datetime) -> None:
    audit.record(db, actor_id=None, action="seen", object_type="t", object_id=1, now=now)
    assert db.scalar(select(AuditEvent.action)) == "seen"  # before the commit
    db.commit()
    assert audit.verify_chain(db).count == 1


def test_events_go_with_their_transaction_or_savepoint(db: Session, now: datetime) -> None:
    audit.record(db, actor_id=None, action="rolled", object_type="t", object_id=1, now=now)
    db.rollback()
    audit.record(db, actor_id=None, action="kept", object_type="t", object_id=2, now=now)
    savepoint = db.begin_nested()
    audit.record(db, actor_id=None, action="undone", object_type="t", object_id=3, now=now)
    savepoint.rollback()
    audit.record(db, actor_id=None, action="kept.too", object_type="t", object_id=4, now=now)
    db.commit()
    assert [e.action for e in db.scalars(select(AuditEvent).order_by(AuditEvent.id))] == [
        "kept",
        "kept.too",
    ]
    assert audit.verify_chain(db).ok


def test_a_commit_hook_after_the_append_runs_in_the_same_transaction(
    db: Session, now: datetime
) -> None:
    """On PostgreSQL the append may send the COMMIT itself, but only when nothing comes
    after it: a later commit hook still runs inside the transaction it belongs to."""
    postgres = db.get_bind().dialect.name == "postgresql"
    seen: list[object] = []

    def later_hook(session: Session) -> None:
        seen.append(session.scalar(text("SELECT txid_current()")) if postgres else "ran")

    audit.record(db, actor_id=None, action="first", object_type="t", object_id=1, now=now)
    before = db.scalar(text("SELECT txid_current()")) if postgres else "ran"
    sa_event.listen(db, "before_commit", later_hook)
    try:
        db.commit()
    finally:
        sa_event.remove(db, "before_commit", later_hook)
    assert seen == [before]
    assert audit.verify_chain(db).count == 1
