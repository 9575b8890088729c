"""join_visit: another agency joins a registered visit (a joint visit, 联合执法): its
inspectors and items are added; every refusal has its stable code; the card, the scan page,
the join page and the API show one visit with each agency's part."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.checkin.helpers import url_of
from tests.factories import World, api_token, csrf_from, login, make_inspector
from tests.visits.helpers import count, fresh, planned, written
from webapp.agencies.models import Inspector
from webapp.audit.models import AuditEvent
from webapp.audit.service import verify_chain
from webapp.clock import FixedClock
from webapp.config import get_settings
from webapp.enums import VisitStatus
from webapp.errors import DomainError
from webapp.visits import service
from webapp.visits.models import Visit, VisitInspector, visit_items


@pytest.fixture
def erin(db: Session, world: World, now: datetime) -> Inspector:
    """Dave's colleague at Other County Bureau."""
    inspector = make_inspector(db, agency=world.other_county, name="Erin Zhou", now=now)
    db.commit()
    return inspector


@pytest.fixture
def county_visit(db: Session, world: World, now: datetime) -> Visit:
    """The county's registered visit at Alpha Chemicals in an hour (Alice and Bob)."""
    return service.register_visit(
        db, actor=world.inspector1, data=planned(world, now), now=now, settings=get_settings()
    )


def _join(
    db: Session,
    world: World,
    visit: Visit,
    *,
    now: datetime,
    inspector_ids: list[int],
    item_ids: list[int] | None = None,
    actor: str = "inspector_other",
    key: str | None = None,
) -> Visit:
    return service.join_visit(
        db,
        actor=getattr(world, actor),
        public_id=visit.public_id,
        inspector_ids=inspector_ids,
        item_ids=item_ids if item_ids is not None else [world.items[3].id],
        now=now,
        idempotency_key=key,
    )


def _code(exc: pytest.ExceptionInfo[DomainError]) -> str:
    return exc.value.code


def test_another_agency_joins_with_its_inspectors_and_items(
    db: Session, world: World, now: datetime, erin: Inspector, county_visit: Visit
) -> None:
    joined = _join(db, world, county_visit, now=now, inspector_ids=[erin.id])
    fresh(db)
    team = list(
        db.scalars(
            select(VisitInspector)
            .where(VisitInspector.visit_id == county_visit.id)
            .order_by(VisitInspector.position)
        )
    )
    assert [(m.inspector_id, m.position, m.added_at) for m in team] == [
        (world.alice.id, 0, None),
        (world.bob.id, 1, None),
        (world.dave_other.id, 2, now),
        (erin.id, 3, now),
    ]
    covering = {
        item_id: agency_id
        for item_id, agency_id in db.execute(
            select(visit_items.c.item_id, visit_items.c.agency_id).where(
                visit_items.c.visit_id == county_visit.id
            )
        )
    }
    assert covering == {
        world.items[0].id: None,  # the county's own (registered with the visit)
        world.items[1].id: None,
        world.items[3].id: world.other_county.id,
    }
    assert joined.public_id == county_visit.public_id
    assert count(db, Visit) == 1  # still one visit: it counts once for the enterprise
    [event] = db.scalars(select(AuditEvent).where(AuditEvent.action == "visit.joined"))
    assert event.visit_id == county_visit.id
    assert verify_chain(db).ok

    card = service.visit_card(joined, now=now)
    assert card.is_joint
    assert [(g.agency_name, g.host) for g in card.groups] == [
        ("Example County Bureau", True),
        ("Other County Bureau", False),
    ]
    guest = card.groups[1]
    assert [m.name for m in guest.members] == ["Dave Chen", "Erin Zhou"]
    assert [i.code for i in guest.items] == ["AQ-004"]
    assert [i.code for i in card.groups[0].items] == ["AQ-001", "AQ-002"]


def test_the_joining_agency_sees_the_visit_and_its_inspectors_show_the_pass(
    db: Session, world: World, now: datetime, erin: Inspector, county_visit: Visit
) -> None:
    with pytest.raises(DomainError):
        service.get_visit(db, actor=world.inspector_other, public_id=county_visit.public_id)
    _join(db, world, county_visit, now=now, inspector_ids=[erin.id])
    visit = service.get_visit(db, actor=world.inspector_other, public_id=county_visit.public_id)
    assert service.is_team_member(visit, world.inspector_other)
    assert service.get_visit(db, actor=world.supervisor_other, public_id=visit.public_id)
    current = service.live_pass(
        db,
        actor=world.inspector_other,
        public_id=visit.public_id,
        now=now,
        settings=get_settings(),
    )
    assert current.url


@pytest.mark.parametrize(
    ("status", "code"),
    [(VisitStatus.cancelled, "visit_cancelled"), (VisitStatus.confirmed, "already_confirmed")],
)
def test_a_cancelled_or_confirmed_visit_cannot_be_joined(
    db: Session,
    world: World,
    now: datetime,
    erin: Inspector,
    county_visit: Visit,
    status: VisitStatus,
    code: str,
) -> None:
    county_visit.status = status
    db.commit()
    before = written(db)
    with pytest.raises(DomainError) as exc:
        _join(db, world, county_visit, now=now, inspector_ids=[erin.id])
    assert (_code(exc), exc.value.status) == (code, 409)
    db.rollback()
    assert written(db) == before


def test_a_visit_whose_window_is_over_cannot_be_joined(
    db: Session, world: World, now: datetime, erin: Inspector, county_visit: Visit
) -> None:
    later = county_visit.window_end + timedelta(minutes=1)
    with pytest.raises(DomainError) as exc:
        _join(db, world, county_visit, now=later, inspector_ids=[erin.id])
    assert _code(exc) == "window_over"


def test_the_own_agencys_visit_is_not_joined(
    db: Session, world: World, now: datetime, county_visit: Visit
) -> None:
    with pytest.raises(DomainError) as exc:
        _join(db, world, county_visit, now=now, actor="inspector2", inspector_ids=[])
    assert _code(exc) == "own_agency_visit"


def test_an_inspector_already_on_the_visit_is_refused(
    db: Session, world: World, now: datetime, erin: Inspector, county_visit: Visit
) -> None:
    _join(db, world, county_visit, now=now, inspector_ids=[erin.id])
    frank = make_inspector(db, agency=world.other_county, name="Frank Wu", now=now)
    db.commit()
    with pytest.raises(DomainError) as exc:
        _join(
            db,
            world,
            county_visit,
            now=now,
            inspector_ids=[frank.id],
            item_ids=[world.items[2].id],
        )
    assert (_code(exc), exc.value.status) == ("already_on_visit", 409)
    assert exc.value.params == {"names": "Dave Chen"}


def test_a_joining_inspector_without_a_valid_credential_is_refused(
    db: Session, world: World, now: datetime, county_visit: Visit
) -> None:
    expired = make_inspector(
        db,
        agency=world.other_county,
        name="Gina Expired",
        now=now,
        valid_until=now.date() - timedelta(days=1),
    )
    db.commit()
    before = written(db)
    with pytest.raises(DomainError) as exc:
        _join(db, world, county_visit, now=now, inspector_ids=[expired.id])
    assert (_code(exc), exc.value.status) == ("credential_not_valid", 422)
    assert "Gina Expired" in exc.value.params["names"]
    db.rollback()
    assert written(db) == before


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("alone", "inspector_ids"),
        ("stranger", "inspector_ids"),
        ("no_items", "item_ids"),
        ("unknown_item", "item_ids"),
        ("item_taken", "item_ids"),
    ],
)
def test_bad_join_input_is_a_validation_error(
    db: Session,
    world: World,
    now: datetime,
    erin: Inspector,
    county_visit: Visit,
    case: str,
    field: str,
) -> None:
    inspectors = {"alone": [], "stranger": [erin.id, world.bob.id]}.get(case, [erin.id])
    items = {
        "no_items": [],
        "unknown_item": [999999],
        "item_taken": [world.items[0].id],
    }.get(case, [world.items[3].id])
    with pytest.raises(DomainError) as exc:
        _join(db, world, county_visit, now=now, inspector_ids=inspectors, item_ids=items)
    assert exc.value.code == "validation_error"
    assert field in {e.field for e in exc.value.errors}


def test_a_retried_join_with_its_key_writes_nothing_twice(
    db: Session, world: World, now: datetime, erin: Inspector, county_visit: Visit
) -> None:
    _join(db, world, county_visit, now=now, inspector_ids=[erin.id], key="join-key-0001")
    before = written(db)
    again = _join(db, world, county_visit, now=now, inspector_ids=[erin.id], key="join-key-0001")
    assert again.public_id == county_visit.public_id
    assert written(db) == before
    with pytest.raises(DomainError) as exc:
        _join(
            db,
            world,
            county_visit,
            now=now,
            inspector_ids=[erin.id],
            item_ids=[world.items[2].id],
            key="join-key-0001",
        )
    assert exc.value.code == "idempotency_key_reused"


def test_a_joint_visit_counts_once_for_the_enterprise(
    db: Session, world: World, now: datetime, erin: Inspector, county_visit: Visit
) -> None:
    """After the other agency joined, the joint visit is one visit at the enterprise (for
    the cap and the merge rule), and it serves the other agency's plan entry this month."""
    from tests.factories import make_plan_entry, make_user
    from webapp.enums import Role

    make_plan_entry(
        db,
        agency=world.other_county,
        enterprise=world.ent_a,
        items=[world.items[3]],
        month=world.month,
        now=now,
    )
    hank = make_inspector(db, agency=world.county, name="Hank Ma", now=now)
    hank_user = make_user(db, role=Role.inspector, inspector=hank, now=now)
    db.commit()
    _join(db, world, county_visit, now=now, inspector_ids=[erin.id])
    data = planned(
        world, now, co_inspector_ids=[world.carol_expired.id], window_start=now + timedelta(days=2)
    )
    check = service.check_registration(db, actor=hank_user, data=data, now=now)
    [merge] = [f for f in check.findings if f.rule == "merge.candidate"]
    assert merge.params["planned"] == ""  # the other county's entry is served by the joint visit
    assert [o["public_id"] for o in merge.params["others"]] == [county_visit.public_id]
    [note] = check.notes
    assert note.params["count"] == 2  # the joint visit once, plus this one


# --- pages and API ----------------------------------------------------------------------------


def test_the_join_page_and_form(
    client: TestClient,
    db: Session,
    world: World,
    now: datetime,
    erin: Inspector,
    county_visit: Visit,
) -> None:
    client.headers["Accept-Language"] = "en"
    login(client, "inspector9")  # Dave, of Other County Bureau
    page = client.get(f"/visits/{county_visit.public_id}/join?item_ids={world.items[3].id}")
    assert page.status_code == 200
    html = page.text
    assert "Join this visit" in html
    assert "Alice Li" in html  # who is on it already
    assert "Erin Zhou" in html  # whom Dave can bring
    assert f'value="{world.items[3].id}" checked' in html  # preselected from the registration
    assert f'name="item_ids" value="{world.items[0].id}"' not in html  # already on the visit

    # Alone: refused on the form, nothing written.
    before = written(db)
    form = {
        "csrf_token": csrf_from(html),
        "idempotency_key": "join-page-1",
        "item_ids": [str(world.items[3].id)],
    }
    refused = client.post(f"/visits/{county_visit.public_id}/join", data=form)
    assert refused.status_code == 422
    assert "add a co-inspector" in refused.text
    assert written(db) == before

    done = client.post(
        f"/visits/{county_visit.public_id}/join",
        data={**form, "inspector_ids": [str(erin.id)]},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/visits/{county_visit.public_id}"
    card = client.get(done.headers["location"])
    assert "Joint visit: inspectors and items per agency" in card.text
    assert "Items checked by Other County Bureau" in card.text
    assert 'id="pass"' in card.text


def test_a_refused_join_page_says_why(
    client: TestClient, db: Session, world: World, now: datetime, county_visit: Visit
) -> None:
    client.headers["Accept-Language"] = "en"
    county_visit.status = VisitStatus.cancelled
    db.commit()
    login(client, "inspector9")
    page = client.get(f"/visits/{county_visit.public_id}/join")
    assert page.status_code == 409
    assert "cancelled" in page.text


def test_the_scan_page_shows_each_agencys_part(
    client: TestClient,
    db: Session,
    world: World,
    now: datetime,
    clock: FixedClock,
    erin: Inspector,
    county_visit: Visit,
) -> None:
    client.headers["Accept-Language"] = "en"
    _join(db, world, county_visit, now=now, inspector_ids=[erin.id])
    clock.advance(hours=1, minutes=5)
    login(client, "manager1")
    url = url_of(county_visit, now=clock.now(), settings=get_settings())
    page = client.get(url.removeprefix("https://testserver"))
    assert page.status_code == 200
    assert "Joint visit of 2 agencies" in page.text
    assert "Items checked by Other County Bureau" in page.text
    assert "Erin Zhou" in page.text


def test_the_api_joins(
    client: TestClient,
    db: Session,
    world: World,
    now: datetime,
    erin: Inspector,
    county_visit: Visit,
) -> None:
    headers = api_token(client, "inspector9")
    response = client.post(
        f"/api/v1/visits/{county_visit.public_id}/join",
        headers={**headers, "Idempotency-Key": "api-join-0001"},
        json={"inspector_ids": [erin.id], "item_ids": [world.items[3].id]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["joint"] is True
    assert [a["name"] for a in body["agencies"]] == ["Example County Bureau", "Other County Bureau"]
    dave = next(m for m in body["team"] if m["name"] == "Dave Chen")
    assert dave["agency_id"] == world.other_county.id
    assert dave["joined_at"] is not None
    assert {i["code"]: i["agency_id"] for i in body["items"]}["AQ-004"] == world.other_county.id

    refused = client.post(
        f"/api/v1/visits/{county_visit.public_id}/join",
        headers=headers,
        json={"inspector_ids": [erin.id], "item_ids": [world.items[2].id]},
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "already_on_visit"
