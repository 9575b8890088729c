"""The first administrator of a new install (no admin exists to create one)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.audit import service as audit
from webapp.auth import security
from webapp.auth.models import User
from webapp.db import begin_write
from webapp.enums import Role
from webapp.errors import DomainError


def create_first_admin(session: Session, *, username: str, password: str, now: datetime) -> User:
    begin_write(session)
    if len(password) < 10:
        raise DomainError("validation_error", "Use at least 10 characters.", field="password")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise DomainError("validation_error", "This user name is taken.", field="username")
    user = User(
        username=username,
        display_name=username,
        password_hash=security.hash_password(password),
        role=Role.admin,
        is_active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor_id=None,
        action="user.created",
        object_type="user",
        object_id=user.id,
        now=now,
        data={"username": username, "role": "admin"},
    )
    session.commit()
    return user
