"""`/healthz` says whether the process reaches its database."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from webapp.app import create_app
from webapp.clock import FixedClock
from webapp.config import get_settings


def test_healthy_when_the_database_answers(client: TestClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert answer.headers["cache-control"] == "no-store"


def test_unavailable_when_the_database_does_not(clock: FixedClock) -> None:
    # A database that cannot be opened (its directory does not exist).
    engine = create_engine("sqlite:////nonexistent-dir/for/healthz/test.sqlite3")
    app = create_app(get_settings(), clock=clock, engine=engine)
    with TestClient(app, base_url="https://testserver") as c:
        answer = c.get("/healthz")
    assert answer.status_code == 503
    assert answer.json() == {"status": "unavailable"}
