"""POST /api/v1/checkins: the same service as the page, answered as JSON / problem+json."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.checkin.helpers import (
    code_of,
    counts,
    flags,
    forged_tokens,
    make_visit,
    scans,
    token_of,
    url_of,
)
from tests.factories import World, api_token
from webapp.clock import FixedClock
from webapp.config import Settings
from webapp.enums import FlagKind, ScanOutcome


def test_a_checkin_confirms_and_describes_the_visit(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    response = en.post(
        "/api/v1/checkins",
        headers=api_token(en, "manager1"),
        json={
            "pass": url_of(visit, now=now, settings=settings),
            "device_time": "2026-11-16T01:00:03Z",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["outcome"] == "confirmed"
    assert datetime.fromisoformat(body["confirmed_at"]) == now
    assert body["message"] == "Visit confirmed at 09:00."
    assert body["visit"]["public_id"] == visit.public_id
    assert body["visit"]["status"] == "confirmed"
    assert [i["name"] for i in body["visit"]["inspectors"]] == ["Alice Li", "Bob Wang"]
    [scan] = scans(db)
    assert scan.id == body["scan_id"]
    assert scan.device_time == datetime(2026, 11, 16, 1, 0, 3, tzinfo=UTC)
    assert scan.presented_as == "url"


def test_token_and_code_are_accepted_too(
    client: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    headers = api_token(client, "manager1")
    by_token = make_visit(db, world, now=now)
    by_code = make_visit(db, world, now=now)
    one = client.post(
        "/api/v1/checkins",
        headers=headers,
        json={"pass": token_of(by_token, now=now, settings=settings)},
    )
    two = client.post(
        "/api/v1/checkins",
        headers=headers,
        json={"pass": code_of(by_code, now=now, settings=settings).lower().replace("-", " ")},
    )
    assert (one.status_code, two.status_code) == (201, 201)
    assert [s.presented_as for s in scans(db)] == ["token", "code"]


def test_same_idempotency_key_twice_confirms_once_and_answers_the_same(
    client: TestClient, db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    visit = make_visit(db, world, now=clock.now())
    headers = {**api_token(client, "manager1"), "Idempotency-Key": "phone-42"}
    body = {"pass": url_of(visit, now=clock.now(), settings=settings)}
    first = client.post("/api/v1/checkins", headers=headers, json=body)
    before = counts(db)
    clock.advance(seconds=20)
    second = client.post("/api/v1/checkins", headers=headers, json=body)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["scan_id"] == second.json()["scan_id"]
    assert first.json()["confirmed_at"] == second.json()["confirmed_at"]
    assert counts(db) == before
    assert [s.outcome for s in scans(db)] == [ScanOutcome.confirmed]

    reused = client.post("/api/v1/checkins", headers=headers, json={"pass": "something else"})
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


def test_a_second_checkin_is_refused_already_confirmed_and_recorded(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    headers = api_token(en, "manager1")
    body = {"pass": url_of(visit, now=now, settings=settings)}
    assert en.post("/api/v1/checkins", headers=headers, json=body).status_code == 201
    again = en.post("/api/v1/checkins", headers=headers, json=body)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["code"] == "already_confirmed"
    assert again.json()["detail"] == "Already confirmed at 09:00 by manager1."
    assert [s.reason_code for s in scans(db)] == [None, "already_confirmed"]


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("flipped_signature", 400),
        ("other_secret", 400),
        ("alg_none", 400),
        ("missing_claims", 400),
        ("huge", 400),
        ("garbage", 400),
        ("rs256_header", 400),
        ("bad_short_code", 400),
    ],
)
def test_forged_passes_are_problems_with_a_stable_code_and_recorded(
    client: TestClient,
    db: Session,
    world: World,
    now: datetime,
    settings: Settings,
    kind: str,
    status: int,
) -> None:
    visit = make_visit(db, world, now=now)
    response = client.post(
        "/api/v1/checkins",
        headers=api_token(client, "manager1"),
        json={"pass": forged_tokens(visit, now=now, settings=settings)[kind]},
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "pass_invalid"
    assert len(forged_tokens(visit, now=now, settings=settings)["huge"]) > 5000
    assert response.json()["detail"]
    assert [s.reason_code for s in scans(db)] == ["pass_invalid"]
    assert [f.kind for f in flags(db)] == [FlagKind.refused_scan]


def test_wrong_enterprise_by_api_names_nothing(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    response = en.post(
        "/api/v1/checkins",
        headers=api_token(en, "manager2"),
        json={"pass": url_of(visit, now=now, settings=settings)},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_enterprise"
    assert "Alpha Chemicals" not in response.text
    assert visit.public_id not in response.text
    assert [s.reason_code for s in scans(db)] == ["wrong_enterprise"]


def test_an_expired_pass_by_api(
    client: TestClient, db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    visit = make_visit(db, world, now=clock.now())
    old = url_of(visit, now=clock.now(), settings=settings)
    clock.advance(seconds=120)
    response = client.post(
        "/api/v1/checkins", headers=api_token(client, "manager1"), json={"pass": old}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "pass_expired"


@pytest.mark.parametrize("who", ["inspector1", "supervisor1", "admin"])
def test_non_managers_cannot_check_in_by_api(
    client: TestClient, db: Session, world: World, now: datetime, settings: Settings, who: str
) -> None:
    visit = make_visit(db, world, now=now)
    headers = api_token(client, who)
    before = counts(db)
    response = client.post(
        "/api/v1/checkins",
        headers=headers,
        json={"pass": url_of(visit, now=now, settings=settings)},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert counts(db) == before


def test_a_body_without_a_pass_is_a_validation_problem(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/checkins", headers=api_token(client, "manager1"), json={"device_time": "x"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_the_checkin_api_is_documented(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    post = spec["paths"]["/api/v1/checkins"]["post"]
    schema_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    name = schema_ref.rsplit("/", 1)[-1]
    assert "pass" in spec["components"]["schemas"][name]["properties"]
    assert {"201", "400", "403", "409"} <= set(post["responses"])
    assert "/api/v1/unregistered-reports" in spec["paths"]
    assert "/api/v1/enterprise/visits" in spec["paths"]
