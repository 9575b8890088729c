"""Idempotency keys: a retried request gets the first answer, and creates nothing twice."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from webapp.auth.models import IdempotencyRecord
from webapp.errors import DomainError

MAX_KEY_LENGTH = 100
# PostgreSQL advisory lock space of idempotency keys (two-int form: never the audit log's).
_KEY_LOCK_SPACE = 4242002


def check_key(key: str | None) -> str | None:
    if key is None or key == "":
        return None
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise DomainError(
            "validation_error",
            "The Idempotency-Key header must be at most 100 printable characters.",
            field="Idempotency-Key",
        )
    return key


def replay(
    session: Session, *, user_id: int, scope: str, key: str, request_digest: str
) -> IdempotencyRecord | None:
    """The stored answer for this key, or None; a key reused for another request is refused.

    On PostgreSQL the key is locked until the transaction ends: one request with the same
    key sent twice at once (to two worker processes) runs one after the other, and the
    second finds the first one's answer instead of failing on the unique constraint."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(CAST(:space AS integer), hashtext(:name))"),
            {"space": _KEY_LOCK_SPACE, "name": f"{user_id}:{scope}:{key}"},
        )
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == user_id,
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
        )
    )
    if record is not None and record.request_digest != request_digest:
        raise DomainError(
            "idempotency_key_reused",
            "This Idempotency-Key was already used for a different request; "
            "use a new key for a new request.",
        )
    return record


def remember(
    session: Session,
    *,
    user_id: int,
    scope: str,
    key: str,
    request_digest: str,
    status_code: int,
    body: Any,
    now: datetime,
) -> None:
    """Store the answer in the same transaction as the change it describes."""
    session.add(
        IdempotencyRecord(
            user_id=user_id,
            scope=scope,
            key=key,
            request_digest=request_digest,
            status_code=status_code,
            body=json.dumps(body, ensure_ascii=False, default=str),
            created_at=now,
        )
    )
