"""Append events to the hash-chained audit log, and verify the chain."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from webapp.audit.models import AuditEvent

GENESIS = "0" * 64


def canonical(data: dict[str, Any]) -> str:
    """The encoding that is hashed: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _entry_hash(prev_hash: str, event: AuditEvent) -> str:
    body = canonical(
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
    return hashlib.sha256(body.encode()).hexdigest()


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
) -> AuditEvent:
    """Append one event in the caller's transaction (the change and its event commit
    together or not at all)."""
    if session.get_bind().dialect.name == "postgresql":
        # Serialise appends so the chain cannot fork under concurrent writers.
        session.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
    session.flush()
    prev = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    event = AuditEvent(
        occurred_at=now,
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        visit_id=visit_id,
        data=canonical(data or {}),
        prev_hash=prev or GENESIS,
    )
    event.hash = _entry_hash(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    count: int
    head: str
    first_bad_id: int | None = None
    problem: str = ""


def verify_chain(session: Session) -> ChainReport:
    """Walk the chain; name the first entry that was altered, removed or reordered."""
    prev = GENESIS
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        if event.prev_hash != prev:
            return ChainReport(False, count, prev, event.id, "previous hash does not match")
        if _entry_hash(prev, event) != event.hash:
            return ChainReport(False, count, prev, event.id, "entry altered")
        prev = event.hash
        count += 1
    return ChainReport(True, count, prev)
