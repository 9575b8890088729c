"""Test harness: a real SQLite file per test, built by the migrations (never create_all)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

os.environ.update(
    {
        "SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop",
        "BASE_URL": "https://testserver",
        "DEMO_MODE": "false",
        "SWEEP_INTERVAL_SECONDS": "0",
        "COOKIE_SECURE": "true",
    }
)

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.factories import World, build_world
from webapp.__main__ import migrate
from webapp.app import create_app
from webapp.clock import FixedClock
from webapp.config import get_settings
from webapp.db import make_engine, make_sessionmaker

# Monday 16 November 2026, 09:00 in Shanghai.
T0 = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database per test session; each test gets a copy of the file."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    path = tmp_path / "test.sqlite3"
    shutil.copyfile(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        yield session


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def now(clock: FixedClock) -> datetime:
    return clock.now()


@pytest.fixture
def world(db: Session, now: datetime) -> World:
    return build_world(db, now=now)


@pytest.fixture
def app(engine: Engine, clock: FixedClock) -> FastAPI:
    get_settings.cache_clear()
    return create_app(get_settings(), clock=clock, engine=engine)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="https://testserver") as c:
        yield c
