"""Idempotency keys: a retried request gets the first answer, and creates nothing twice."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.auth.models import IdempotencyRecord
from webapp.errors import DomainError

MAX_KEY_LENGTH = 100


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
    """The stored answer for this key, or None; a key reused for another request is refused."""
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
