"""Engine (SQLite opened for durability), declarative Base, UTC times, sessions."""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Write use cases ask for this so SQLite takes its write lock at BEGIN: two confirmations
# of one pass then run one after the other instead of failing on a stale snapshot.
WRITE = {"sqlite_write": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; refuses naive datetimes; always returns aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def make_engine(
    url: str,
    *,
    busy_timeout_ms: int = 10000,
    queue_timeout_ms: int | None = None,
    **kwargs: Any,
) -> Engine:
    """An engine; for SQLite: WAL, synchronous=FULL, foreign keys, and our own BEGIN. A write
    waits up to `busy_timeout_ms` for another writer (PostgreSQL: for a lock) before giving up
    (then: 503, retry); on SQLite, for its turn among this process's writers, up to
    `queue_timeout_ms` (default: the same)."""
    if not url.startswith("sqlite"):
        # PostgreSQL: a write waiting on another's lock gives up after the same time, so a
        # stuck job answers 503 "not saved, please retry" rather than hanging the request.
        connect_args = {"options": f"-c lock_timeout={int(busy_timeout_ms)}"}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
    # Every request thread may hold a connection while it waits its turn to write (below).
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 40)
    engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
    # One writer at a time is SQLite's rule. Within this process the writers queue on a lock
    # instead of each sleeping in SQLite's busy handler and retrying: under a burst (50
    # confirmations at once) they go in turn, without timeouts. Other processes still meet
    # at SQLite's own lock (busy_timeout). Held from BEGIN IMMEDIATE until the connection
    # goes back to the pool (after its commit or rollback).
    writers = _Turns()
    wait_s = (busy_timeout_ms if queue_timeout_ms is None else queue_timeout_ms) / 1000

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (see `_on_begin`).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if ":memory:" not in url and url != "sqlite://":
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if not conn.get_execution_options().get("sqlite_write"):
            conn.exec_driver_sql("BEGIN")
            return
        record = conn.connection.info
        if not record.get(_HOLDS_WRITE_LOCK):
            if not writers.acquire(timeout=wait_s):
                raise OperationalError(
                    "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
                )
            record[_HOLDS_WRITE_LOCK] = True
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # Back in the pool (committed, rolled back, or invalidated): the next writer's turn.
        if record.info.pop(_HOLDS_WRITE_LOCK, False):
            writers.release()

    return engine


_HOLDS_WRITE_LOCK = "holds_write_lock"


class _Turns:
    """A lock that serves its waiters in arrival order, with a timeout (threading.Lock lets
    a newcomer overtake, so under a burst some writers would starve until they time out)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Event] = deque()

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return True
            turn = threading.Event()
            self._waiters.append(turn)
        if turn.wait(timeout):
            return True
        with self._mutex:
            if turn.is_set():  # handed over just as the wait ran out
                return True
            self._waiters.remove(turn)
            return False

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()  # the turn passes directly: still held
            else:
                self._held = False


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # Every session keeps the monthly report's summary tables current (session hooks
    # registered on import; imported here, not at the top: it imports the models).
    import webapp.supervision.summary  # noqa: F401

    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


def begin_write(session: Session) -> None:
    """Start the session's transaction as a write transaction (no-op if one is under way).

    Services that change data call this first; on SQLite the write lock is then held from
    the first read, so what the use case read cannot change before it writes.
    """
    if not session.in_transaction():
        session.connection(execution_options=WRITE)


def in_write_transaction(session: Session) -> bool:
    """The session's transaction began as a write transaction (`begin_write`; on SQLite,
    under the write lock from its BEGIN IMMEDIATE)."""
    if not session.in_transaction():
        return False
    return bool(session.connection().get_execution_options().get("sqlite_write"))


def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session:
        yield session


def among(column: Any, values: Iterable[Any], dialect: str) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(:array)`, one parameter instead of one
    per value: for a province's 1,101 agencies SQLAlchemy rendered and psycopg parsed the
    parameters anew on every page (~40 ms of a report's Python time; the text changes with
    every count, so psycopg cannot cache it), and the driver prepares the statement once
    whatever the number of values. The same rows, the same plan."""
    if dialect == "postgresql":
        array = bindparam(None, list(values), type_=ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


def among_param(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """`among` with the values as the parameter `name` given at each run, for a statement
    built once: on PostgreSQL one array (`= ANY`), elsewhere an expanding IN."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


def plain_reads(session: Session) -> Connection:
    """The session's connection, for Core reads of plain rows on a busy path (a statement
    through the session costs about twice as much in Python: ORM execution and its hooks).
    Pending ORM changes are flushed first, as the session's own autoflush would."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return session.connection()
