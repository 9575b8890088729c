"""Test harness: a real database per test (SQLite file, or PostgreSQL with TEST_DATABASE_URL),
built by the migrations (never create_all)."""

from __future__ import annotations

import os
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

from tests.dbs import Databases
from tests.factories import World, build_world
from webapp.app import create_app
from webapp.clock import FixedClock
from webapp.config import get_settings
from webapp.db import make_engine, make_sessionmaker

# Monday 16 November 2026, 09:00 in Shanghai.
T0 = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    """Migrated once per test session; each test gets its own copy (see tests/dbs.py)."""
    made = Databases(tmp_path_factory.mktemp("template"))
    yield made
    made.close()


@pytest.fixture
def db_url(databases: Databases, tmp_path: Path) -> Iterator[str]:
    url = databases.new(tmp_path)
    yield url
    databases.drop(url)


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
