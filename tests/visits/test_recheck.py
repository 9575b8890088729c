"""Registering a re-check (复查): /visits/new?recheck_of=<visit>, and `recheck_of` in the API,
make an extra visit with the reason `recheck` that names the confirmed visit it re-checks, at
the same enterprise."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, api_token, csrf_from, login, make_visit
from tests.visits.helpers import api_body, extra, form_body, planned
from webapp.config import get_settings
from webapp.enums import ExtraReason, VisitStatus
from webapp.errors import DomainError
from webapp.visits import service
from webapp.visits.models import Visit
from webapp.visits.service import RegistrationInput


@pytest.fixture
def original(db: Session, world: World, now: datetime) -> Visit:
    """Last week's confirmed visit at Alpha Chemicals (items AQ-001, AQ-002)."""
    visit = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob],
        items=world.items[:2],
        registered_by=world.inspector1,
        plan_entry=world.entry_a,
        status="confirmed",
        now=now,
        window_start=now - timedelta(days=7),
    )
    db.commit()
    return visit


def _recheck(world: World, now: datetime, original: Visit, **changes: Any) -> RegistrationInput:
    data = extra(
        world,
        now,
        extra_reason=ExtraReason.recheck,
        extra_reason_text="Re-check of the ordered rectification",
        item_ids=[world.items[0].id],
        recheck_of=original.public_id,
    )
    return replace(data, **changes)


def test_a_recheck_names_the_visit_it_rechecks(
    db: Session, world: World, now: datetime, original: Visit
) -> None:
    data = _recheck(world, now, original)
    visit = service.register_visit(
        db,
        actor=world.inspector1,
        data=data,
        now=now,
        settings=get_settings(),
    )
    assert visit.recheck_of_visit_id == original.id
    assert visit.extra_reason == ExtraReason.recheck
    card = service.visit_card(visit, now=now)
    assert card.recheck_of_public_id == original.public_id
    assert card.recheck_of_day == (now - timedelta(days=7)).date()


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("other_enterprise", "recheck_of"),
        ("unknown", "recheck_of"),
        ("with_plan_entry", "extra_reason"),
        ("other_reason", "extra_reason"),
        ("not_confirmed", "recheck_of"),
        ("other_agency", "recheck_of"),
    ],
)
def test_a_bad_recheck_is_refused(
    db: Session, world: World, now: datetime, original: Visit, case: str, field: str
) -> None:
    actor = world.inspector1
    data = _recheck(world, now, original)
    if case == "other_enterprise":
        data = _recheck(world, now, original, enterprise_id=world.ent_b.id)
    elif case == "unknown":
        data = _recheck(world, now, original, recheck_of="no-such-visit")
    elif case == "with_plan_entry":
        data = _recheck(world, now, original, plan_entry_id=world.entry_a.id, extra_reason=None)
    elif case == "other_reason":
        data = _recheck(world, now, original, extra_reason=ExtraReason.complaint)
    elif case == "not_confirmed":
        original.status = VisitStatus.registered
        db.commit()
    elif case == "other_agency":
        actor = world.inspector_other  # cannot see the county's visit
        data = _recheck(world, now, original, co_inspector_ids=[], enterprise_id=world.ent_a.id)
    with pytest.raises(DomainError) as exc:
        service.register_visit(
            db,
            actor=actor,
            data=data,
            now=now,
            settings=get_settings(),
        )
    assert field in {e.field for e in exc.value.errors}, exc.value.errors


def test_the_recheck_form_is_prefilled(
    client: TestClient, db: Session, world: World, now: datetime, original: Visit
) -> None:
    client.headers["Accept-Language"] = "en"
    login(client, "inspector1")
    page = client.get(f"/visits/new?recheck_of={original.public_id}")
    assert page.status_code == 200
    html = page.text
    assert f'name="recheck_of" value="{original.public_id}"' in html
    assert re.search(r'<option value="recheck"\s+selected>', html)
    assert re.search(rf'name="enterprise_id" value="{world.ent_a.id}" checked', html)
    assert re.search(r'name="plan_entry_id" value="extra"\s*checked', html)
    for item in world.items[:2]:
        assert re.search(rf'name="item_ids" value="{item.id}" checked', html)
    assert "Re-check of the rectification ordered at the visit of" in html
    # Registering from the form stores the link.
    body = form_body(
        _recheck(world, now, original),
        csrf_from(html),
        recheck_of=original.public_id,
    )
    done = client.post("/visits/new", data=body, follow_redirects=False)
    assert done.status_code == 303, done.text
    db.rollback()
    visits = db.query(Visit).filter(Visit.recheck_of_visit_id == original.id).all()
    assert len(visits) == 1
    card = client.get(done.headers["location"])
    assert "Re-checks" in card.text
    assert f'href="/visits/{original.public_id}"' in card.text


def test_the_recheck_form_of_an_unknown_visit_is_not_found(
    client: TestClient, world: World, original: Visit
) -> None:
    login(client, "inspector1")
    assert client.get("/visits/new?recheck_of=no-such-visit").status_code == 404
    login(client, "inspector9")  # another agency's inspector
    assert client.get(f"/visits/new?recheck_of={original.public_id}").status_code == 404


def test_the_api_accepts_recheck_of_and_defaults_the_reason(
    client: TestClient, db: Session, world: World, now: datetime, original: Visit
) -> None:
    headers = api_token(client, "inspector1")
    body = api_body(planned(world, now, plan_entry_id=None, item_ids=[world.items[0].id]))
    body.update({"recheck_of": original.public_id, "extra_reason_text": "Re-check of hazards"})
    response = client.post("/api/v1/visits", headers=headers, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["extra_reason"] == "recheck"
    assert response.json()["recheck_of"] == original.public_id
    db.rollback()
    [visit] = db.query(Visit).filter(Visit.recheck_of_visit_id == original.id).all()
    assert visit.public_id == response.json()["public_id"]
