"""The caps table: DOMAIN.md's defaults from the migration, read by `load_caps`, edited by
the administrator only, every change an audit event with the old and new value."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, login
from webapp.audit.models import AuditEvent
from webapp.errors import DomainError
from webapp.plans import caps
from webapp.plans.models import VisitCap


def _cap(db: Session, klass: str, grade: str) -> VisitCap:
    found = db.scalar(
        select(VisitCap).where(VisitCap.enterprise_class == klass, VisitCap.risk_grade == grade)
    )
    assert found is not None
    return found


def test_load_caps_gives_the_published_defaults(db: Session) -> None:
    loaded = caps.load_caps(db)
    assert loaded[("hazchem_metallurgy", "1")] == 2
    assert loaded[("hazchem_metallurgy", "none")] == 12
    assert loaded[("other", "3")] == 4
    assert loaded[("coal_mine", "D")] == 4
    assert loaded[caps.SUPERVISORY_KEY] == 3
    assert set(loaded) == set(caps.CAP_KEYS)


def test_list_caps_in_the_order_of_the_published_table(db: Session, world: World) -> None:
    listed = [(c.enterprise_class, c.risk_grade) for c in caps.list_caps(db, actor=world.admin)]
    assert listed == caps.CAP_KEYS


def test_an_admin_changes_a_cap_and_it_is_audited(db: Session, world: World, now: datetime) -> None:
    cap = _cap(db, "other", "2")
    changed = caps.set_cap(db, actor=world.admin, cap_id=cap.id, max_per_year=3, now=now)
    assert (changed.max_per_year, changed.updated_at, changed.updated_by_id) == (
        3,
        now,
        world.admin.id,
    )
    assert caps.load_caps(db)[("other", "2")] == 3
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "visit_cap.changed"))
    assert event is not None
    assert json.loads(event.data) == {
        "enterprise_class": "other",
        "risk_grade": "2",
        "from": 2,
        "to": 3,
    }


def test_setting_the_same_value_records_nothing(db: Session, world: World, now: datetime) -> None:
    cap = _cap(db, "other", "2")
    caps.set_cap(db, actor=world.admin, cap_id=cap.id, max_per_year=2, now=now)
    assert (
        db.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "visit_cap.changed")
        )
        == 0
    )


@pytest.mark.parametrize("value", [None, -1, 367])
def test_a_cap_out_of_range_is_refused(
    db: Session, world: World, now: datetime, value: int | None
) -> None:
    cap = _cap(db, "other", "2")
    with pytest.raises(DomainError) as caught:
        caps.set_cap(db, actor=world.admin, cap_id=cap.id, max_per_year=value, now=now)
    assert caught.value.code == "validation_error"
    assert [e.field for e in caught.value.errors] == ["max_per_year"]
    assert caps.load_caps(db)[("other", "2")] == 2


def test_zero_is_a_cap(db: Session, world: World, now: datetime) -> None:
    cap = _cap(db, "coal_mine", "A")
    caps.set_cap(db, actor=world.admin, cap_id=cap.id, max_per_year=0, now=now)
    assert caps.load_caps(db)[("coal_mine", "A")] == 0


@pytest.mark.parametrize("username", ["supervisor", "inspector1"])
def test_only_the_admin_edits_caps(db: Session, world: World, now: datetime, username: str) -> None:
    cap = _cap(db, "other", "2")
    with pytest.raises(DomainError) as caught:
        caps.set_cap(db, actor=getattr(world, username), cap_id=cap.id, max_per_year=9, now=now)
    assert caught.value.code == "forbidden"
    with pytest.raises(DomainError):
        caps.list_caps(db, actor=getattr(world, username))


def test_unknown_cap(db: Session, world: World, now: datetime) -> None:
    with pytest.raises(DomainError) as caught:
        caps.set_cap(db, actor=world.admin, cap_id=9999, max_per_year=1, now=now)
    assert caught.value.code == "not_found"


# --- the page -------------------------------------------------------------------------------


def test_caps_page_shows_and_saves_a_cap(client: TestClient, db: Session, world: World) -> None:
    client.headers["Accept-Language"] = "en"
    token = login(client, "admin")
    page = client.get("/admin/caps")
    assert page.status_code == 200
    assert "Supervisory visits by higher offices" in page.text
    assert 'href="/admin/caps"' in client.get("/admin").text
    cap = _cap(db, "hazchem_metallurgy", "3")
    saved = client.post(
        f"/admin/caps/{cap.id}",
        data={"max_per_year": "6", "csrf_token": token},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/admin/caps?saved=1#cap-{cap.id}"
    db.rollback()  # end the test's read snapshot
    assert caps.load_caps(db)[("hazchem_metallurgy", "3")] == 6
    assert "Saved." in client.get("/admin/caps?saved=1").text


def test_caps_page_shows_a_refusal_next_to_its_row(
    client: TestClient, db: Session, world: World
) -> None:
    client.headers["Accept-Language"] = "en"
    token = login(client, "admin")
    cap = _cap(db, "other", "1")
    refused = client.post(
        f"/admin/caps/{cap.id}", data={"max_per_year": "lots", "csrf_token": token}
    )
    assert refused.status_code == 422
    assert f'id="err-cap-{cap.id}"' in refused.text
    assert 'value="lots"' in refused.text
    db.rollback()
    assert caps.load_caps(db)[("other", "1")] == 1


@pytest.mark.parametrize("username", ["supervisor1", "inspector1", "manager1"])
def test_caps_page_is_for_the_admin_only(client: TestClient, world: World, username: str) -> None:
    token = login(client, username)
    assert client.get("/admin/caps").status_code == 403
    posted = client.post("/admin/caps/1", data={"max_per_year": "9", "csrf_token": token})
    assert posted.status_code == 403
