"""Decisions on extra visits: approve or reject a pending one, with a note; nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, login, make_enterprise, make_flag, make_visit
from webapp.audit.models import AuditEvent
from webapp.enums import Approval, VisitStatus
from webapp.errors import DomainError
from webapp.supervision import service
from webapp.visits.models import Visit, VisitDecision


def _extra(db: Session, world: World, now: datetime, **kw: object) -> Visit:
    visit = make_visit(
        db,
        agency=kw.pop("agency", world.county),  # type: ignore[arg-type]
        enterprise=kw.pop("enterprise", world.ent_b),  # type: ignore[arg-type]
        inspectors=[world.alice, world.bob],
        items=world.items[2:],
        registered_by=world.inspector1,
        extra_reason="complaint",
        extra_reason_text="Hotline 12345: blocked fire exit reported",
        now=now,
        **kw,  # type: ignore[arg-type]
    )
    db.commit()
    return visit


def test_approvals_page_lists_pending_extra_visits_in_scope(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    pending = _extra(db, world, now)
    _extra(db, world, now, approval="approved")
    _extra(db, world, now, status="cancelled")
    far = make_enterprise(db, agency=world.other_county, now=now)
    other = _extra(db, world, now, agency=world.other_county, enterprise=far)
    planned = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob],
        items=world.items[:1],
        registered_by=world.inspector1,
        plan_entry=world.entry_a,
        now=now,
    )
    db.commit()
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
    visit = _extra(db, world, now)
    token = login(client, "supervisor1")
    response = client.post(
        f"/supervision/approvals/{visit.public_id}",
        data={"decision": "approved", "note": "", "csrf_token": token},
        follow_redirects=False,
    )
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
    visit = _extra(db, world, now)
    token = login(client, "supervisor1")
    response = client.post(
        f"/supervision/approvals/{visit.public_id}",
        data={"decision": "rejected", "note": " ", "csrf_token": token},
    )
    assert response.status_code == 422
    assert "Write a note: why the extra visit is rejected." in response.text
    assert db.scalar(select(func.count(VisitDecision.id))) == 0
    response = client.post(
        f"/supervision/approvals/{visit.public_id}",
        data={
            "decision": "rejected",
            "note": "Merge with next week's plan visit",
            "csrf_token": token,
        },
        follow_redirects=False,
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
    visit = _extra(db, world, now)
    service.decide_extra_visit(
        db,
        actor=world.supervisor,
        public_id=visit.public_id,
        decision=Approval.approved,
        note="ok",
        now=now,
    )
    with pytest.raises(DomainError) as caught:
        service.decide_extra_visit(
            db,
            actor=world.admin,
            public_id=visit.public_id,
            decision=Approval.rejected,
            note="changed my mind",
            now=now,
        )
    assert caught.value.code == "not_pending"
    assert caught.value.status == 409
    assert "already approved" in caught.value.message
    db.rollback()
    planned = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob],
        items=world.items[:1],
        registered_by=world.inspector1,
        plan_entry=world.entry_a,
        now=now,
    )
    db.commit()
    with pytest.raises(DomainError) as caught:
        service.decide_extra_visit(
            db,
            actor=world.supervisor,
            public_id=planned.public_id,
            decision=Approval.approved,
            note="",
            now=now,
        )
    assert caught.value.code == "not_pending"
    assert "planned visit" in caught.value.message
    db.rollback()
    assert db.scalar(select(func.count(VisitDecision.id))) == 1


def test_out_of_scope_and_unknown_visits_are_not_found(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = _extra(db, world, now)
    token = login(client, "supervisor9")
    response = client.post(
        f"/supervision/approvals/{visit.public_id}",
        data={"decision": "approved", "csrf_token": token},
    )
    assert response.status_code == 404
    response = client.post(
        "/supervision/approvals/no-such-visit",
        data={"decision": "approved", "csrf_token": token},
    )
    assert response.status_code == 404
    db.rollback()
    db.expire_all()
    assert db.get(Visit, visit.id).approval == Approval.pending  # type: ignore[union-attr]


def test_town_visit_is_decided_by_the_county_supervisor(
    db: Session, world: World, now: datetime
) -> None:
    town_ent = make_enterprise(db, agency=world.town, now=now)
    visit = _extra(db, world, now, agency=world.town, enterprise=town_ent)
    decided = service.decide_extra_visit(
        db,
        actor=world.supervisor,
        public_id=visit.public_id,
        decision=Approval.approved,
        note="",
        now=now,
    )
    assert decided.approval == Approval.approved


@pytest.mark.parametrize("who", ["inspector1", "manager_a"])
def test_only_supervisors_and_admins_decide(
    db: Session, world: World, now: datetime, who: str
) -> None:
    visit = _extra(db, world, now)
    actor = world.inspector1 if who == "inspector1" else world.manager_a
    with pytest.raises(DomainError) as caught:
        service.decide_extra_visit(
            db,
            actor=actor,
            public_id=visit.public_id,
            decision=Approval.approved,
            note="",
            now=now,
        )
    assert caught.value.code == "forbidden"


def test_decision_after_the_scan_keeps_the_flag(db: Session, world: World, now: datetime) -> None:
    visit = _extra(db, world, now, status="confirmed")
    flag = make_flag(db, kind="extra_unapproved", agency=world.county, visit=visit, now=now)
    db.commit()
    service.decide_extra_visit(
        db,
        actor=world.supervisor,
        public_id=visit.public_id,
        decision=Approval.approved,
        note="Approved afterwards: the complaint was genuine",
        now=now + timedelta(hours=1),
    )
    page = service.list_flags(db, actor=world.supervisor)
    assert [r.flag.id for r in page.items] == [flag.id]
    assert db.get(Visit, visit.id).status == VisitStatus.confirmed  # type: ignore[union-attr]


def test_bad_decision_value_is_refused(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = _extra(db, world, now)
    token = login(client, "supervisor1")
    for value in ("pending", "maybe", ""):
        response = client.post(
            f"/supervision/approvals/{visit.public_id}",
            data={"decision": value, "note": "x", "csrf_token": token},
        )
        assert response.status_code == 422, value
    assert db.scalar(select(func.count(VisitDecision.id))) == 0
