"""Append events to the hash-chained audit log, and verify the chain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, event, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.util import find_tables

from webapp.audit.models import AuditEvent

GENESIS = "0" * 64


def canonical(data: dict[str, Any]) -> str:
    """The encoding that is hashed: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _body(prev_hash: str, event: AuditEvent) -> str:
    """What an entry's hash is the SHA-256 of (UTF-8)."""
    return canonical(
        {
            "prev": prev_hash,
            "at": event.occurred_at.isoformat(),
            "actor": event.actor_id,
            "action": event.action,
            "object": [event.object_type, event.object_id],
            "visit": event.visit_id,
            "data": event.data,
        }
    )


def _entry_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(_body(prev_hash, event).encode()).hexdigest()


# Not a hash (no hex digit is a P): where the previous hash goes in a body built before it
# is known (PostgreSQL's append computes the hash in SQL, see `_append_in_sql`).
_PREV_MARK = "P" * 64


def _body_around_prev(event: AuditEvent) -> tuple[str, str] | None:
    """The body's text before and after the previous hash: body = before + prev + after."""
    body = _body(_PREV_MARK, event)
    marker = f'"prev":"{_PREV_MARK}"'
    at = body.find(marker)
    if at < 0 or body.find(marker, at + 1) >= 0:
        return None  # cannot happen for a top-level key; the Python path then chains it
    split = at + len('"prev":"')
    return body[:split], body[split + len(_PREV_MARK) :]


_PENDING = "audit_pending"  # session.info: events recorded, appended at commit
_MARKS = "audit_savepoint_marks"  # session.info: pending length at each savepoint


@dataclass(frozen=True)
class NewEvent:
    """One event to append: what `record` takes, without the session."""

    action: str
    object_type: str
    object_id: int | str
    data: dict[str, Any]
    actor_id: int | None = None
    occurred_at: datetime | None = None
    visit_id: int | None = None


def record(
    session: Session,
    *,
    actor_id: int | None,
    action: str,
    object_type: str,
    object_id: int | str,
    now: datetime,
    visit_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Record one event in the caller's transaction (the change and its event commit
    together or not at all). It is chained and written at the commit, after every other
    statement of the transaction (see `_append_pending`)."""
    if not session.in_transaction():
        session.begin()  # the events belong to a transaction: its rollback drops them
    pending: list[NewEvent] = session.info.setdefault(_PENDING, [])
    pending.append(
        NewEvent(
            action=action,
            object_type=object_type,
            object_id=object_id,
            data=data or {},
            actor_id=actor_id,
            occurred_at=now,
            visit_id=visit_id,
        )
    )


def record_many(
    session: Session, *, actor_id: int | None, now: datetime, events: list[NewEvent]
) -> None:
    """Record several events (bulk imports), chained exactly as `record` chains them one
    by one, in the order given."""
    if not session.in_transaction():
        session.begin()
    pending: list[NewEvent] = session.info.setdefault(_PENDING, [])
    for new in events:
        pending.append(
            NewEvent(
                action=new.action,
                object_type=new.object_type,
                object_id=new.object_id,
                data=new.data,
                actor_id=actor_id,
                occurred_at=now,
                visit_id=new.visit_id,
            )
        )


_LOCK = text("SELECT pg_advisory_xact_lock(4242001)")
_HEAD = select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)


def _append_pending(session: Session, *, commit: bool = False) -> None:
    """Chain and insert the transaction's recorded events, in the order recorded.

    Run at commit, after the transaction's other statements (the report summary's refresh
    included): on PostgreSQL appends are serialised by a lock held until the commit, so it
    is taken as late as possible and held for one round trip and the commit (see
    `_append_in_sql`), not for the whole use case. Also run before a read of the audit log
    in the same transaction, so a transaction reads the events it recorded (as autoflush
    does)."""
    pending: list[NewEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return
    events = [
        AuditEvent(
            # In UTC, as it is read back: the verifier hashes what it reads.
            occurred_at=new.occurred_at.astimezone(UTC) if new.occurred_at else None,
            actor_id=new.actor_id,
            action=new.action,
            object_type=new.object_type,
            object_id=str(new.object_id),
            visit_id=new.visit_id,
            data=canonical(new.data),
        )
        for new in pending
    ]
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        if len(events) <= _IN_SQL_AT_MOST and _append_in_sql(connection, events, commit=commit):
            return
        # Serialise appends so the chain cannot fork under concurrent writers.
        connection.execute(_LOCK)
    prev = connection.execute(_HEAD).scalar() or GENESIS
    values = []
    for entry in events:
        entry.prev_hash = prev
        prev = _entry_hash(entry.prev_hash, entry)
        values.append({**_columns(entry), "prev_hash": entry.prev_hash, "hash": prev})
    # In order, one row or one executemany: the ids ascend as the chain does.
    connection.execute(_INSERT, values[0] if len(values) == 1 else values)


def _columns(event: AuditEvent) -> dict[str, Any]:
    return {
        "occurred_at": event.occurred_at,
        "actor_id": event.actor_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "visit_id": event.visit_id,
        "data": event.data,
    }


_IN_SQL_AT_MOST = 20  # events per transaction appended by `_append_in_sql`; more: executemany
_LOCK_SQL = "SELECT pg_advisory_xact_lock(4242001)"
_INSERT_IN_SQL = """
INSERT INTO audit_events
    (occurred_at, actor_id, action, object_type, object_id, visit_id, data, prev_hash, hash)
SELECT %(occurred_at)s, %(actor_id)s, %(action)s, %(object_type)s, %(object_id)s,
       %(visit_id)s, %(data)s, head.hash,
       encode(sha256(convert_to(%(before)s || head.hash || %(after)s, 'UTF8')), 'hex')
FROM (SELECT coalesce((SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1),
                      %(genesis)s) AS hash) AS head
"""


def _append_in_sql(connection: Connection, events: list[AuditEvent], *, commit: bool) -> bool:
    """PostgreSQL: take the chain's lock and append the events in ONE round trip (psycopg's
    pipeline), each event's previous hash read and its hash computed by the server (the
    same SHA-256 of the same UTF-8 body as `_entry_hash`; `verify_chain` recomputes it in
    Python). Each statement reads the head after the lock is held (a statement's snapshot
    is taken when it starts: after the lock statement before it). `commit`: the COMMIT
    goes in the same round trip (the transaction's last statement; the session's own
    commit then finds nothing to do), so the lock is held for the server's work alone. It
    used to span three statements and the commit with Python between them, each a wait for
    the interpreter lock on a busy worker, and that wait became every writer's. False
    (nothing done) if a body cannot be split around its previous hash."""
    parts = [_body_around_prev(event) for event in events]
    if any(p is None for p in parts):
        return False
    raw = connection.connection.driver_connection
    assert raw is not None
    try:
        with raw.pipeline(), raw.cursor() as cursor:
            cursor.execute(_LOCK_SQL)
            for entry, part in zip(events, parts, strict=True):
                assert part is not None
                cursor.execute(
                    _INSERT_IN_SQL,
                    {
                        **_columns(entry),
                        "before": part[0],
                        "after": part[1],
                        "genesis": GENESIS,
                    },
                )
            if commit:
                cursor.execute("COMMIT")
    except Exception as exc:  # psycopg's errors, wrapped as SQLAlchemy wraps them (503 etc.)
        if not isinstance(exc, connection.dialect.loaded_dbapi.Error):
            raise
        raise DBAPIError.instance(
            _INSERT_IN_SQL,
            None,
            exc,
            connection.dialect.loaded_dbapi.Error,
            dialect=connection.dialect,
        ) from exc
    return True


_TABLE = AuditEvent.__table__
assert isinstance(_TABLE, Table)
_INSERT = insert(_TABLE)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if session.info.get(_PENDING):
        if session.new or session.dirty or session.deleted:
            session.flush()  # the events' visits/objects first (foreign keys)
        # The append may commit the transaction itself (PostgreSQL, `_append_in_sql`) when
        # nothing can come after it: the outermost commit, this the last commit hook, and
        # nothing left to flush. Otherwise the session's commit does it, as always.
        last = list(session.dispatch.before_commit)[-1] is _before_commit
        _append_pending(
            session,
            commit=last
            and not session.in_nested_transaction()
            and not (session.new or session.dirty or session.deleted),
        )


@event.listens_for(Session, "after_transaction_create")
def _savepoint_mark(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested:
        marks = session.info.setdefault(_MARKS, {})
        marks[transaction] = len(session.info.get(_PENDING, []))


@event.listens_for(Session, "after_soft_rollback")
def _savepoint_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    # A rolled-back savepoint takes the events recorded inside it with it.
    mark = session.info.get(_MARKS, {}).pop(previous_transaction, None)
    if mark is not None and _PENDING in session.info:
        del session.info[_PENDING][mark:]


@event.listens_for(Session, "after_transaction_end")
def _transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        # Committed (appended already), rolled back or closed: nothing carries over.
        session.info.pop(_PENDING, None)
        session.info.pop(_MARKS, None)


@event.listens_for(Session, "do_orm_execute")
def _before_audit_read(state: ORMExecuteState) -> None:
    """A read of the audit log sees the events its transaction recorded."""
    statement = state.statement
    if (
        state.session.info.get(_PENDING)
        and state.is_select
        and isinstance(statement, ClauseElement)
        and any(t is _TABLE for t in find_tables(statement))
    ):
        _append_pending(state.session)


@dataclass(frozen=True)
class KeptHead:
    """A head exported earlier and kept elsewhere: the chain had `count` events ending in
    `head`. A chain rewritten since (every hash recomputed) cannot match it."""

    count: int
    head: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    count: int
    head: str
    first_bad_id: int | None = None
    problem: str = ""


def verify_chain(session: Session, *, kept: KeptHead | None = None) -> ChainReport:
    """Walk the chain; name the first entry that was altered, removed or reordered. With a
    kept head, also check that the chain still passes through it."""
    prev = GENESIS
    count = 0
    for entry in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        if entry.prev_hash != prev:
            return ChainReport(False, count, prev, entry.id, "previous hash does not match")
        if _entry_hash(prev, entry) != entry.hash:
            return ChainReport(False, count, prev, entry.id, "entry altered")
        prev = entry.hash
        count += 1
        if kept is not None and count == kept.count and prev != kept.head:
            return ChainReport(
                False, count, prev, entry.id, "does not match the kept head (chain rewritten)"
            )
    if kept is not None and count < kept.count:
        return ChainReport(
            False, count, prev, None, f"shorter than the kept head ({kept.count} events)"
        )
    return ChainReport(True, count, prev)


def head_record(report: ChainReport, *, now: datetime) -> dict[str, Any]:
    """What an operator keeps elsewhere (printed, mailed, filed): a dated head."""
    return {"verified_at": now.isoformat(), "count": report.count, "head": report.head}


def parse_kept_head(text_: str) -> KeptHead:
    """Read a head written by `head_record`; ValueError with a plain reason otherwise."""
    try:
        data = json.loads(text_)
        count, head = int(data["count"]), str(data["head"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a kept head (JSON with count and head): {exc}") from exc
    if count < 0 or len(head) != 64 or any(c not in "0123456789abcdef" for c in head):
        raise ValueError("not a kept head: count must be >= 0 and head 64 hex characters")
    return KeptHead(count=count, head=head)
