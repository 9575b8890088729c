"""The same pass confirmed several times at once, over real HTTP against a real server:
exactly one confirmation; every other attempt is refused `already_confirmed` and recorded;
the same request sent twice at once with one idempotency key gets one answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.dbs import Databases
from tests.factories import PASSWORD, make_visit
from tests.live import LiveServer, live_server
from webapp.checkin import passes
from webapp.checkin.models import Scan
from webapp.db import make_sessionmaker
from webapp.enums import ScanOutcome
from webapp.visits.models import Visit

CLIENTS = 8


@pytest.fixture
def live(databases: Databases, tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(databases, tmp_path) as server:
        yield server


def _visit_and_pass(live: LiveServer) -> tuple[int, str]:
    world = live.world
    with make_sessionmaker(live.engine)() as session:
        now = datetime.now(UTC)
        visit = make_visit(
            session,
            agency=world.county,
            enterprise=world.ent_a,
            inspectors=[world.alice, world.bob],
            items=world.items[:2],
            registered_by=world.inspector1,
            now=now - timedelta(hours=2),
            plan_entry=world.entry_a,
            window_start=now - timedelta(minutes=30),
            window_end=now + timedelta(hours=2),
        )
        session.commit()
        url = passes.current_pass(visit, now=now, settings=live.settings).url
        return visit.id, url


def _token(live: LiveServer) -> dict[str, str]:
    response = httpx.post(
        f"{live.url}/api/v1/auth/token", data={"username": "manager1", "password": PASSWORD}
    )
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _all_at_once(live: LiveServer, headers: list[dict[str, str]], url: str) -> list[httpx.Response]:
    barrier = threading.Barrier(len(headers))
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one(h: dict[str, str]) -> None:
        barrier.wait()
        response = httpx.post(
            f"{live.url}/api/v1/checkins", headers=h, json={"pass": url}, timeout=30
        )
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=one, args=(h,)) for h in headers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def _confirmations(live: LiveServer, visit_id: int) -> tuple[int, int]:
    with make_sessionmaker(live.engine)() as session:

        def count(outcome: ScanOutcome) -> int:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Scan)
                    .where(Scan.visit_id == visit_id, Scan.outcome == outcome)
                )
                or 0
            )

        return count(ScanOutcome.confirmed), count(ScanOutcome.refused)


def test_simultaneous_confirmations_of_one_pass_confirm_once(live: LiveServer) -> None:
    visit_id, url = _visit_and_pass(live)
    token = _token(live)
    answers = _all_at_once(live, [token] * CLIENTS, url)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * (CLIENTS - 1), [a.text for a in answers]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert {r["code"] for r in refused} == {"already_confirmed"}
    assert all(r["detail"] for r in refused)  # a plain message, not only a code
    assert _confirmations(live, visit_id) == (1, CLIENTS - 1)  # every attempt recorded
    with make_sessionmaker(live.engine)() as session:
        assert session.get(Visit, visit_id).status.value == "confirmed"  # type: ignore[union-attr]


def test_one_request_sent_twice_at_once_gets_one_answer(live: LiveServer) -> None:
    visit_id, url = _visit_and_pass(live)
    token = {**_token(live), "Idempotency-Key": "same-request-twice"}
    answers = _all_at_once(live, [token, token], url)
    assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
    assert answers[0].json() == answers[1].json()
    assert _confirmations(live, visit_id) == (1, 0)  # one scan, not a refused second one


BURST = 50


def test_a_burst_of_confirmations_is_served_in_turn_not_timed_out(live: LiveServer) -> None:
    """50 managers' confirmations of 50 visits at once on one process (SQLite: one writer):
    every one answered 201 within seconds. Before the write admission, the requests waiting
    for the write turn took every worker thread while the one holding it waited for a thread
    to finish its answer: all stalled until the busy timeout and answered 503."""
    urls = [_visit_and_pass(live)[1] for _ in range(BURST)]
    token = _token(live)
    barrier = threading.Barrier(BURST)
    answers: list[int] = []
    errors: list[BaseException] = []

    def confirm(url: str) -> None:
        try:
            with httpx.Client(timeout=60) as client:
                barrier.wait(timeout=30)
                answer = client.post(
                    f"{live.url}/api/v1/checkins", headers=token, json={"pass": url}
                )
                answers.append(answer.status_code)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=confirm, args=(url,)) for url in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(answers) == [201] * BURST
    with make_sessionmaker(live.engine)() as session:
        confirmed = session.scalar(
            select(func.count()).select_from(Visit).where(Visit.confirmed_at.is_not(None))
        )
    assert confirmed == BURST
