"""Decisions on extra visits: approve or reject a pending one, with a note; nothing else."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, login, make_enterprise, make_flag, make_inspector
from tests.supervision.helpers import extra_visit, planned_visit
from webapp.audit.models import AuditEvent
from webapp.auth.models import User
from webapp.enums import Approval, VisitStatus
from webapp.errors import DomainError
from webapp.supervision import service
from webapp.visits import service as visits_service
from webapp.visits.models import Visit, VisitDecision


def _decide(
    db: Session,
    visit: Visit,
    actor: User,
    now: datetime,
    decision: Approval = Approval.approved,
    note: str = "",
) -> Visit:
    return service.decide_extra_visit(
        db, actor=actor, public_id=visit.public_id, decision=decision, note=note, now=now
    )


def _post_decision(client: TestClient, public_id: str, token: str, **form: str) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/supervision/approvals/{public_id}",
        data={**form, "csrf_token": token},
        follow_redirects=False,
    )
    return response


def test_approvals_page_lists_pending_extra_visits_in_scope(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    pending = extra_visit(db, world, now)
    extra_visit(db, world, now, approval="approved")
    extra_visit(db, world, now, status="cancelled")
    far = make_enterprise(db, agency=world.other_county, now=now)
    other = extra_visit(db, world, now, agency=world.other_county, enterprise=far)
    planned = planned_visit(db, world, now)
    login(client, "supervisor1")
    html = client.get("/supervision/approvals").text
    assert html.count('<section class="card" id="visit-') == 1
    assert f'id="visit-{pending.public_id}"' in html
    assert "Complaint or hotline report" in html
    assert "Hotline 12345: blocked fire exit reported" in html
    assert "Alice Li" in html
    assert world.alice.credentials[0].number in html
    assert "inspector1" in html  # registered by
    assert other.public_id not in html
    assert planned.public_id not in html


def test_approve_through_the_page(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = extra_visit(db, world, now)
    token = login(client, "supervisor1")
    response = _post_decision(client, visit.public_id, token, decision="approved", note="")
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "Decision recorded." in page
    assert "No extra visit is waiting for a decision." in page
    db.rollback()
    db.expire_all()
    fresh = db.get(Visit, visit.id)
    assert fresh is not None
    assert fresh.approval == Approval.approved
    [decision] = fresh.decisions
    assert decision.decision == Approval.approved
    assert decision.decided_by_id == world.supervisor.id
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "visit.approved"))
    assert event is not None
    assert event.visit_id == visit.id


def test_reject_needs_a_note(client: TestClient, db: Session, world: World, now: datetime) -> None:
    visit = extra_visit(db, world, now)
    token = login(client, "supervisor1")
    response = _post_decision(client, visit.public_id, token, decision="rejected", note=" ")
    assert response.status_code == 422
    assert "Write a note: why the extra visit is rejected." in response.text
    assert db.scalar(select(func.count(VisitDecision.id))) == 0
    response = _post_decision(
        client,
        visit.public_id,
        token,
        decision="rejected",
        note="Merge with next week's plan visit",
    )
    assert response.status_code == 303
    db.rollback()
    db.expire_all()
    fresh = db.get(Visit, visit.id)
    assert fresh is not None
    assert fresh.approval == Approval.rejected
    assert [d.note for d in fresh.decisions] == ["Merge with next week's plan visit"]


def test_a_decision_is_final_and_planned_visits_have_none(
    db: Session, world: World, now: datetime
) -> None:
    visit = extra_visit(db, world, now)
    _decide(db, visit, world.supervisor, now, note="ok")
    with pytest.raises(DomainError) as caught:
        _decide(db, visit, world.admin, now, Approval.rejected, note="changed my mind")
    assert caught.value.code == "not_pending"
    assert caught.value.status == 409
    assert "already approved" in caught.value.message
    db.rollback()
    planned = planned_visit(db, world, now)
    with pytest.raises(DomainError) as caught:
        _decide(db, planned, world.supervisor, now)
    assert caught.value.code == "not_pending"
    assert "planned visit" in caught.value.message
    db.rollback()
    assert db.scalar(select(func.count(VisitDecision.id))) == 1


def test_out_of_scope_and_unknown_visits_are_not_found(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = extra_visit(db, world, now)
    token = login(client, "supervisor9")
    response = _post_decision(client, visit.public_id, token, decision="approved")
    assert response.status_code == 404
    response = _post_decision(client, "no-such-visit", token, decision="approved")
    assert response.status_code == 404
    db.rollback()
    db.expire_all()
    assert db.get(Visit, visit.id).approval == Approval.pending  # type: ignore[union-attr]


def test_town_visit_is_decided_by_the_county_supervisor(
    db: Session, world: World, now: datetime
) -> None:
    town_ent = make_enterprise(db, agency=world.town, now=now)
    visit = extra_visit(db, world, now, agency=world.town, enterprise=town_ent)
    decided = _decide(db, visit, world.supervisor, now)
    assert decided.approval == Approval.approved


@pytest.mark.parametrize("who", ["inspector1", "manager_a"])
def test_only_supervisors_and_admins_decide(
    db: Session, world: World, now: datetime, who: str
) -> None:
    visit = extra_visit(db, world, now)
    actor = world.inspector1 if who == "inspector1" else world.manager_a
    with pytest.raises(DomainError) as caught:
        _decide(db, visit, actor, now)
    assert caught.value.code == "forbidden"


def test_decision_after_the_scan_keeps_the_flag(db: Session, world: World, now: datetime) -> None:
    visit = extra_visit(db, world, now, status="confirmed")
    flag = make_flag(db, kind="extra_unapproved", agency=world.county, visit=visit, now=now)
    db.commit()
    _decide(
        db,
        visit,
        world.supervisor,
        now + timedelta(hours=1),
        note="Approved afterwards: the complaint was genuine",
    )
    page = service.list_flags(db, actor=world.supervisor)
    assert [r.flag.id for r in page.items] == [flag.id]
    assert db.get(Visit, visit.id).status == VisitStatus.confirmed  # type: ignore[union-attr]


def test_bad_decision_value_is_refused(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = extra_visit(db, world, now)
    token = login(client, "supervisor1")
    for value in ("pending", "maybe", ""):
        response = _post_decision(client, visit.public_id, token, decision=value, note="x")
        assert response.status_code == 422, value
        assert "Choose a decision: approved or rejected." in response.text
    assert db.scalar(select(func.count(VisitDecision.id))) == 0
    with pytest.raises(DomainError) as caught:
        _decide(db, visit, world.supervisor, now, Approval.pending, note="x")
    assert caught.value.errors[0].field == "decision"


def test_the_team_is_checked_as_the_gate_checks_it(
    db: Session, world: World, now: datetime
) -> None:
    """A credential is valid by the local dates of the window, exactly as on the visit's
    card at the gate: Erin's ends on 16 November, and the visit is on the 17th in Shanghai
    (still the 16th in UTC)."""
    erin = make_inspector(
        db, agency=world.county, name="Erin Zhou", now=now, valid_until=date(2026, 11, 16)
    )
    start = datetime(2026, 11, 17, 6, tzinfo=ZoneInfo("Asia/Shanghai"))
    visit = extra_visit(
        db,
        world,
        now,
        inspectors=[world.alice, erin],
        window_start=start,
        window_end=start + timedelta(hours=1),
    )
    [pending] = service.pending_extra_visits(db, actor=world.supervisor)
    assert [(m.name, m.valid) for m in pending.team] == [("Alice Li", True), ("Erin Zhou", False)]
    card = visits_service.visit_card(pending.visit, now=now)
    assert [(m.name, m.valid) for m in card.members] == [(m.name, m.valid) for m in pending.team]
    history = service.visit_history(db, actor=world.supervisor, public_id=visit.public_id)
    assert history.team == pending.team
