"""The extra-visit approval gate (Settings.extra_visit_approval): "confirm" (the default) shows
the pass of an unapproved extra visit but its scan does not confirm; "issue" does not even
show the pass ("waiting for approval") and the pass endpoints refuse with approval_pending."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.checkin.helpers import url_of
from tests.factories import World, api_token, login
from tests.visits.helpers import extra
from webapp.app import create_app
from webapp.checkin import service as checkin
from webapp.clock import FixedClock
from webapp.config import Settings, get_settings
from webapp.enums import Approval
from webapp.supervision import service as supervision
from webapp.visits import service
from webapp.visits.models import Visit


def _settings(gate: str) -> Settings:
    get_settings.cache_clear()
    return get_settings().model_copy(update={"extra_visit_approval": gate})


@pytest.fixture
def issue_client(engine: Engine, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(_settings("issue"), clock=clock, engine=engine)
    with TestClient(app, base_url="https://testserver") as c:
        c.headers["Accept-Language"] = "en"
        yield c


def _register_extra(db: Session, world: World, now: datetime, settings: Settings) -> Visit:
    return service.register_visit(
        db, actor=world.inspector1, data=extra(world, now), now=now, settings=settings
    )


def _decide(db: Session, world: World, visit: Visit, decision: Approval, now: datetime) -> None:
    db.rollback()  # a fresh snapshot: the app's requests wrote in between
    supervision.decide_extra_visit(
        db,
        actor=world.supervisor,
        public_id=visit.public_id,
        decision=decision,
        note="Not needed this month" if decision == Approval.rejected else "",
        now=now,
    )


# --- registration warns according to the gate -------------------------------------------------


@pytest.mark.parametrize(
    ("gate", "text"),
    [("confirm", "will not confirm it until"), ("issue", "pass is issued only once")],
)
def test_registration_warns_according_to_the_gate(
    db: Session, world: World, now: datetime, gate: str, text: str
) -> None:
    check = service.check_registration(
        db, actor=world.inspector1, data=extra(world, now), now=now, settings=_settings(gate)
    )
    [warning] = [f for f in check.findings if f.rule == "extra.needs_approval"]
    assert text in warning.message
    assert warning.params == {"gate": gate}


# --- "confirm": the pass is shown ---------------------------------------------------------


def test_confirm_gate_shows_the_pass_of_an_unapproved_extra_visit(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = _register_extra(db, world, now, _settings("confirm"))
    headers = api_token(client, "inspector1")
    assert client.get(f"/api/v1/visits/{visit.public_id}/pass", headers=headers).status_code == 200
    login(client, "inspector1")
    card = client.get(f"/visits/{visit.public_id}")
    assert '<svg class="qr"' in card.text
    assert "data-withheld" not in card.text


# --- "issue": no pass before the approval -------------------------------------------------


def test_issue_gate_withholds_the_pass_until_approved(
    issue_client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = _register_extra(db, world, now, _settings("issue"))
    headers = api_token(issue_client, "inspector1")
    for path in ("pass", "pass.png", "pass.svg"):
        refused = issue_client.get(f"/api/v1/visits/{visit.public_id}/{path}", headers=headers)
        assert refused.status_code == 409, path
        assert refused.json()["code"] == "approval_pending"
    login(issue_client, "inspector1")
    card = issue_client.get(f"/visits/{visit.public_id}")
    assert card.status_code == 200
    assert 'data-withheld="approval_pending"' in card.text
    assert "Waiting for approval" in card.text
    assert '<svg class="qr"' not in card.text
    fragment = issue_client.get(f"/visits/{visit.public_id}/pass")
    assert "Waiting for approval" in fragment.text
    assert issue_client.get(f"/visits/{visit.public_id}/pass.png").status_code == 409

    _decide(db, world, visit, Approval.approved, now)
    assert (
        issue_client.get(f"/api/v1/visits/{visit.public_id}/pass", headers=headers).status_code
        == 200
    )
    card = issue_client.get(f"/visits/{visit.public_id}")
    assert '<svg class="qr"' in card.text


def test_issue_gate_a_rejected_extra_visit_has_no_pass(
    issue_client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = _register_extra(db, world, now, _settings("issue"))
    _decide(db, world, visit, Approval.rejected, now)
    headers = api_token(issue_client, "inspector1")
    refused = issue_client.get(f"/api/v1/visits/{visit.public_id}/pass", headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (409, "approval_rejected")
    login(issue_client, "inspector1")
    assert (
        'data-withheld="approval_rejected"' in issue_client.get(f"/visits/{visit.public_id}").text
    )


def test_issue_gate_a_planned_visit_has_its_pass(
    issue_client: TestClient, db: Session, world: World, now: datetime
) -> None:
    from tests.visits.helpers import planned

    visit = service.register_visit(
        db, actor=world.inspector1, data=planned(world, now), now=now, settings=_settings("issue")
    )
    headers = api_token(issue_client, "inspector1")
    assert (
        issue_client.get(f"/api/v1/visits/{visit.public_id}/pass", headers=headers).status_code
        == 200
    )


@pytest.mark.parametrize("gate", ["confirm", "issue"])
def test_under_either_gate_the_scan_of_an_unapproved_extra_visit_does_not_confirm(
    db: Session, world: World, now: datetime, gate: str
) -> None:
    settings = _settings(gate)
    visit = _register_extra(db, world, now, settings)
    later = visit.window_start
    result = checkin.scan_pass(
        db,
        actor=world.manager_a,
        presented=url_of(visit, now=later, settings=settings),
        device_time=None,
        now=later,
        settings=settings,
        idempotency_key=None,
    )
    assert result.reason_code == "approval_pending"
    _decide(db, world, visit, Approval.approved, later)
    again = checkin.scan_pass(
        db,
        actor=world.manager_a,
        presented=url_of(visit, now=later, settings=settings),
        device_time=None,
        now=later,
        settings=settings,
        idempotency_key=None,
    )
    assert again.confirmed
