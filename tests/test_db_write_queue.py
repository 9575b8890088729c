"""SQLite: this process's writers queue on one lock (taken at BEGIN IMMEDIATE, given back
when the connection returns to the pool), so a burst of writers goes in turn, and the lock is
never leaked by a commit, a rollback, an error or a broken connection."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from tests.dbs import Databases, sqlite_only
from webapp.audit import service as audit
from webapp.audit.models import AuditEvent
from webapp.db import begin_write, make_engine, make_sessionmaker

pytestmark = sqlite_only


def _write(engine: Engine, now: datetime, n: int) -> None:
    with make_sessionmaker(engine)() as session:
        begin_write(session)
        audit.record(session, actor_id=None, action="t", object_type="t", object_id=n, now=now)
        session.commit()


def _events(engine: Engine) -> int:
    with make_sessionmaker(engine)() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


@pytest.fixture
def url(databases: Databases, tmp_path: Path) -> str:
    return databases.new(tmp_path)


def test_a_burst_of_writers_all_get_their_turn(url: str, now: datetime) -> None:
    # SQLite's own wait is switched off (busy_timeout 0: a writer that meets another's lock
    # inside SQLite fails at once), so every write succeeds only if this process's writers
    # really take turns before reaching SQLite.
    engine = make_engine(url, busy_timeout_ms=0, queue_timeout_ms=20000)
    errors: list[BaseException] = []
    start = threading.Barrier(40)

    def writer(n: int) -> None:
        try:
            start.wait()
            _write(engine, now, n)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _events(engine) == 40
    engine.dispose()


def test_a_writer_waits_its_turn_then_gives_up_with_a_503_error(url: str, now: datetime) -> None:
    engine = make_engine(url, busy_timeout_ms=200)
    holder = make_sessionmaker(engine)()
    begin_write(holder)  # holds the turn
    with pytest.raises(OperationalError, match="database is locked"):
        _write(engine, now, 1)
    holder.commit()
    holder.close()
    _write(engine, now, 2)  # the turn came back with the holder's connection
    assert _events(engine) == 1
    engine.dispose()


@pytest.mark.parametrize("ending", ["commit", "rollback", "error", "invalidate"])
def test_every_ending_gives_the_turn_back(url: str, now: datetime, ending: str) -> None:
    engine = make_engine(url, busy_timeout_ms=200)
    session = make_sessionmaker(engine)()
    begin_write(session)
    if ending == "commit":
        session.commit()
    elif ending == "rollback":
        session.rollback()
    elif ending == "error":
        with pytest.raises(OperationalError):
            session.connection().exec_driver_sql("SELECT * FROM no_such_table")
        session.rollback()
    else:
        session.connection().invalidate()
        session.rollback()
    session.close()
    _write(engine, now, 1)  # would time out (200 ms) if the turn had leaked
    assert _events(engine) == 1
    engine.dispose()
