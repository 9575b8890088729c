"""The findings API, round trip: record (and retry), read every version, acknowledge as the
enterprise, list hazards as the supervisor; refusals are problem details with codes."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, api_token
from tests.findings.helpers import confirmed_visit, day_of, picture


def test_round_trip(client: TestClient, db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    a, b = visit.items
    due = (day_of(visit) + timedelta(days=10)).isoformat()
    inspector = api_token(client, "inspector1")
    body = {
        "results": [
            {"item_id": a.id, "outcome": "compliant"},
            {
                "item_id": b.id,
                "outcome": "major_hazard",
                "note": "No gas detector",
                "rectify_by": due,
                "photos": [base64.b64encode(picture("PNG", (64, 48))).decode()],
            },
        ],
        "summary": "One major hazard",
        "case_opened": True,
        "case_number": "AJ-9",
        "fine_fen": 250050,
    }
    headers = {**inspector, "Idempotency-Key": "rec-1"}
    created = client.post(
        f"/api/v1/visits/{visit.public_id}/inspection", json=body, headers=headers
    )
    assert created.status_code == 201, created.text
    out = created.json()
    assert out["version"] == 1
    assert out["fine_yuan"] == "2,500.50"
    assert out["major_hazards"] == 1
    hazard = next(f for f in out["findings"] if f["item_id"] == b.id)
    assert hazard["outcome"] == "major_hazard"
    assert hazard["rectify_by"] == due
    assert hazard["outcome_label"] == "Major hazard"
    assert len(hazard["photo_urls"]) == 1
    photo = client.get(hazard["photo_urls"][0], headers=inspector)
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/jpeg"

    retry = client.post(f"/api/v1/visits/{visit.public_id}/inspection", json=body, headers=headers)
    assert retry.status_code == 201
    assert retry.json()["id"] == out["id"]

    manager = api_token(client, "manager1")
    read = client.get(f"/api/v1/visits/{visit.public_id}/inspection", headers=manager)
    assert read.status_code == 200
    assert read.json()["current"]["id"] == out["id"]
    assert [v["version"] for v in read.json()["versions"]] == [1]

    ack = client.post(
        f"/api/v1/inspections/{out['id']}/acknowledge", json={"note": "Got it"}, headers=manager
    )
    assert ack.status_code == 201, ack.text
    assert ack.json()["created"]
    assert ack.json()["acknowledgement"]["note"] == "Got it"
    again = client.post(f"/api/v1/inspections/{out['id']}/acknowledge", headers=manager)
    assert again.status_code == 200
    assert not again.json()["created"]
    assert again.json()["acknowledgement"]["id"] == ack.json()["acknowledgement"]["id"]
    other = api_token(client, "manager2")
    refused = client.post(f"/api/v1/inspections/{out['id']}/acknowledge", headers=other)
    assert refused.status_code == 404
    assert (
        client.get(f"/api/v1/visits/{visit.public_id}/inspection", headers=other).status_code == 404
    )

    supervisor = api_token(client, "supervisor1")
    hazards = client.get("/api/v1/hazards", headers=supervisor)
    assert hazards.status_code == 200
    items = hazards.json()["items"]
    assert [(h["visit_public_id"], h["item_code"]) for h in items] == [(visit.public_id, b.code)]
    assert items[0]["closed"] is False
    assert items[0]["recheck_state"] == "none"
    assert hazards.json()["next_cursor"] is None
    outsider = api_token(client, "supervisor9")
    assert client.get("/api/v1/hazards", headers=outsider).json()["items"] == []
    assert client.get("/api/v1/hazards", headers=inspector).status_code == 403

    corrected = client.post(
        f"/api/v1/visits/{visit.public_id}/inspection",
        json={**body, "correction_reason": "Fine corrected", "fine_fen": 100, "base_version": 1},
        headers=inspector,
    )
    assert corrected.status_code == 201
    assert corrected.json()["version"] == 2
    # The new version carried the photo over.
    photos = next(f for f in corrected.json()["findings"] if f["item_id"] == b.id)["photo_urls"]
    assert len(photos) == 2  # the kept one and the one sent again
    superseded = client.post(f"/api/v1/inspections/{out['id']}/acknowledge", headers=manager)
    assert superseded.status_code == 409
    assert superseded.json()["code"] == "notice_superseded"


def test_refusals_are_problem_details_with_codes(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    registered = confirmed_visit(db, world, now, status="registered")
    a, b = visit.items
    inspector = api_token(client, "inspector1")
    response = client.post(
        f"/api/v1/visits/{visit.public_id}/inspection",
        json={"results": [{"item_id": b.id, "outcome": "hazard", "note": "x"}], "fine_fen": -5},
        headers=inspector,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "finding_missing"
    assert {e["field"] for e in problem["errors"]} == {
        f"outcome_{a.id}",
        f"rectify_by_{b.id}",
        "fine",
    }
    bad_photo = client.post(
        f"/api/v1/visits/{visit.public_id}/inspection",
        json={"results": [{"item_id": a.id, "outcome": "compliant", "photos": ["@@not base64"]}]},
        headers=inspector,
    )
    assert bad_photo.status_code == 422
    assert bad_photo.json()["code"] == "photo_type"

    early = client.post(
        f"/api/v1/visits/{registered.public_id}/inspection",
        json={"results": []},
        headers=inspector,
    )
    assert early.status_code == 409
    assert early.json()["code"] == "visit_not_confirmed"
    stranger = api_token(client, "inspector9")
    assert (
        client.post(
            f"/api/v1/visits/{visit.public_id}/inspection", json={"results": []}, headers=stranger
        ).status_code
        == 404
    )
    empty = client.get(f"/api/v1/visits/{visit.public_id}/inspection", headers=inspector)
    assert empty.status_code == 200
    assert empty.json() == {
        "visit_public_id": visit.public_id,
        "current": None,
        "versions": [],
    }
