"""A locked or unavailable database: 503 "not saved, please retry" in the user's language,
the form's input offered back, and no partial rows."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from tests.factories import World, api_token, csrf_from, login
from webapp.agencies.models import Agency
from webapp.app import create_app
from webapp.clock import FixedClock
from webapp.config import get_settings
from webapp.db import make_engine
from webapp.visits.models import Visit


@pytest.fixture
def impatient_client(db_url: str, clock: FixedClock, world: World) -> Iterator[TestClient]:
    """The app over an engine that waits only 50 ms for another writer."""
    engine = make_engine(db_url, busy_timeout_ms=50)
    get_settings.cache_clear()
    app: FastAPI = create_app(get_settings(), clock=clock, engine=engine)
    with TestClient(app, base_url="https://testserver") as client:
        yield client
    engine.dispose()


@contextmanager
def locked(db_url: str) -> Iterator[None]:
    """Another process holds the write lock (a long backup, a stuck job): readers go on,
    writers wait."""
    if db_url.startswith("sqlite"):
        con = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            con.execute("ROLLBACK")
            con.close()
        return
    engine = make_engine(db_url, poolclass=NullPool)
    with engine.connect() as conn:
        tables = conn.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).all()
        # EXCLUSIVE lets readers read and makes every writer wait: SQLite's BEGIN EXCLUSIVE.
        conn.exec_driver_sql(
            "LOCK TABLE " + ", ".join(f'"{t}"' for t in tables) + " IN EXCLUSIVE MODE"
        )
        try:
            yield
        finally:
            conn.rollback()
    engine.dispose()


def _agencies(db: Session) -> int:
    db.rollback()  # a fresh snapshot: the app wrote through its own connection
    return db.scalar(select(func.count()).select_from(Agency)) or 0


def test_a_page_form_is_not_saved_and_offered_back(
    impatient_client: TestClient, db: Session, db_url: str
) -> None:
    client = impatient_client
    csrf = login(client, "admin")
    page = client.get("/admin/agencies")
    csrf = csrf_from(page.text)
    before = _agencies(db)
    form = {"name": "新建镇应急办", "code": "T-NEW-1", "level": "town", "csrf_token": csrf}
    with locked(db_url):
        response = client.post("/admin/agencies", data=form, headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 503
    assert "未保存" in response.text  # the user's language
    assert 'value="新建镇应急办"' in response.text  # the input is kept...
    assert 'action="/admin/agencies"' in response.text  # ...ready to send again
    assert _agencies(db) == before  # nothing half-written
    retry = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', response.text))
    assert retry["name"] == "新建镇应急办"
    again = client.post("/admin/agencies", data=retry, follow_redirects=False)
    assert again.status_code == 303, again.text
    assert again.headers["location"].startswith("/admin/agencies"), again.headers
    assert _agencies(db) == before + 1


def test_the_api_answers_503_problem_and_creates_nothing(
    impatient_client: TestClient, db: Session, db_url: str, world: World, now: datetime
) -> None:
    client = impatient_client
    headers = {**api_token(client, "inspector1"), "Accept-Language": "en"}
    body = {
        "enterprise_id": world.ent_a.id,
        "plan_entry_id": world.entry_a.id,
        "co_inspector_ids": [world.bob.id],
        "window_start": (now + timedelta(hours=1)).astimezone(UTC).isoformat(),
        "window_end": (now + timedelta(hours=3)).astimezone(UTC).isoformat(),
    }
    with locked(db_url):
        response = client.post("/api/v1/visits", json=body, headers=headers)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "db_unavailable"
    assert "Not saved" in response.json()["detail"]
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Visit)) == 0
