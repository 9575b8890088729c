"""The manager's start page and confirmed visits: a registered visit is never shown to its
enterprise before the pass is scanned (unannounced inspections)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.checkin.helpers import make_visit, sign_in, url_of
from tests.factories import World, api_token
from webapp.checkin import service
from webapp.config import Settings
from webapp.enums import VisitStatus
from webapp.errors import DomainError

_ACCOUNTS = {"inspector1": "inspector1", "supervisor1": "supervisor", "admin": "admin"}


def _confirm(db: Session, world: World, *, now: datetime, settings: Settings, **kw: object) -> str:
    visit = make_visit(db, world, now=now, **kw)  # type: ignore[arg-type]
    result = service.scan_pass(
        db,
        actor=world.manager_a if visit.enterprise_id == world.ent_a.id else world.manager_b,
        presented=url_of(visit, now=now, settings=settings),
        device_time=None,
        now=now,
        settings=settings,
        idempotency_key=None,
    )
    assert result.confirmed
    return visit.public_id


def test_home_lists_confirmed_visits_newest_first_and_never_registered_ones(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    older = _confirm(db, world, now=now - timedelta(days=3), settings=settings)
    newer = _confirm(db, world, now=now, settings=settings, team=[world.bob, world.alice])
    registered = make_visit(db, world, now=now)  # at ent_a, not scanned yet
    cancelled = make_visit(db, world, now=now, status=VisitStatus.cancelled)
    elsewhere = _confirm(db, world, now=now, settings=settings, enterprise=world.ent_b)

    sign_in(en, "manager1")
    page = en.get("/enterprise")
    assert page.status_code == 200
    text = page.text
    assert "Alpha Chemicals" in text
    assert f"/enterprise/visits/{older}" in text
    assert f"/enterprise/visits/{newer}" in text
    assert text.index(newer) < text.index(older)  # newest first
    assert "Example County Bureau" in text
    assert "Bob Wang" in text
    assert "AQ-001" in text
    for hidden in (registered.public_id, cancelled.public_id, elsewhere):
        assert hidden not in text
    assert 'name="c"' in text  # the box to type the short code
    assert 'href="/reports/new"' in text


def test_a_confirmed_visit_opens_only_for_its_own_enterprise(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    own = _confirm(db, world, now=now, settings=settings)
    registered = make_visit(db, world, now=now)
    elsewhere = _confirm(db, world, now=now, settings=settings, enterprise=world.ent_b)
    sign_in(en, "manager1")
    page = en.get(f"/enterprise/visits/{own}")
    assert page.status_code == 200
    assert "Alice Li" in page.text
    assert "Work Safety Law" in page.text
    for path in (registered.public_id, elsewhere, "no-such-visit"):
        assert en.get(f"/enterprise/visits/{path}").status_code == 404


def test_the_api_lists_only_confirmed_visits_of_the_managers_enterprise(
    client: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    own = _confirm(db, world, now=now, settings=settings)
    registered = make_visit(db, world, now=now)
    elsewhere = _confirm(db, world, now=now, settings=settings, enterprise=world.ent_b)
    response = client.get("/api/v1/enterprise/visits", headers=api_token(client, "manager1"))
    assert response.status_code == 200
    body = response.json()
    assert [v["public_id"] for v in body] == [own]
    [visit] = body
    assert visit["status"] == "confirmed"
    assert visit["enterprise_name"] == "Alpha Chemicals"
    assert [i["name"] for i in visit["inspectors"]] == ["Alice Li", "Bob Wang"]
    assert visit["inspectors"][0]["photo_url"].startswith("data:image/png;base64,")
    assert [i["code"] for i in visit["items"]] == ["AQ-001", "AQ-002"]
    assert registered.public_id not in response.text
    assert elsewhere not in response.text


@pytest.mark.parametrize("who", ["inspector1", "supervisor1", "admin"])
def test_only_managers_have_an_enterprise_home(
    client: TestClient, db: Session, world: World, who: str
) -> None:
    response = client.get("/api/v1/enterprise/visits", headers=api_token(client, who))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    with pytest.raises(DomainError):
        service.manager_home(db, actor=getattr(world, _ACCOUNTS[who]))


def test_page_home_for_a_non_manager_is_forbidden(
    en: TestClient, db: Session, world: World
) -> None:
    sign_in(en, "supervisor1")
    assert en.get("/enterprise").status_code == 403
    assert en.get("/reports/new").status_code == 403


def test_home_needs_sign_in(en: TestClient, world: World) -> None:
    response = en.get("/enterprise", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
