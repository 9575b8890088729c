"""The server side of the offline registration queue: the registration page answers the
phone's queue in JSON (registered, refused with the messages, or another refusal), a repeated
key replays the first registration, a credit code typed offline is looked up, and the session
endpoint tells the queue who is signed in and the session's CSRF token."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import World, login
from tests.visits.helpers import form_body as page_form
from tests.visits.helpers import fresh, only_visit, planned, written
from webapp.audit.models import AuditEvent
from webapp.visits.models import Visit

JSON = {"Accept": "application/json"}


@pytest.fixture
def en(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


def _visits(db: Session) -> list[Visit]:
    return list(fresh(db).scalars(select(Visit)))


def test_a_queued_registration_is_answered_in_json_and_a_resend_creates_nothing(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    data = planned(world, now, item_ids=[i.id for i in world.entry_a.items])
    body = page_form(data, csrf, idempotency_key="queued-key-1")
    first = en.post("/visits/new", data=body, headers=JSON, follow_redirects=False)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("application/json")
    answer = first.json()
    visit = only_visit(db)
    assert answer == {
        "registered": True,
        "public_id": visit.public_id,
        "url": f"/visits/{visit.public_id}",
    }
    # The registration time on record is the time it arrived (here: the test clock).
    assert visit.registered_at == now
    before = written(db)

    # The first answer was lost: the phone sends again with the same key.
    again = en.post("/visits/new", data=body, headers=JSON, follow_redirects=False)
    assert again.status_code == 200
    assert again.json()["public_id"] == visit.public_id
    assert len(_visits(db)) == 1
    assert written(db) == before  # nothing at all written the second time


def test_without_json_the_page_still_redirects_to_the_card(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    body = page_form(planned(world, now), csrf, idempotency_key="page-key")
    response = en.post("/visits/new", data=body, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/visits/{only_visit(db).public_id}"


def test_a_rule_refusal_comes_back_as_json_with_the_translated_messages(
    client: TestClient, world: World, db: Session, now: datetime
) -> None:
    client.headers["Accept-Language"] = "zh-CN"
    csrf = login(client, "inspector1")
    over = planned(
        world, now, window_start=now - timedelta(hours=4), window_end=now - timedelta(hours=1)
    )
    response = client.post(
        "/visits/new",
        data=page_form(over, csrf, idempotency_key="late-key"),
        headers=JSON,
        follow_redirects=False,
    )
    assert response.status_code == 422
    answer = response.json()
    assert answer["registered"] is False
    assert answer["code"] == "validation_error"
    fields = {e["field"]: e["message"] for e in answer["errors"]}
    assert "window_end" in fields
    assert fields["window_end"] != "The window is already over: register before you go."
    assert _visits(db) == []

    client.headers["Accept-Language"] = "en"
    english = client.post(
        "/visits/new",
        data=page_form(over, csrf, idempotency_key="late-key"),
        headers=JSON,
        follow_redirects=False,
    )
    assert {e["message"] for e in english.json()["errors"]} >= {
        "The window is already over: register before you go."
    }


def test_the_same_key_with_another_request_is_refused_not_replayed(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    en.post(
        "/visits/new",
        data=page_form(planned(world, now), csrf, idempotency_key="k-2"),
        headers=JSON,
    )
    other = planned(world, now, window_end=now + timedelta(hours=5))
    response = en.post(
        "/visits/new", data=page_form(other, csrf, idempotency_key="k-2"), headers=JSON
    )
    assert 400 <= response.status_code < 500
    assert response.json()["code"] == "idempotency_key_reused"
    assert len(_visits(db)) == 1


def test_a_credit_code_typed_offline_is_looked_up_when_sent(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    data = planned(world, now, enterprise_id=None)
    unknown = en.post(
        "/visits/new",
        data=page_form(data, csrf, idempotency_key="u-1", enterprise_uscc="91000000000000000X"),
        headers=JSON,
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "enterprise_id"
    assert "91000000000000000X" in unknown.json()["errors"][0]["message"]
    assert _visits(db) == []

    typed = world.ent_a.uscc.lower()  # typed in lower case on the phone
    found = en.post(
        "/visits/new",
        data=page_form(data, csrf, idempotency_key="u-2", enterprise_uscc=typed),
        headers=JSON,
    )
    assert found.status_code == 200, found.text
    assert only_visit(db).enterprise_id == world.ent_a.id


def test_the_credit_code_is_only_for_the_queue(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    # The page's own submission still needs the enterprise chosen from the search.
    csrf = login(en, "inspector1")
    data = planned(world, now, enterprise_id=None)
    response = en.post("/visits/new", data=page_form(data, csrf, enterprise_uscc=world.ent_a.uscc))
    assert response.status_code == 422
    assert _visits(db) == []


def test_session_endpoint_names_the_user_and_a_working_csrf_token(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    anonymous = en.get("/pwa/session")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"signed_in": False}
    assert anonymous.headers["cache-control"] == "no-store"

    login(en, "inspector1")
    session = en.get("/pwa/session").json()
    assert session["signed_in"] is True
    assert session["user_id"] == world.inspector1.id
    token = session["csrf_token"]
    body = page_form(planned(world, now), "", idempotency_key="s-1")
    del body["csrf_token"]
    sent = en.post("/visits/new", data=body, headers={**JSON, "X-CSRF-Token": token})
    assert sent.status_code == 200, sent.text
    # A wrong token is refused (the queue then asks the user to sign in again).
    refused = en.post(
        "/visits/new",
        data={**body, "idempotency_key": "s-2"},
        headers={**JSON, "X-CSRF-Token": token + "x"},
    )
    assert refused.status_code == 403
    assert len(_visits(db)) == 1
    events = fresh(db).scalars(select(AuditEvent).where(AuditEvent.action == "visit.registered"))
    assert len(list(events)) == 1


def test_registration_page_offers_the_months_plan_entries_for_offline_use(
    en: TestClient, world: World
) -> None:
    login(en, "inspector1")
    html = en.get("/visits/new").text
    assert "data-offline-entry" in html
    assert f'<option value="{world.entry_a.id}" data-enterprise-id="{world.ent_a.id}"' in html
    assert 'name="enterprise_uscc"' in html
    assert "data-queue" in html
    assert 'src="/static/queue.js?v=' in html
    # Another agency's inspector is not offered this agency's entries.
    en.cookies.clear()
    login(en, "inspector9")
    other = en.get("/visits/new").text
    assert f'data-enterprise-id="{world.ent_a.id}"' not in other or (
        f'<option value="{world.entry_a.id}"' not in other
    )


def test_home_and_offline_pages_carry_the_queue(en: TestClient, world: World) -> None:
    login(en, "inspector1")
    assert "data-queue-list" in en.get("/visits").text
    assert "data-queue-list" in en.get("/offline").text


def test_the_phones_queued_time_is_kept_as_its_claim_only(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    """The phone says when it queued the registration: the audit event keeps that as the
    device's claim; the registration time stays the time it arrived."""
    csrf = login(en, "inspector1")
    data = planned(world, now, item_ids=[i.id for i in world.entry_a.items])
    claimed = now - timedelta(hours=2)
    headers = {**JSON, "X-Queued-At": claimed.isoformat().replace("+00:00", "Z")}
    body = page_form(data, csrf, idempotency_key="queued-key-claim")
    assert en.post("/visits/new", data=body, headers=headers).status_code == 200
    visit = only_visit(db)
    assert visit.registered_at == now
    event = (
        fresh(db).scalars(select(AuditEvent).where(AuditEvent.action == "visit.registered")).one()
    )
    assert json.loads(event.data)["device_queued_at_claimed"] == claimed.isoformat()


@pytest.mark.parametrize("header", ["yesterday", "2026-11-16T07:00:00", ""])
def test_an_unreadable_or_zoneless_queued_time_is_ignored(
    en: TestClient, world: World, db: Session, now: datetime, header: str
) -> None:
    csrf = login(en, "inspector1")
    data = planned(world, now, item_ids=[i.id for i in world.entry_a.items])
    body = page_form(data, csrf, idempotency_key=f"queued-key-{len(header)}")
    answer = en.post("/visits/new", data=body, headers={**JSON, "X-Queued-At": header})
    assert answer.status_code == 200
    event = (
        fresh(db).scalars(select(AuditEvent).where(AuditEvent.action == "visit.registered")).one()
    )
    assert json.loads(event.data)["device_queued_at_claimed"] is None
