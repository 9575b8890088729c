"""Signing in and out, sessions, and accounts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, event, func, select, update
from sqlalchemy.orm import Session

from webapp.audit import service as audit
from webapp.auth import security
from webapp.auth.models import SignInAttempt, User, UserSession
from webapp.config import Settings
from webapp.db import begin_write
from webapp.enums import Role
from webapp.errors import DomainError, FieldError, forbidden, not_found, validation_error

log = logging.getLogger("webapp.auth")

# Touch last_seen_at at most this often: every request writing would serialise reads.
_TOUCH_EVERY = timedelta(minutes=1)
# The session lookup reads in a plain transaction even in a state-changing request's session
# (whose every BEGIN otherwise asks for SQLite's write turn, webapp.db.WRITE): a request
# queues for that turn once, for its use case, not also for its sign-in check.
_READ_ONLY = {"sqlite_write": False}
# PostgreSQL: the lookup is one SELECT; without a transaction around it, two round trips
# (BEGIN, COMMIT) less on every signed-in request. (SQLite's BEGIN is ours: webapp.db.)
_AUTOCOMMIT = {**_READ_ONLY, "isolation_level": "AUTOCOMMIT"}
# The session's columns with its user, in one statement (built once: building costs more
# than running it). The user is the one object loaded: the request acts as them.
_SESSION_WITH_USER = (
    select(
        UserSession.id,
        UserSession.kind,
        UserSession.revoked_at,
        UserSession.expires_at,
        UserSession.last_seen_at,
        User,
    )
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.id == bindparam("session_id"))
)


def _failures_since(session: Session, column: Any, value: str, since: datetime) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(SignInAttempt)
            .where(column == value, SignInAttempt.at > since, SignInAttempt.outcome == "failed")
        )
        or 0
    )


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    address: str,
    kind: str,
    now: datetime,
    settings: Settings,
) -> User:
    """The active user with this name and password; one generic refusal otherwise.

    Every attempt is recorded (without the password). Too many failures for one account, or
    from one address, within the window refuse further attempts until the window has passed,
    whether or not the account exists; the password is then not even checked."""
    name = username.strip().lower()[:64]
    address = (address or "unknown")[:64]
    begin_write(session)
    window_start = now - timedelta(minutes=settings.signin_window_minutes)
    last_ok = session.scalar(
        select(func.max(SignInAttempt.at)).where(
            SignInAttempt.username == name, SignInAttempt.outcome == "ok"
        )
    )
    since = max(window_start, last_ok) if last_ok else window_start
    throttled = (
        _failures_since(session, SignInAttempt.username, name, since)
        >= settings.signin_max_failures_per_account
        or _failures_since(session, SignInAttempt.address, address, window_start)
        >= settings.signin_max_failures_per_address
    )
    user: User | None = None
    if throttled:
        outcome = "throttled"
    else:
        user = session.scalar(select(User).where(func.lower(User.username) == name))
        if user is None:
            security.burn_password_check(password)
        ok = (
            user is not None
            and security.verify_password(user.password_hash, password)
            and user.is_active
        )
        outcome = "ok" if ok else "failed"
    session.add(SignInAttempt(at=now, username=name, address=address, kind=kind, outcome=outcome))
    session.commit()
    log.info("sign-in %s: user=%r address=%s kind=%s", outcome, name, address, kind)
    if outcome == "throttled":
        raise DomainError(
            "sign_in_throttled",
            "Too many failed sign-ins. Wait %(minutes)s minutes, then try again.",
            status=429,
            minutes=settings.signin_window_minutes,
        )
    if outcome != "ok" or user is None:
        raise DomainError("invalid_credentials", "Wrong user name or password.", status=401)
    return user


def start_session(
    session: Session, *, user: User, kind: str, now: datetime, settings: Settings
) -> tuple[str, UserSession]:
    """A new session (always a new id: sign-in never reuses one). Returns the secret."""
    begin_write(session)
    token, sid = security.new_session_secret()
    lifetime = (
        timedelta(hours=settings.api_token_hours)
        if kind == "api"
        else timedelta(hours=settings.session_absolute_hours)
    )
    row = UserSession(
        id=sid,
        user_id=user.id,
        kind=kind,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    audit.record(
        session,
        actor_id=user.id,
        action="auth.signed_in",
        object_type="user",
        object_id=user.id,
        now=now,
        data={"kind": kind},
    )
    session.commit()
    return token, row


@dataclass(frozen=True)
class Authenticated:
    user: User
    session_id: str


def resolve_session(
    session: Session,
    *,
    token: str,
    kind: str,
    now: datetime,
    settings: Settings,
    touch_with_next_write: bool = False,
) -> Authenticated | None:
    """The signed-in user behind a cookie or bearer secret, if the session still holds.

    Ends its own transaction: the request's use case begins its own. (On SQLite a state-
    changing request reads under the write turn; holding it from this lookup while the
    request waits for a worker thread for its endpoint stalled every writer under a burst.)"""
    try:
        if not session.in_transaction():
            postgresql = session.get_bind().dialect.name == "postgresql"
            session.connection(execution_options=_AUTOCOMMIT if postgresql else _READ_ONLY)
        return _resolve_session(
            session,
            token=token,
            kind=kind,
            now=now,
            settings=settings,
            touch_with_next_write=touch_with_next_write,
        )
    finally:
        if session.in_transaction():
            session.commit()


def resolve_session_for_write(
    session: Session, *, token: str, kind: str, now: datetime, settings: Settings
) -> Authenticated | None:
    """`resolve_session` for a state-changing use case called in the same thread right
    after it (the confirmation's API). On PostgreSQL the lookup is the first read of the
    use case's own write transaction, begun here and left open for it: one connection
    checked out (and pinged) per request instead of two, and the touch, when due, written
    in that transaction. A failed lookup rolls it back. SQLite: as `resolve_session` (the
    lookup stays outside the write turn, which serialises the writers)."""
    if session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return resolve_session(
            session, token=token, kind=kind, now=now, settings=settings, touch_with_next_write=True
        )
    begin_write(session)
    found = _resolve_session(
        session,
        token=token,
        kind=kind,
        now=now,
        settings=settings,
        touch_with_next_write=True,
        touch_here=True,
    )
    if found is None:
        session.rollback()
    return found


def _resolve_session(
    session: Session,
    *,
    token: str,
    kind: str,
    now: datetime,
    settings: Settings,
    touch_with_next_write: bool,
    touch_here: bool = False,
) -> Authenticated | None:
    if not token or len(token) > 200:
        return None
    row = session.execute(_SESSION_WITH_USER, {"session_id": security.session_id_of(token)}).first()
    if row is None or row.kind != kind or row.revoked_at is not None or now >= row.expires_at:
        return None
    if kind == "web" and now - row.last_seen_at > timedelta(minutes=settings.session_idle_minutes):
        return None
    user: User = row.User
    if not user.is_active:
        return None
    found = Authenticated(user=user, session_id=row.id)
    if now - row.last_seen_at > _TOUCH_EVERY:
        touch = update(UserSession).where(UserSession.id == found.session_id)
        touch = touch.values(last_seen_at=now)
        if touch_here:
            # `resolve_session_for_write`: this is the use case's write transaction.
            session.execute(touch)
        elif touch_with_next_write:
            # A state-changing request: the touch rides in its use case's write transaction
            # (one write turn and one commit per request, not two). Lost if that transaction
            # rolls back; the next request then touches again.
            def _touch(_session: Session, _transaction: Any, connection: Any) -> None:
                connection.execute(touch)

            event.listen(session, "after_begin", _touch, once=True)
        else:
            # A write: end the read, then write in a transaction of its own (on SQLite under
            # the write turn, not by upgrading a read transaction, which may fail at once).
            session.commit()
            begin_write(session)
            session.execute(touch)
    return found


def end_session(session: Session, *, session_id: str, actor_id: int, now: datetime) -> None:
    begin_write(session)
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    audit.record(
        session,
        actor_id=actor_id,
        action="auth.signed_out",
        object_type="user",
        object_id=actor_id,
        now=now,
    )
    session.commit()


def create_user(
    session: Session,
    *,
    actor: User,
    username: str,
    display_name: str,
    password: str,
    role: Role,
    now: datetime,
    inspector_id: int | None = None,
    agency_id: int | None = None,
    enterprise_id: int | None = None,
) -> User:
    """An admin creates an account; each role needs the link that scopes it."""
    if actor.role != Role.admin:
        raise forbidden()
    begin_write(session)
    errors: list[FieldError] = []
    username = username.strip()
    if not (3 <= len(username) <= 64) or not all(c.isalnum() or c in "._-" for c in username):
        errors.append(
            FieldError("username", "3 to 64 letters, digits, dots, dashes or underscores.")
        )
    elif session.scalar(select(User.id).where(User.username == username)) is not None:
        errors.append(FieldError("username", "This user name is taken."))
    if not display_name.strip():
        errors.append(FieldError("display_name", "Give the person's name."))
    if len(password) < 10:
        errors.append(FieldError("password", "Use at least 10 characters."))
    if role == Role.inspector and inspector_id is None:
        errors.append(FieldError("inspector_id", "An inspector account needs its inspector."))
    if role == Role.manager and enterprise_id is None:
        errors.append(FieldError("enterprise_id", "A manager account needs its enterprise."))
    if role == Role.supervisor and agency_id is None:
        errors.append(FieldError("agency_id", "A supervisor account needs its agency."))
    if errors:
        raise validation_error(errors)
    if role == Role.inspector and inspector_id is not None:
        from webapp.agencies.models import Inspector

        inspector = session.get(Inspector, inspector_id)
        if inspector is None:
            raise validation_error([FieldError("inspector_id", "No such inspector.")])
        if session.scalar(select(User.id).where(User.inspector_id == inspector_id)):
            raise validation_error(
                [FieldError("inspector_id", "This inspector already has an account.")]
            )
        agency_id = inspector.agency_id
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=security.hash_password(password),
        role=role,
        inspector_id=inspector_id if role == Role.inspector else None,
        agency_id=agency_id if role in (Role.inspector, Role.supervisor) else None,
        enterprise_id=enterprise_id if role == Role.manager else None,
        is_active=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="user.created",
        object_type="user",
        object_id=user.id,
        now=now,
        data={"username": username, "role": role.value},
    )
    session.commit()
    return user


def set_user_active(
    session: Session, *, actor: User, user_id: int, active: bool, now: datetime
) -> User:
    """Enable or disable an account; disabling ends every session of that user."""
    if actor.role != Role.admin:
        raise forbidden()
    begin_write(session)
    user = session.get(User, user_id)
    if user is None:
        raise not_found("user")
    user.is_active = active
    if not active:
        session.execute(
            update(UserSession)
            .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    audit.record(
        session,
        actor_id=actor.id,
        action="user.enabled" if active else "user.disabled",
        object_type="user",
        object_id=user.id,
        now=now,
    )
    session.commit()
    return user
