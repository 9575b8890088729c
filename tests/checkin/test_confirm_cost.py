"""What one API confirmation costs the database: a bounded number of statements, none per
inspector or item, none after its commit; the bearer token's last-seen touch rides in the
request's own write transaction (on PostgreSQL the token's lookup too)."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from tests.checkin.helpers import flags, make_visit, url_of
from tests.factories import World, api_token, make_inspector
from webapp.auth import security
from webapp.auth.models import UserSession
from webapp.clock import FixedClock
from webapp.config import Settings

# Statements of one confirmation of a planned visit that raises no flag, on either engine:
# the token with its user (1); the visit with agency, enterprise and plan (1), its team with
# inspectors and credentials (1), its items (1); the scan (1), the visit's update (1); the
# agencies above (1), the enterprise's other confirmed visits (1), the caps (1); the audit
# append (2: the head, the event); the token's touch (1). On PostgreSQL the audit append is
# one pipelined round trip through psycopg (lock, event, COMMIT: webapp/audit/service.py),
# which this recorder does not see. The code before needed 24 for a team of two, and more
# for each further inspector or item.
MAX_STATEMENTS = 12
_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@dataclass
class Recorder:
    """The statements an engine runs, with a "COMMIT" mark at each commit."""

    log: list[str] = field(default_factory=list)
    on: bool = False

    def statements(self) -> list[str]:
        return [s for s in self.log if not s.lstrip().upper().startswith(_CONTROL)]


def _from_report_summary() -> bool:
    # The monthly report's summary tables are kept current by session events of their own
    # (webapp.supervision.summary): their cost is theirs, not the confirmation's.
    return any(f.filename.endswith("supervision/summary.py") for f in traceback.extract_stack())


@pytest.fixture
def recorder(engine: Engine) -> Iterator[Recorder]:
    rec = Recorder()

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if rec.on and not _from_report_summary():
            rec.log.append(statement)

    def on_commit(_conn: Any) -> None:
        if rec.on:
            rec.log.append("COMMIT")

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    yield rec
    event.remove(engine, "before_cursor_execute", on_execute)
    event.remove(engine, "commit", on_commit)


def _confirm(
    client: TestClient, rec: Recorder, headers: dict[str, str], body: dict[str, str]
) -> list[str]:
    rec.log.clear()
    rec.on = True
    try:
        response = client.post("/api/v1/checkins", headers=headers, json=body)
    finally:
        rec.on = False
    assert response.status_code == 201, response.text
    assert response.json()["visit"]["status"] == "confirmed"
    return list(rec.log)


def test_one_confirmation_runs_a_bounded_number_of_statements_whatever_the_team(
    client: TestClient,
    db: Session,
    world: World,
    clock: FixedClock,
    settings: Settings,
    recorder: Recorder,
) -> None:
    now = clock.now()
    team_of_four = [world.alice, world.bob] + [
        make_inspector(db, agency=world.county, now=now) for _ in range(2)
    ]
    db.commit()
    small = make_visit(db, world, now=now)
    # Another enterprise (neither has other confirmed visits, so both read the same).
    large = make_visit(
        db, world, now=now, enterprise=world.ent_b, team=team_of_four, items=world.items
    )
    one, two = api_token(client, "manager1"), api_token(client, "manager2")
    clock.advance(seconds=90)  # past the token's touch interval: the touch is counted too
    now = clock.now()

    first = _confirm(client, recorder, one, {"pass": url_of(small, now=now, settings=settings)})
    second = _confirm(client, recorder, two, {"pass": url_of(large, now=now, settings=settings)})

    assert flags(db) == []  # no flag raised: the two confirmations do the same work
    statements = [Recorder(log=log).statements() for log in (first, second)]
    assert [len(s) for s in statements] == [len(statements[0])] * 2, (
        "a statement per inspector or item (N+1)",
        statements,
    )
    assert len(statements[0]) <= MAX_STATEMENTS, statements[0]
    for log in (first, second):
        # The answer is built before the commit: nothing is read after it.
        assert log[-1] == "COMMIT", log[-3:]
        # The token's touch is written in the confirmation's transaction, not its own.
        touches = [i for i, s in enumerate(log) if s.lstrip().upper().startswith("UPDATE USER_")]
        assert len(touches) == 1, log
        assert "INSERT INTO scans" in " ".join(log[touches[0] :])
        lookup = next(i for i, s in enumerate(log) if "FROM user_sessions" in s)
        if db.get_bind().dialect.name == "postgresql":
            # The lookup is the first read of the confirmation's own transaction (one
            # connection a request): no commit anywhere before the confirmation's.
            assert log.count("COMMIT") == 1, log
        else:
            # SQLite: the lookup ends its own read before the write turn is taken.
            assert log[lookup:].index("COMMIT") < log[lookup:].index(log[touches[0]])
            assert log[: touches[0]].count("COMMIT") == 1  # only the token lookup's


def _last_seen(db: Session, headers: dict[str, str]) -> datetime:
    db.rollback()
    token = headers["Authorization"].removeprefix("Bearer ")
    seen = db.scalar(
        select(UserSession.last_seen_at).where(UserSession.id == security.session_id_of(token))
    )
    assert seen is not None
    return seen


def test_the_token_is_touched_by_a_confirmation_and_by_a_read(
    client: TestClient, db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    headers = api_token(client, "manager1")
    issued = clock.now()
    assert _last_seen(db, headers) == issued

    clock.advance(seconds=30)  # within the interval: not touched
    assert client.get("/api/v1/enterprise/visits", headers=headers).status_code == 200
    assert _last_seen(db, headers) == issued

    clock.advance(minutes=5)  # a read (GET) touches in a transaction of its own
    assert client.get("/api/v1/enterprise/visits", headers=headers).status_code == 200
    assert _last_seen(db, headers) == clock.now()

    clock.advance(minutes=5)  # a confirmation touches in its own write transaction
    visit = make_visit(db, world, now=clock.now())
    response = client.post(
        "/api/v1/checkins",
        headers=headers,
        json={"pass": url_of(visit, now=clock.now(), settings=settings)},
    )
    assert response.status_code == 201, response.text
    assert _last_seen(db, headers) == clock.now()


def test_a_revoked_or_expired_token_still_refuses_a_confirmation(
    client: TestClient, db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    headers = api_token(client, "manager1")
    visit = make_visit(db, world, now=clock.now())
    clock.advance(hours=settings.api_token_hours, seconds=1)
    response = client.post(
        "/api/v1/checkins",
        headers=headers,
        json={"pass": url_of(visit, now=clock.now(), settings=settings)},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert _last_seen(db, headers) < clock.now() - timedelta(hours=1)


def test_a_confirmation_without_a_valid_token_writes_nothing_and_the_next_one_works(
    client: TestClient, db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    """The endpoint signs its caller in itself (on PostgreSQL inside the transaction the
    confirmation then uses): a missing, malformed, unknown or signed-out token is 401
    before any scan is stored, the visit stays registered, and the same process confirms
    with a good token right after (nothing of the refused lookup is left open)."""
    from webapp.checkin.models import Scan
    from webapp.enums import VisitStatus
    from webapp.visits.models import Visit

    visit = make_visit(db, world, now=clock.now())
    body = {"pass": url_of(visit, now=clock.now(), settings=settings)}
    signed_out = api_token(client, "manager1")
    assert client.post("/api/v1/auth/logout", headers=signed_out).status_code in (200, 204)
    for headers in (
        {},
        {"Authorization": "Basic bWFuYWdlcjE6eA=="},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer no-such-token"},
        signed_out,
    ):
        response = client.post("/api/v1/checkins", headers=headers, json=body)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["code"] == "not_authenticated"
    # No token at all: refused before the body is even looked at. A token that is no
    # longer valid is looked up after the body is read: a malformed body is then 422.
    assert client.post("/api/v1/checkins", json={"no": "pass"}).status_code == 401
    malformed = client.post("/api/v1/checkins", headers=signed_out, json={"no": "pass"})
    assert malformed.status_code == 422
    db.rollback()
    assert db.scalar(select(Scan.id).where(Scan.visit_id == visit.id)) is None

    response = client.post("/api/v1/checkins", headers=api_token(client, "manager1"), json=body)
    assert response.status_code == 201, response.text
    db.rollback()
    assert db.scalar(select(Visit.status).where(Visit.id == visit.id)) == VisitStatus.confirmed
