"""A visit's full history: registration, decisions, every scan (refused too, with the
device's time), flags and resolutions, cancellation, and its audit events."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, login, make_flag, make_scan
from tests.supervision.helpers import extra_visit, planned_visit
from webapp.audit import service as audit
from webapp.enums import Approval
from webapp.supervision import service
from webapp.visits.models import Visit


def _story(db: Session, world: World, now: datetime) -> Visit:
    """An extra visit registered at 09:00, scanned with an old code at 10:05 (refused),
    approved at 10:10, confirmed at 10:12, its flag resolved at 11:00."""
    visit = extra_visit(
        db,
        world,
        now,
        inspectors=[world.alice, world.carol_expired],
        extra_reason="accident",
        extra_reason_text="Gas leak reported by the fire brigade",
        window_start=now + timedelta(hours=1),
    )
    audit.record(
        db,
        actor_id=world.inspector1.id,
        action="visit.registered",
        object_type="visit",
        object_id=visit.public_id,
        visit_id=visit.id,
        now=now,
    )
    refused = make_scan(
        db,
        visit=visit,
        user=world.manager_b,
        now=now + timedelta(minutes=65),
        reason_code="pass_expired",
        device_time=now + timedelta(minutes=63, seconds=30),
    )
    flag = make_flag(
        db,
        kind="refused_scan",
        agency=world.county,
        visit=visit,
        scan=refused,
        now=now + timedelta(minutes=65),
    )
    db.commit()
    service.decide_extra_visit(
        db,
        actor=world.supervisor,
        public_id=visit.public_id,
        decision=Approval.approved,
        note="Accident follow-up is urgent",
        now=now + timedelta(minutes=70),
    )
    make_scan(
        db, visit=visit, user=world.manager_b, now=now + timedelta(minutes=72), outcome="confirmed"
    )
    db.commit()
    service.resolve_flag(
        db,
        actor=world.supervisor,
        flag_id=flag.id,
        note="The manager scanned a screenshot first; fine.",
        now=now + timedelta(hours=2),
    )
    return visit


def test_history_page_shows_everything_in_time_order(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = _story(db, world, now)
    login(client, "supervisor1")
    response = client.get(f"/supervision/visits/{visit.public_id}")
    assert response.status_code == 200
    html = response.text
    kinds = re.findall(r'<li class="event \w+" data-kind="(\w+)">', html)
    assert kinds == ["registered", "scan", "flag", "decision", "scan", "resolution"]
    # registration: who, window, team with credential numbers (carol's not valid), items, reason
    assert "by inspector1" in html
    assert world.alice.credentials[0].number in html
    assert world.carol_expired.credentials[0].number in html
    assert "not valid on the visit" in html
    assert "Accident or emergency" in html
    assert "Gas leak reported by the fire brigade" in html
    assert world.items[2].code in html
    # the refused scan: reason in words, by whom, server time and device time
    assert "Expired pass (an old code or a screenshot)" in html
    assert "Scanned by manager2" in html
    assert "10:05:00" in html  # server
    assert "10:03:30" in html  # device
    # decision and resolution with their notes
    assert "Accident follow-up is urgent" in html
    assert "The manager scanned a screenshot first; fine." in html
    # audit events tied to the visit
    for action in ("visit.registered", "flag.raised", "visit.approved", "flag.resolved"):
        assert f'<td data-label="Action" class="mono">{action}</td>' in html


def test_history_is_scoped_and_supervisors_only(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = _story(db, world, now)
    login(client, "supervisor9")
    assert client.get(f"/supervision/visits/{visit.public_id}").status_code == 404
    assert client.get("/supervision/visits/unknown").status_code == 404
    client.cookies.clear()
    login(client, "admin")
    assert client.get(f"/supervision/visits/{visit.public_id}").status_code == 200


def test_cancelled_visit_shows_its_cancellation(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = planned_visit(db, world, now, status="cancelled")
    history = service.visit_history(db, actor=world.supervisor, public_id=visit.public_id)
    assert [e.kind.value for e in history.events] == ["registered", "cancelled"]
    login(client, "supervisor1")
    html = client.get(f"/supervision/visits/{visit.public_id}").text
    assert "Rescheduled" in html
    assert f"Plan entry {world.month}" in html


def test_flag_list_links_to_the_history(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = _story(db, world, now)
    login(client, "supervisor1")
    html = client.get("/supervision/flags?state=all").text
    assert f'href="/supervision/visits/{visit.public_id}"' in html
