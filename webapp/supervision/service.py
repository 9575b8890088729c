"""Supervision use cases (to be filled in)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session


def sweep_unconfirmed(session: Session, *, now: datetime) -> int:
    return 0
