"""Fresh migrated databases for tests, on SQLite (default) or PostgreSQL.

SQLite: the migrations run once per test session into a template file; each test gets a copy.
PostgreSQL: set `TEST_DATABASE_URL` to a superuser URL of a throwaway cluster (`make test-pg`
starts one); the migrations run once per test session into a template database and each test
gets `CREATE DATABASE ... TEMPLATE` of it, dropped afterwards.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from webapp.__main__ import migrate
from webapp.db import make_engine

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
ON_POSTGRESQL = TEST_DATABASE_URL.startswith("postgresql")

sqlite_only = pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite-specific (file, PRAGMA, lock)")
postgresql_only = pytest.mark.skipif(
    not ON_POSTGRESQL, reason="needs PostgreSQL: set TEST_DATABASE_URL (make test-pg)"
)


class Databases:
    """Makes a fresh, migrated, empty database per call and forgets them at the end."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._counter = itertools.count(1)
        self._made: list[str] = []
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self._prefix = f"t_{worker}_{os.getpid()}"
        if ON_POSTGRESQL:
            self._admin = create_engine(
                TEST_DATABASE_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT"
            )
            self._template = f"{self._prefix}_template"
            with self._admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self._template}" WITH (FORCE)')
                conn.exec_driver_sql(f'CREATE DATABASE "{self._template}"')
            migrate(self.url_of(self._template))
        else:
            self._template_path = root / "template.sqlite3"
            migrate(f"sqlite:///{self._template_path}")
            engine = make_engine(f"sqlite:///{self._template_path}")
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()

    @property
    def dialect(self) -> str:
        return "postgresql" if ON_POSTGRESQL else "sqlite"

    def url_of(self, name: str) -> str:
        return make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)

    def new(self, directory: Path, stem: str = "test") -> str:
        """A new database's URL (a file in `directory` on SQLite)."""
        if ON_POSTGRESQL:
            name = f"{self._prefix}_{next(self._counter)}"
            with self._admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
            url = self.url_of(name)
            self._made.append(name)
            return url
        path = directory / f"{stem}.sqlite3"
        shutil.copyfile(self._template_path, path)
        return f"sqlite:///{path}"

    def empty(self, directory: Path, stem: str = "empty") -> str:
        """A new database with nothing in it (not even the migrations)."""
        if ON_POSTGRESQL:
            name = f"{self._prefix}_{next(self._counter)}"
            with self._admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            self._made.append(name)
            return self.url_of(name)
        return f"sqlite:///{directory / f'{stem}.sqlite3'}"

    def drop(self, url: str) -> None:
        """Forget a database made by `new` (PostgreSQL: dropped, open connections ended)."""
        if not ON_POSTGRESQL:
            return
        name = make_url(url).database
        if name in self._made:
            self._made.remove(name)
            with self._admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if not ON_POSTGRESQL:
            return
        with self._admin.connect() as conn:
            for name in [*self._made, self._template]:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.clear()
        self._admin.dispose()


def triggers(session: Session) -> list[tuple[str, str]]:
    """(trigger, table) for every trigger of the test database, on either engine."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " WHERE NOT t.tgisinternal"
            )
        ).all()
    else:
        rows = session.execute(
            text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'")
        ).all()
    return [(str(name), str(table)) for name, table in rows]


def unguard(session: Session, table: str | None = None) -> None:
    """Drop the append-only guards of one table, or of every table (tests that play the
    attacker with SQL access, or that must write over evidence rows to test rendering)."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    for name, on_table in triggers(session):
        if table is None or on_table == table:
            on = f' ON "{on_table}"' if postgresql else ""
            session.execute(text(f'DROP TRIGGER "{name}"{on}'))
