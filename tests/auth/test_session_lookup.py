"""The sign-in lookup of every request (auth.service.resolve_session): on PostgreSQL one
SELECT outside any transaction (no BEGIN, no COMMIT: two round trips less per request), and
the connection goes back to the pool in its usual mode (the next use case is transactional)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from tests.dbs import postgresql_only
from tests.factories import World
from webapp.auth import service as auth
from webapp.config import Settings, get_settings
from webapp.db import begin_write, make_sessionmaker


@pytest.fixture
def commands() -> Iterator[list[bytes]]:
    """The commands psycopg sends by itself (BEGIN, COMMIT, ...), not the statements."""
    import psycopg

    sent: list[bytes] = []
    original = psycopg.Connection._exec_command

    def spy(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(bytes(command) if isinstance(command, bytes | bytearray) else b"?")
        return original(self, command, *args, **kwargs)

    psycopg.Connection._exec_command = spy  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.Connection._exec_command = original  # type: ignore[method-assign]


@pytest.fixture
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


@postgresql_only
def test_the_lookup_runs_outside_a_transaction_on_postgresql(
    engine: Engine,
    db: Session,
    world: World,
    now: datetime,
    settings: Settings,
    commands: list[bytes],
) -> None:
    token, _row = auth.start_session(
        db, user=world.manager_a, kind="api", now=now, settings=settings
    )
    engine.dispose()  # one pooled connection below: the lookup's is the use case's
    factory = make_sessionmaker(engine)
    with factory() as session:
        commands.clear()
        found = auth.resolve_session(session, token=token, kind="api", now=now, settings=settings)
        assert found is not None
        assert found.user.id == world.manager_a.id
        assert not session.in_transaction()
        assert commands == []  # no BEGIN, no COMMIT around the SELECT
        used = {id(c.dbapi_connection) for c in engine.pool._pool.queue}  # type: ignore[attr-defined]
        assert len(used) == 1
        # The next use case on the same session, on that same connection, is a transaction.
        begin_write(session)
        session.execute(text("SELECT 1"))
        dbapi = session.connection().connection.dbapi_connection
        assert id(dbapi) in used
        assert dbapi.autocommit is False  # type: ignore[union-attr]
        session.rollback()
    assert any(c.startswith(b"BEGIN") for c in commands)


def test_a_revoked_session_is_refused_at_once(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    token, row = auth.start_session(
        db, user=world.manager_a, kind="api", now=now, settings=settings
    )
    assert auth.resolve_session(db, token=token, kind="api", now=now, settings=settings)
    auth.end_session(db, session_id=row.id, actor_id=world.manager_a.id, now=now)
    assert auth.resolve_session(db, token=token, kind="api", now=now, settings=settings) is None
