"""The visits JSON API: register (idempotent), read, pass and its QR images, cancel."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, api_token
from tests.visits.helpers import api_body, decode_png, extra, fresh, only_visit, planned, written
from webapp.auth import security
from webapp.clock import FixedClock
from webapp.enums import VisitStatus

PROBLEM = "application/problem+json"


def test_register_returns_201_with_the_visit_and_its_findings(
    client: TestClient, world: World, db: Session, now: datetime
) -> None:
    headers = api_token(client, "inspector1")
    response = client.post("/api/v1/visits", headers=headers, json=api_body(planned(world, now)))
    assert response.status_code == 201, response.text
    body = response.json()
    visit = only_visit(db)
    assert body["public_id"] == visit.public_id
    assert body["status"] == "registered"
    assert body["approval"] == "not_required"
    assert body["plan_entry"] == {"id": world.entry_a.id, "month": world.month}
    assert body["enterprise"]["name"] == "Alpha Chemicals"
    assert body["agency"]["name"] == "Example County Bureau"
    assert [m["name"] for m in body["team"]] == ["Alice Li", "Bob Wang"]
    assert body["team"][0]["lead"] is True
    assert body["team"][1]["credential_number"] == world.bob.credentials[0].number
    assert [i["code"] for i in body["items"]] == ["AQ-001", "AQ-002"]
    assert body["items"][0]["legal_basis"].startswith("Work Safety Law")
    assert body["findings"] == []
    assert "pass_secret" not in body
    assert "code_prefix" not in body


def test_register_with_warnings(
    client: TestClient, world: World, db: Session, now: datetime
) -> None:
    headers = {**api_token(client, "inspector1"), "Accept-Language": "en"}
    data = extra(world, now, co_inspector_ids=[world.carol_expired.id])
    response = client.post("/api/v1/visits", headers=headers, json=api_body(data))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["approval"] == "pending"
    assert body["extra_reason"] == "complaint"
    kinds = {f["kind"] for f in body["findings"]}
    assert kinds == {"too_few_valid_credentials", "extra_unapproved"}
    credentials = next(f for f in body["findings"] if f["rule"] == "credentials.two_valid")
    assert credentials["severity"] == "serious"
    assert "Carol Zhang" in credentials["message"]
    assert credentials["params"]["valid"] == 1
    assert body["team"][1]["valid"] is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"enterprise_id": None}, "enterprise_id"),
        ({"co_inspector_ids": []}, "co_inspector_ids"),
        ({"plan_entry_id": None, "item_ids": []}, "item_ids"),
        ({"plan_entry_id": None}, "extra_reason"),
        ({"window_end": "2026-11-16T08:00:00+08:00"}, "window_end"),
    ],
)
def test_refusals_are_problem_details_with_the_field(
    client: TestClient,
    world: World,
    db: Session,
    now: datetime,
    changes: dict[str, object],
    field: str,
) -> None:
    headers = api_token(client, "inspector1")
    before = written(db)
    body = {**api_body(planned(world, now)), **changes}
    response = client.post("/api/v1/visits", headers={**headers, "Idempotency-Key": "k"}, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in {e["field"] for e in problem["errors"]}
    assert all(e["message"] for e in problem["errors"])
    assert written(db) == before


def test_naive_times_are_refused(
    client: TestClient, world: World, db: Session, now: datetime
) -> None:
    headers = api_token(client, "inspector1")
    body = {**api_body(planned(world, now)), "window_start": "2026-11-16T10:00:00"}
    response = client.post("/api/v1/visits", headers=headers, json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert written(db)[0] == 0


def test_same_idempotency_key_and_body_gives_the_first_answer(
    client: TestClient, world: World, db: Session, now: datetime
) -> None:
    headers = {**api_token(client, "inspector1"), "Idempotency-Key": "retry-1"}
    body = api_body(planned(world, now))
    first = client.post("/api/v1/visits", headers=headers, json=body)
    second = client.post("/api/v1/visits", headers=headers, json=body)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert written(db)[0] == 1

    other = client.post("/api/v1/visits", headers=headers, json=api_body(extra(world, now)))
    assert other.status_code == 422
    assert other.headers["content-type"] == PROBLEM
    assert other.json()["code"] == "idempotency_key_reused"
    assert written(db)[0] == 1

    # Later the visit changes (cancelled here); a retry still gets the first answer as it was.
    cancelled = client.post(
        f"/api/v1/visits/{first.json()['public_id']}/cancel",
        headers=api_token(client, "inspector1"),
        json={"reason": "Rescheduled by the team"},
    )
    assert cancelled.json()["status"] == "cancelled"
    again = client.post("/api/v1/visits", headers=headers, json=body)
    assert again.json() == first.json()
    assert again.json()["status"] == "registered"

    # Without a key, each request is a new registration.
    plain = api_token(client, "inspector1")
    client.post("/api/v1/visits", headers=plain, json=body)
    client.post("/api/v1/visits", headers=plain, json=body)
    assert written(db)[0] == 3


@pytest.mark.parametrize("username", ["manager1", "supervisor1", "admin"])
def test_only_inspectors_register(
    client: TestClient, world: World, db: Session, now: datetime, username: str
) -> None:
    headers = api_token(client, username)
    response = client.post("/api/v1/visits", headers=headers, json=api_body(planned(world, now)))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert written(db)[0] == 0


def test_registering_needs_a_bearer_token(client: TestClient, world: World, now: datetime) -> None:
    response = client.post("/api/v1/visits", json=api_body(planned(world, now)))
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def _register(client: TestClient, world: World, now: datetime) -> tuple[dict[str, str], str]:
    headers = api_token(client, "inspector1")
    response = client.post("/api/v1/visits", headers=headers, json=api_body(planned(world, now)))
    assert response.status_code == 201
    return headers, response.json()["public_id"]


def test_read_a_visit_and_role_boundaries(
    client: TestClient, world: World, db: Session, now: datetime
) -> None:
    headers, public_id = _register(client, world, now)
    assert (
        client.get(f"/api/v1/visits/{public_id}", headers=headers).json()["public_id"] == public_id
    )
    for username in ("inspector2", "supervisor1", "admin"):
        response = client.get(f"/api/v1/visits/{public_id}", headers=api_token(client, username))
        assert response.status_code == 200, username
    for username in ("inspector9", "supervisor9", "manager1", "manager2"):
        response = client.get(f"/api/v1/visits/{public_id}", headers=api_token(client, username))
        assert response.status_code == 404, username
        assert response.json()["code"] == "not_found"
    # Once confirmed, the enterprise's manager sees it.
    visit = only_visit(db)
    visit.status = VisitStatus.confirmed
    visit.confirmed_at = now
    db.commit()
    manager = api_token(client, "manager1")
    assert client.get(f"/api/v1/visits/{public_id}", headers=manager).status_code == 200
    assert client.get(f"/api/v1/visits/{public_id}/pass", headers=manager).status_code == 403


def test_current_pass_and_its_images(
    client: TestClient,
    world: World,
    db: Session,
    now: datetime,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    headers, public_id = _register(client, world, now)
    visit = only_visit(db)
    response = client.get(f"/api/v1/visits/{public_id}/pass", headers=headers)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    current = response.json()
    assert set(current) == {"url", "code", "expires_at"}
    assert current["url"].startswith("https://testserver/scan?p=")
    step = security.step_of(now, 30)
    assert current["code"] == security.short_code(visit.code_prefix, visit.pass_secret, step)
    assert datetime.fromisoformat(current["expires_at"]) == datetime.fromisoformat(
        "2026-11-16T01:01:00+00:00"
    )
    png = client.get(f"/api/v1/visits/{public_id}/pass.png", headers=headers)
    assert png.headers["content-type"] == "image/png"
    assert png.headers["cache-control"] == "no-store"
    assert decode_png(png.content, tmp_path) == current["url"]
    svg = client.get(f"/api/v1/visits/{public_id}/pass.svg", headers=headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg")

    clock.advance(seconds=60)
    later = client.get(f"/api/v1/visits/{public_id}/pass", headers=headers).json()
    assert later["url"] != current["url"]
    assert later["code"] != current["code"]

    other = api_token(client, "inspector9")
    assert client.get(f"/api/v1/visits/{public_id}/pass", headers=other).status_code == 404
    assert client.get(f"/api/v1/visits/{public_id}/pass.png", headers=other).status_code == 404


def test_cancel(client: TestClient, world: World, db: Session, now: datetime) -> None:
    headers, public_id = _register(client, world, now)
    empty = client.post(f"/api/v1/visits/{public_id}/cancel", headers=headers, json={"reason": ""})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "reason"
    outsider = api_token(client, "inspector9")
    response = client.post(
        f"/api/v1/visits/{public_id}/cancel", headers=outsider, json={"reason": "not mine"}
    )
    assert response.status_code == 404
    assert only_visit(db).status == VisitStatus.registered

    response = client.post(
        f"/api/v1/visits/{public_id}/cancel", headers=headers, json={"reason": "Road closed"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_reason"] == "Road closed"
    again = client.post(
        f"/api/v1/visits/{public_id}/cancel", headers=headers, json={"reason": "Road closed"}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "not_cancellable"
    gone = client.get(f"/api/v1/visits/{public_id}/pass", headers=headers)
    assert gone.status_code == 409
    assert gone.json()["code"] == "no_live_pass"
    fresh(db)
    assert written(db)[0] == 1


def test_openapi_documents_the_visits_api(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/visits",
        "/api/v1/visits/{public_id}",
        "/api/v1/visits/{public_id}/pass",
        "/api/v1/visits/{public_id}/pass.svg",
        "/api/v1/visits/{public_id}/pass.png",
        "/api/v1/visits/{public_id}/cancel",
        "/api/v1/enterprises",
        "/api/v1/items",
        "/api/v1/plan-entries",
    ):
        assert path in paths, path
    post = paths["/api/v1/visits"]["post"]
    assert "201" in post["responses"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])
    schemas = spec["components"]["schemas"]
    for name in (
        "VisitCreate",
        "VisitDetailOut",
        "PassOut",
        "RuleFindingOut",
        "EnterpriseOut",
        "InspectionItemOut",
        "PlanEntryOut",
    ):
        assert name in schemas, name
    assert set(schemas["PassOut"]["properties"]) == {"url", "code", "expires_at"}
