"""Accounts and their server-side (revocable) sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.agencies.models import Agency, Inspector
from webapp.db import Base, UTCDateTime
from webapp.enterprises.models import Enterprise
from webapp.enums import Role, sa_enum


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(sa_enum(Role, "role"))
    # inspector: the person behind the account; supervisor: the agency they oversee
    # (and all below it); manager: the enterprise.
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("inspectors.id"), unique=True)
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"), index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    inspector: Mapped[Inspector | None] = relationship()
    agency: Mapped[Agency | None] = relationship()
    enterprise: Mapped[Enterprise | None] = relationship()


class UserSession(Base):
    """A sign-in: the cookie or bearer token holds a secret whose SHA-256 is the id."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "web" or "api"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class IdempotencyRecord(Base):
    """The first answer to a request with an Idempotency-Key, replayed on retries."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(100))
    request_digest: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SignInAttempt(Base):
    """Every sign-in attempt (never the password): the throttle reads it, so a limit holds
    across restarts and worker processes, and the log shows who tried what."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_username_at", "username", "at"),
        Index("ix_sign_in_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    # As typed (trimmed, lower-cased, cut to 64): an unknown name is throttled the same way,
    # so the throttle does not reveal which accounts exist.
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # "web" or "api"
    # "ok", "failed" (wrong name or password, or a disabled account) or "throttled".
    outcome: Mapped[str] = mapped_column(String(16))
