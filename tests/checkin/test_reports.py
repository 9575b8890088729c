"""Reporting a visit that showed no valid pass: validated field by field, kept on error,
audited, and raised as an unregistered-visit flag for the agency in charge."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.checkin.helpers import counts, flags, sign_in
from tests.factories import World, api_token, csrf_from
from webapp.audit.models import AuditEvent
from webapp.checkin import service
from webapp.checkin.models import UnregisteredReport
from webapp.enums import FlagKind, Severity
from webapp.errors import DomainError


def _reports(db: Session) -> list[UnregisteredReport]:
    db.rollback()
    db.expire_all()
    return list(db.scalars(select(UnregisteredReport).order_by(UnregisteredReport.id)))


def test_a_report_is_stored_audited_and_flagged_for_the_agency_in_charge(
    db: Session, world: World, now: datetime
) -> None:
    when = now - timedelta(hours=3)
    report = service.report_unregistered(
        db,
        actor=world.manager_a,
        occurred_at=when,
        who="  Two men, said they were from the town office, no credential shown  ",
        what_they_said="Fire exits",
        now=now,
    )
    assert report.enterprise_id == world.ent_a.id
    assert report.reported_by_id == world.manager_a.id
    assert report.occurred_at == when
    assert report.who.startswith("Two men")  # trimmed
    [flag] = flags(db)
    assert (flag.kind, flag.severity, flag.report_id, flag.dedupe_key) == (
        FlagKind.unregistered_report,
        Severity.serious,
        report.id,
        f"report:{report.id}",
    )
    assert flag.agency_id == world.ent_a.agency_id
    assert flag.enterprise_id == world.ent_a.id
    actions = list(db.scalars(select(AuditEvent.action)))
    assert "report.created" in actions


@pytest.mark.parametrize(
    ("occurred", "who", "said", "fields"),
    [
        (None, "Two men", "Fire exits", {"occurred_at"}),
        (timedelta(minutes=10), "Two men", "Fire exits", {"occurred_at"}),  # future
        (-timedelta(days=400), "Two men", "Fire exits", {"occurred_at"}),  # typo'd year
        (-timedelta(hours=1), " ", "Fire exits", {"who"}),
        (-timedelta(hours=1), "Two men", "", {"what_they_said"}),
        (-timedelta(hours=1), "x" * 2001, "y" * 4001, {"who", "what_they_said"}),
        (None, "", "", {"occurred_at", "who", "what_they_said"}),
    ],
)
def test_bad_reports_are_refused_field_by_field_and_write_nothing(
    db: Session,
    world: World,
    now: datetime,
    occurred: timedelta | None,
    who: str,
    said: str,
    fields: set[str],
) -> None:
    with pytest.raises(DomainError) as err:
        service.report_unregistered(
            db,
            actor=world.manager_a,
            occurred_at=now + occurred if occurred is not None else None,
            who=who,
            what_they_said=said,
            now=now,
        )
    assert err.value.code == "validation_error"
    assert {e.field for e in err.value.errors} == fields
    assert all(e.message for e in err.value.errors)
    assert _reports(db) == []
    assert counts(db) == (0, 0, 0)


@pytest.mark.parametrize("actor", ["inspector1", "supervisor", "admin"])
def test_only_a_safety_manager_reports(
    db: Session, world: World, now: datetime, actor: str
) -> None:
    with pytest.raises(DomainError) as err:
        service.report_unregistered(
            db,
            actor=getattr(world, actor),
            occurred_at=now - timedelta(hours=1),
            who="Two men",
            what_they_said="Fire exits",
            now=now,
        )
    assert err.value.code == "forbidden"
    assert _reports(db) == []


def test_the_report_page_keeps_the_input_and_says_what_to_fix(
    en: TestClient, db: Session, world: World, now: datetime
) -> None:
    sign_in(en, "manager1")
    form = en.get("/reports/new")
    assert form.status_code == 200
    own_form = re.search(r'<form method="post" action="/reports".*?</form>', form.text, re.S)
    assert own_form
    csrf = csrf_from(own_form.group(0))  # the form carries its own, valid token
    assert 'type="datetime-local"' in form.text
    assert 'value="2026-11-16T09:00"' in form.text  # now, in Shanghai time
    response = en.post(
        "/reports",
        data={
            "csrf_token": csrf,
            "occurred_at": "2026-11-16T11:30",  # later today: in the future
            "who": "Zhang San, <b>town office</b>",
            "what_they_said": "",
        },
    )
    assert response.status_code == 422
    text = response.text
    assert "That time is in the future" in text
    assert "Say what they said they came to check" in text
    assert 'value="2026-11-16T11:30"' in text
    assert "Zhang San, &lt;b&gt;town office&lt;/b&gt;" in text  # kept, and escaped
    assert _reports(db) == []

    sent = en.post(
        "/reports",
        data={
            "csrf_token": csrf,
            "occurred_at": "2026-11-16T08:15",
            "who": "Zhang San, town office, credential JZ-0001",
            "what_they_said": "Dust explosion prevention",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == "/enterprise?reported=1"
    [report] = _reports(db)
    assert report.occurred_at == datetime.fromisoformat("2026-11-16T00:15+00:00")
    home = en.get("/enterprise?reported=1")
    assert "Your report was sent" in home.text
    assert "Zhang San, town office, credential JZ-0001" in home.text
    assert [f.kind for f in flags(db)] == [FlagKind.unregistered_report]


def test_a_garbled_time_on_the_page_is_a_field_error(en: TestClient, world: World) -> None:
    csrf = sign_in(en, "manager1")
    response = en.post(
        "/reports",
        data={"csrf_token": csrf, "occurred_at": "yesterday", "who": "ab", "what_they_said": "cd"},
    )
    assert response.status_code == 422
    assert re.search(r'id="err-occurred_at"', response.text)


def test_reports_by_api(client: TestClient, db: Session, world: World) -> None:
    headers = api_token(client, "manager1")
    created = client.post(
        "/api/v1/unregistered-reports",
        headers=headers,
        json={
            "occurred_at": "2026-11-16T08:00:00",  # no zone: Shanghai time
            "who": "Two inspectors from the county bureau",
            "what_they_said": "Hazardous chemicals storage",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["occurred_at"].startswith("2026-11-16T00:00:00")
    assert body["who"] == "Two inspectors from the county bureau"

    bad = client.post(
        "/api/v1/unregistered-reports",
        headers=headers,
        json={"occurred_at": "2030-01-01T00:00:00+08:00", "who": "", "what_they_said": "x"},
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    problem = bad.json()
    assert problem["code"] == "validation_error"
    assert {e["field"] for e in problem["errors"]} == {"occurred_at", "who", "what_they_said"}

    listed = client.get("/api/v1/enterprise/reports", headers=headers).json()
    assert [r["id"] for r in listed] == [body["id"]]
    inspector = api_token(client, "inspector1")
    refused = client.post(
        "/api/v1/unregistered-reports",
        headers=inspector,
        json={"occurred_at": "2026-11-16T08:00:00+08:00", "who": "ab", "what_they_said": "cd"},
    )
    assert refused.status_code == 403
    db.rollback()
    assert db.scalar(select(func.count()).select_from(UnregisteredReport)) == 1
