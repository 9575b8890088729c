"""The benchmark's floor endpoint exists only in the bench app (BENCH_FLOOR=true): never in
the default app; where it exists it inserts and commits one row of its own table."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from tests.live import app_routes
from webapp import benchfloor
from webapp.benchfloor import FLOOR_PATH, floor_table


def test_the_default_app_has_no_floor(app: FastAPI, client: TestClient) -> None:
    assert FLOOR_PATH not in {path for path, _methods, _endpoint in app_routes(app)}
    assert client.post(FLOOR_PATH).status_code == 404


def test_the_bench_app_refuses_without_bench_floor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_FLOOR", raising=False)
    with pytest.raises(RuntimeError, match="BENCH_FLOOR=true"):
        benchfloor.create_bench_app()
    monkeypatch.setenv("BENCH_FLOOR", "yes")  # only "true" turns it on
    with pytest.raises(RuntimeError):
        _ = benchfloor.app


def test_the_floor_inserts_and_commits_one_row(app: FastAPI, engine: Engine) -> None:
    floor_table.create(engine)
    app.include_router(benchfloor.router)
    with TestClient(app, base_url="https://testserver") as client:
        first = client.post(FLOOR_PATH)
        second = client.post(FLOOR_PATH)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["id"] > first.json()["id"]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(floor_table)) == 2
