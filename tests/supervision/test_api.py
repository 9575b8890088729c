"""The supervision JSON API: the same service functions as the pages, problem+json errors."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, api_token, make_enterprise, make_flag, make_scan
from tests.supervision.helpers import extra_visit
from webapp.enums import Approval
from webapp.supervision.models import FlagResolution
from webapp.visits.models import Visit, VisitDecision


def _extra(db: Session, world: World, now: datetime) -> Visit:
    return extra_visit(
        db,
        world,
        now,
        extra_reason="remote_clue",
        extra_reason_text="Gas sensor offline for two days",
    )


def _decide(
    client: TestClient, visit: Visit, headers: dict[str, str], **body: str
) -> httpx.Response:
    url = f"/api/v1/visits/{visit.public_id}/decision"
    response: httpx.Response = client.post(url, json=body, headers=headers)
    return response


def _problem(response: object, status: int, code: str) -> dict[str, object]:
    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["code"] == code
    return body


def test_list_flags_filters_and_paginates(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    made = [
        make_flag(db, kind="short_notice", agency=world.county, now=now - timedelta(minutes=i))
        for i in range(5)
    ]
    far = make_enterprise(db, agency=world.other_county, now=now)
    make_flag(db, kind="unregistered_report", agency=world.other_county, enterprise=far, now=now)
    town = make_flag(db, kind="refused_scan", agency=world.town, now=now - timedelta(hours=1))
    db.commit()
    headers = api_token(client, "supervisor1")
    first = client.get("/api/v1/flags?limit=4", headers=headers)
    assert first.status_code == 200
    body = first.json()
    assert [f["id"] for f in body["items"]] == [f.id for f in made[:4]]
    item = body["items"][0]
    assert item["kind"] == "short_notice"
    assert item["kind_label"] == "Registered only minutes before its scan"
    assert item["message"] == "Registered only 5 minutes before its scan (less than 30)."
    assert item["severity"] == "warning"
    assert item["agency_name"] == "Example County Bureau"
    assert item["resolved"] is False
    second = client.get(f"/api/v1/flags?limit=4&cursor={body['next_cursor']}", headers=headers)
    assert [f["id"] for f in second.json()["items"]] == [made[4].id, town.id]
    assert second.json()["next_cursor"] is None
    only = client.get(f"/api/v1/flags?agency_id={world.town.id}", headers=headers).json()
    assert [f["id"] for f in only["items"]] == [town.id]
    kinds = client.get("/api/v1/flags?kind=refused_scan", headers=headers).json()
    assert [f["id"] for f in kinds["items"]] == [town.id]


def test_list_flags_refusals(client: TestClient, db: Session, world: World) -> None:
    headers = api_token(client, "supervisor1")
    _problem(client.get("/api/v1/flags?kind=bogus", headers=headers), 422, "validation_error")
    _problem(client.get("/api/v1/flags?limit=0", headers=headers), 422, "validation_error")
    body = _problem(
        client.get("/api/v1/flags?cursor=zzz", headers=headers), 422, "validation_error"
    )
    assert "cursor" in str(body["detail"])
    _problem(
        client.get(f"/api/v1/flags?agency_id={world.other_county.id}", headers=headers),
        404,
        "not_found",
    )
    _problem(client.get("/api/v1/flags"), 401, "not_authenticated")
    for who in ("inspector1", "manager1"):
        _problem(client.get("/api/v1/flags", headers=api_token(client, who)), 403, "forbidden")


def test_get_and_resolve_a_flag(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    scan = make_scan(db, visit=None, user=world.manager_a, now=now, device_time=now)
    flag = make_flag(db, kind="refused_scan", agency=world.county, scan=scan, now=now)
    db.commit()
    headers = api_token(client, "supervisor1")
    got = client.get(f"/api/v1/flags/{flag.id}", headers=headers)
    assert got.status_code == 200
    assert got.json()["scan_id"] == scan.id
    first = client.post(
        f"/api/v1/flags/{flag.id}/resolutions", json={"note": "Looked at it."}, headers=headers
    )
    assert first.status_code == 201
    assert first.json()["note"] == "Looked at it."
    assert first.json()["resolved_by"] == "supervisor1"
    second = client.post(
        f"/api/v1/flags/{flag.id}/resolutions", json={"note": "And again."}, headers=headers
    )
    assert second.status_code == 201
    after = client.get(f"/api/v1/flags/{flag.id}", headers=headers).json()
    assert after["resolved"] is True
    assert [r["note"] for r in after["resolutions"]] == ["Looked at it.", "And again."]
    body = _problem(
        client.post(f"/api/v1/flags/{flag.id}/resolutions", json={"note": "  "}, headers=headers),
        422,
        "validation_error",
    )
    assert body["detail"] == "Write a note: what you checked and what you decided."
    assert body["errors"] == [
        {"field": "note", "message": "Write a note: what you checked and what you decided."}
    ]
    _problem(
        client.post(f"/api/v1/flags/{flag.id}/resolutions", json={}, headers=headers),
        422,
        "validation_error",
    )
    other = api_token(client, "supervisor9")
    _problem(client.get(f"/api/v1/flags/{flag.id}", headers=other), 404, "not_found")
    _problem(
        client.post(f"/api/v1/flags/{flag.id}/resolutions", json={"note": "x"}, headers=other),
        404,
        "not_found",
    )
    db.rollback()
    assert db.scalar(select(func.count(FlagResolution.id))) == 2


def test_decide_by_api(client: TestClient, db: Session, world: World, now: datetime) -> None:
    visit = _extra(db, world, now)
    headers = api_token(client, "supervisor1")
    _problem(_decide(client, visit, headers, decision="rejected"), 422, "validation_error")
    _problem(_decide(client, visit, headers, decision="pending"), 422, "validation_error")
    other = api_token(client, "supervisor9")
    _problem(_decide(client, visit, other, decision="approved"), 404, "not_found")
    ok = _decide(client, visit, headers, decision="rejected", note="Use the plan visit next week.")
    assert ok.status_code == 200
    body = ok.json()
    assert body["approval"] == "rejected"
    assert [d["note"] for d in body["decisions"]] == ["Use the plan visit next week."]
    again = _problem(_decide(client, visit, headers, decision="approved"), 409, "not_pending")
    assert "already rejected" in str(again["detail"])
    db.rollback()
    assert db.scalar(select(func.count(VisitDecision.id))) == 1
    assert db.scalar(select(Visit.approval).where(Visit.id == visit.id)) == Approval.rejected


@pytest.mark.parametrize("who", ["inspector1", "manager2"])
def test_decide_is_forbidden_to_others(
    client: TestClient, db: Session, world: World, now: datetime, who: str
) -> None:
    visit = _extra(db, world, now)
    headers = api_token(client, who)
    _problem(_decide(client, visit, headers, decision="approved"), 403, "forbidden")


def test_history_by_api(client: TestClient, db: Session, world: World, now: datetime) -> None:
    visit = _extra(db, world, now)
    make_scan(
        db,
        visit=visit,
        user=world.manager_b,
        now=now + timedelta(minutes=30),
        reason_code="outside_window",
        device_time=now + timedelta(minutes=29),
    )
    make_flag(db, kind="extra_unapproved", agency=world.county, visit=visit, now=now)
    db.commit()
    headers = api_token(client, "supervisor1")
    response = client.get(f"/api/v1/visits/{visit.public_id}/history", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["extra_reason"] == "remote_clue"
    assert body["registered_by"] == "inspector1"
    assert [m["name"] for m in body["team"]] == ["Alice Li", "Bob Wang"]
    assert all(m["valid"] for m in body["team"])
    assert [e["kind"] for e in body["events"]] == ["registered", "flag", "scan"]
    scan = body["events"][2]
    assert scan["summary"] == "Refused: Outside the visit's time window"
    assert scan["data"]["reason_code"] == "outside_window"
    assert scan["data"]["device_time"].startswith("2026-11-16T01:29:00")
    assert [a["action"] for a in body["audit_events"]] == ["flag.raised"]
    _problem(
        client.get(
            f"/api/v1/visits/{visit.public_id}/history", headers=api_token(client, "supervisor9")
        ),
        404,
        "not_found",
    )
    _problem(
        client.get(
            f"/api/v1/visits/{visit.public_id}/history", headers=api_token(client, "inspector1")
        ),
        403,
        "forbidden",
    )


def test_openapi_documents_the_supervision_routes(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for path in (
        "/api/v1/flags",
        "/api/v1/flags/{flag_id}",
        "/api/v1/flags/{flag_id}/resolutions",
        "/api/v1/visits/{public_id}/decision",
        "/api/v1/visits/{public_id}/history",
    ):
        assert path in paths
