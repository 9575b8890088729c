"""Demo data (to be filled in)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.auth.models import User


def is_empty(session: Session) -> bool:
    return session.scalar(select(User.id).limit(1)) is None


def load(session: Session, *, now: datetime) -> None:
    raise NotImplementedError
