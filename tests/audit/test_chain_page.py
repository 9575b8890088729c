"""Supervisors see whether the audit chain verifies and can download its dated head."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.dbs import unguard
from tests.factories import World, login
from webapp.audit import service as audit


def _events(db: Session, now: datetime) -> None:
    for i in range(3):
        audit.record(db, actor_id=None, action="test", object_type="t", object_id=i, now=now)
    db.commit()


def test_supervisor_sees_a_verified_chain_and_downloads_its_head(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    _events(db, now)
    login(client, "supervisor1")  # signing in appends an event too
    db.expire_all()
    head = audit.verify_chain(db).head
    count = audit.verify_chain(db).count
    page = client.get("/supervision/audit", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "The audit chain verifies." in page.text
    assert head in page.text
    download = client.get("/supervision/audit/head.json")
    assert download.status_code == 200
    assert download.json()["head"] == head
    assert download.json()["count"] == count
    assert "attachment" in download.headers["content-disposition"]
    assert audit.parse_kept_head(download.text).head == head


def test_a_broken_chain_is_shown_and_no_head_is_offered(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    _events(db, now)
    unguard(db, "audit_events")
    db.execute(text("UPDATE audit_events SET data = :data WHERE id = 2"), {"data": '{"x":1}'})
    db.commit()
    login(client, "supervisor1")
    page = client.get("/supervision/audit", headers={"Accept-Language": "en"})
    assert "The audit chain is BROKEN." in page.text
    assert "First bad entry: event 2." in page.text
    assert "Download the dated head" not in page.text
    assert client.get("/supervision/audit/head.json").status_code == 409


def test_inspectors_and_managers_cannot_see_it(client: TestClient, world: World) -> None:
    for username in ("inspector1", "manager_a"):
        client.cookies.clear()
        login(client, getattr(world, username).username)
        assert client.get("/supervision/audit").status_code == 403
        assert client.get("/supervision/audit/head.json").status_code == 403
