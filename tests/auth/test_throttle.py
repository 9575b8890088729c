"""Sign-in throttling: per account and per address, kept in the database (so it holds across
restarts and worker processes), one generic message, every attempt logged without the password."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, World, csrf_from
from webapp.app import create_app
from webapp.auth import service as auth_service
from webapp.auth.models import SignInAttempt
from webapp.clock import FixedClock
from webapp.config import get_settings
from webapp.errors import DomainError


def _try(db: Session, clock: FixedClock, username: str, password: str, address: str) -> str:
    try:
        auth_service.authenticate(
            db,
            username=username,
            password=password,
            address=address,
            kind="web",
            now=clock.now(),
            settings=get_settings(),
        )
    except DomainError as exc:
        return exc.code
    return "ok"


def test_five_failures_lock_the_account_even_for_the_right_password(
    db: Session, world: World, clock: FixedClock
) -> None:
    for _ in range(5):
        assert _try(db, clock, "inspector1", "wrong", "10.0.0.1") == "invalid_credentials"
    # From another address, with the right password: still refused until the window passes.
    assert _try(db, clock, "inspector1", PASSWORD, "10.0.0.2") == "sign_in_throttled"
    assert _try(db, clock, "inspector2", PASSWORD, "10.0.0.1") == "ok"  # others unaffected
    clock.advance(minutes=16)
    assert _try(db, clock, "inspector1", PASSWORD, "10.0.0.2") == "ok"


def test_four_failures_then_success_do_not_lock(
    db: Session, world: World, clock: FixedClock
) -> None:
    for _ in range(4):
        assert _try(db, clock, "inspector1", "wrong", "10.0.0.1") == "invalid_credentials"
    assert _try(db, clock, "inspector1", PASSWORD, "10.0.0.1") == "ok"
    # A success resets the account's count: four more failures still do not lock.
    for _ in range(4):
        assert _try(db, clock, "inspector1", "wrong", "10.0.0.1") == "invalid_credentials"
    assert _try(db, clock, "inspector1", PASSWORD, "10.0.0.1") == "ok"


def test_unknown_names_are_throttled_the_same_way(
    db: Session, world: World, clock: FixedClock
) -> None:
    """The throttle does not tell which accounts exist."""
    for _ in range(5):
        assert _try(db, clock, "no-such-user", "x", "10.0.0.1") == "invalid_credentials"
    assert _try(db, clock, "no-such-user", "x", "10.0.0.1") == "sign_in_throttled"


def test_one_address_trying_many_accounts_is_throttled(
    db: Session, world: World, clock: FixedClock
) -> None:
    for i in range(20):
        assert _try(db, clock, f"guess{i}", "x", "10.9.9.9") == "invalid_credentials"
    assert _try(db, clock, "inspector1", PASSWORD, "10.9.9.9") == "sign_in_throttled"
    assert _try(db, clock, "inspector1", PASSWORD, "10.0.0.1") == "ok"


def test_the_throttle_survives_a_restart(
    engine: Engine, world: World, clock: FixedClock, db: Session
) -> None:
    """A new app (a restarted or second worker process) over the same database still refuses."""
    db.commit()

    def attempt(app: FastAPI, password: str) -> int:
        with TestClient(app, base_url="https://testserver") as client:
            page = client.get("/login")
            response = client.post(
                "/login",
                data={
                    "username": "inspector1",
                    "password": password,
                    "csrf_token": csrf_from(page.text),
                },
                follow_redirects=False,
            )
            status: int = response.status_code
            return status

    get_settings.cache_clear()
    first = create_app(get_settings(), clock=clock, engine=engine)
    assert [attempt(first, "wrong") for _ in range(5)] == [401] * 5
    second = create_app(get_settings(), clock=clock, engine=engine)
    assert attempt(second, PASSWORD) == 429


def test_throttled_page_and_api_say_so_plainly(client: TestClient, world: World) -> None:
    for _ in range(5):
        client.post("/api/v1/auth/token", data={"username": "inspector1", "password": "wrong"})
    api = client.post("/api/v1/auth/token", data={"username": "inspector1", "password": PASSWORD})
    assert api.status_code == 429
    assert api.json()["code"] == "sign_in_throttled"
    page = client.get("/login", headers={"Accept-Language": "en"})
    response = client.post(
        "/login",
        data={"username": "inspector1", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 429
    assert "Too many failed sign-ins. Wait 15 minutes" in response.text


def test_every_attempt_is_logged_without_the_password(
    db: Session, world: World, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "my-Secret-passw0rd"
    with caplog.at_level(logging.INFO, logger="webapp.auth"):
        _try(db, clock, "inspector1", secret, "10.0.0.7")
        _try(db, clock, "inspector1", PASSWORD, "10.0.0.7")
    rows = db.scalars(select(SignInAttempt).order_by(SignInAttempt.id)).all()
    assert [(r.username, r.address, r.outcome) for r in rows] == [
        ("inspector1", "10.0.0.7", "failed"),
        ("inspector1", "10.0.0.7", "ok"),
    ]
    assert "sign-in failed" in caplog.text
    assert "sign-in ok" in caplog.text
    assert secret not in caplog.text
    assert PASSWORD not in caplog.text
