"""Plans and plan entries: who reads which, and the admin's checks when writing them."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, api_token, make_enterprise, make_plan_entry
from webapp.audit.models import AuditEvent
from webapp.enums import PlanKind
from webapp.errors import DomainError
from webapp.plans import service
from webapp.plans.models import Plan, PlanEntry


def _count(db: Session) -> tuple[int, int, int]:
    db.rollback()
    return (
        db.scalar(select(func.count()).select_from(Plan)) or 0,
        db.scalar(select(func.count()).select_from(PlanEntry)) or 0,
        db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


@pytest.fixture
def town_entry(db: Session, world: World, now: datetime) -> PlanEntry:
    ent = make_enterprise(db, agency=world.town, now=now, name="Town Bakery")
    entry = make_plan_entry(
        db, agency=world.town, enterprise=ent, items=world.items[:1], month=world.month, now=now
    )
    db.commit()
    return entry


@pytest.fixture
def other_entry(db: Session, world: World, now: datetime) -> PlanEntry:
    entry = make_plan_entry(
        db,
        agency=world.other_county,
        enterprise=world.ent_a,
        items=world.items[:1],
        month=world.month,
        now=now,
    )
    db.commit()
    return entry


# --- reading ------------------------------------------------------------------------------


def test_each_role_sees_the_plan_entries_of_its_agencies(
    db: Session, world: World, town_entry: PlanEntry, other_entry: PlanEntry
) -> None:
    def ids(actor_name: str) -> set[int]:
        actor = getattr(world, actor_name)
        return {e.id for e in service.plan_entries_for(db, actor=actor, month=world.month)}

    county = {world.entry_a.id, world.entry_b.id}
    assert ids("inspector1") == county
    assert ids("supervisor") == county | {town_entry.id}
    assert ids("inspector_other") == {other_entry.id}
    assert ids("supervisor_other") == {other_entry.id}
    assert ids("admin") == county | {town_entry.id, other_entry.id}
    assert service.plan_entries_for(db, actor=world.inspector1, month="2026-12") == []


def test_plan_entries_are_hidden_from_managers(db: Session, world: World) -> None:
    with pytest.raises(DomainError) as caught:
        service.plan_entries_for(db, actor=world.manager_a, month=world.month)
    assert caught.value.code == "forbidden"
    with pytest.raises(DomainError):
        service.list_plans(db, actor=world.manager_a)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "26-11", "2026/11", "", "1999-01"])
def test_month_must_be_yyyy_mm(db: Session, world: World, month: str) -> None:
    with pytest.raises(DomainError) as caught:
        service.plan_entries_for(db, actor=world.inspector1, month=month)
    assert caught.value.code == "validation_error"
    assert caught.value.errors[0].field == "month"
    assert "YYYY-MM" in caught.value.errors[0].message


def test_get_plan_entry_respects_scope(db: Session, world: World, other_entry: PlanEntry) -> None:
    assert service.get_plan_entry(db, actor=world.inspector1, entry_id=world.entry_a.id).id == (
        world.entry_a.id
    )
    with pytest.raises(DomainError) as caught:
        service.get_plan_entry(db, actor=world.inspector1, entry_id=other_entry.id)
    assert caught.value.code == "not_found"


def test_list_plans(
    db: Session, world: World, town_entry: PlanEntry, other_entry: PlanEntry
) -> None:
    county = {p.agency_id for p in service.list_plans(db, actor=world.inspector1)}
    assert county == {world.county.id}
    above = {p.agency_id for p in service.list_plans(db, actor=world.supervisor)}
    assert above == {world.county.id, world.town.id}
    assert len(service.list_plans(db, actor=world.admin)) == 3


def test_plan_entries_api(client: TestClient, world: World, other_entry: PlanEntry) -> None:
    response = client.get(
        "/api/v1/plan-entries",
        params={"month": world.month},
        headers=api_token(client, "inspector1"),
    )
    assert response.status_code == 200
    body = response.json()
    assert [e["enterprise"]["name"] for e in body] == ["Alpha Chemicals", "Beta Machinery"]
    assert [i["code"] for i in body[0]["items"]] == ["AQ-001", "AQ-002"]
    assert body[0]["month"] == world.month
    bad = client.get(
        "/api/v1/plan-entries",
        params={"month": "2026-13"},
        headers=api_token(client, "inspector1"),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "month"
    manager = client.get(
        "/api/v1/plan-entries",
        params={"month": world.month},
        headers=api_token(client, "manager1"),
    )
    assert manager.status_code == 403
    plans = client.get("/api/v1/plans", headers=api_token(client, "inspector9")).json()
    assert [p["agency_id"] for p in plans] == [world.other_county.id]


# --- writing ------------------------------------------------------------------------------


def test_admin_creates_annual_and_monthly_plans_and_entries(
    db: Session, world: World, now: datetime
) -> None:
    annual = service.create_plan(
        db,
        actor=world.admin,
        agency_id=world.county.id,
        kind=PlanKind.annual,
        year=2027,
        month=None,
        title="2027 annual plan",
        now=now,
    )
    monthly = service.create_plan(
        db,
        actor=world.admin,
        agency_id=world.county.id,
        kind=PlanKind.monthly,
        year=2027,
        month=1,
        title="2027-01 monthly plan",
        now=now,
    )
    entry = service.add_plan_entry(
        db,
        actor=world.admin,
        plan_id=monthly.id,
        enterprise_id=world.ent_b.id,
        month="2027-01",
        item_ids=[world.items[3].id, world.items[0].id],
        note=" first ",
        now=now,
    )
    assert entry.agency_id == world.county.id
    assert [i.code for i in entry.items] == ["AQ-001", "AQ-004"]
    assert entry.note == "first"
    in_annual = service.add_plan_entry(
        db,
        actor=world.admin,
        plan_id=annual.id,
        enterprise_id=world.ent_a.id,
        month="2027-06",
        item_ids=[world.items[0].id],
        note="",
        now=now,
    )
    assert in_annual.month == "2027-06"
    actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["plan.created", "plan.created", "plan_entry.added", "plan_entry.added"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": PlanKind.annual, "month": 3}, "month"),
        ({"kind": PlanKind.monthly, "month": None}, "month"),
        ({"kind": PlanKind.monthly, "month": 13}, "month"),
        ({"year": 1990}, "year"),
        ({"title": " "}, "title"),
        ({"agency_id": 999_999}, "agency_id"),
        ({"year": 2026, "month": 11}, "kind"),  # the world already has this plan
    ],
)
def test_bad_plans_are_refused(
    db: Session, world: World, now: datetime, changes: dict[str, object], field: str
) -> None:
    fields: dict[str, object] = {
        "agency_id": world.county.id,
        "kind": PlanKind.monthly,
        "year": 2027,
        "month": 2,
        "title": "Plan",
    }
    fields.update(changes)
    before = _count(db)
    with pytest.raises(DomainError) as caught:
        service.create_plan(db, actor=world.admin, now=now, **fields)  # type: ignore[arg-type]
    assert caught.value.code == "validation_error"
    assert field in {e.field for e in caught.value.errors}
    assert _count(db) == before


def test_second_annual_plan_is_refused(db: Session, world: World, now: datetime) -> None:
    args = {
        "agency_id": world.county.id,
        "kind": PlanKind.annual,
        "year": 2027,
        "month": None,
        "title": "2027",
    }
    service.create_plan(db, actor=world.admin, now=now, **args)  # type: ignore[arg-type]
    with pytest.raises(DomainError) as caught:
        service.create_plan(db, actor=world.admin, now=now, **args)  # type: ignore[arg-type]
    assert caught.value.errors[0].field == "kind"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"month": "2026-12"}, "month"),  # outside the monthly plan
        ({"month": "2026-1"}, "month"),
        ({"enterprise_id": 999_999}, "enterprise_id"),
        ({"enterprise_id": "ent_a"}, "enterprise_id"),  # already in this plan for the month
        ({"item_ids": []}, "item_ids"),
        ({"item_ids": [999_999]}, "item_ids"),
        ({"note": "x" * 301}, "note"),
    ],
)
def test_bad_plan_entries_are_refused(
    db: Session, world: World, now: datetime, changes: dict[str, object], field: str
) -> None:
    fields: dict[str, object] = {
        "plan_id": world.entry_a.plan_id,
        "enterprise_id": make_enterprise(db, agency=world.county, now=now).id,
        "month": world.month,
        "item_ids": [world.items[0].id],
        "note": "",
    }
    db.commit()
    if changes.get("enterprise_id") == "ent_a":
        changes = {"enterprise_id": world.ent_a.id}
    fields.update(changes)
    before = _count(db)
    with pytest.raises(DomainError) as caught:
        service.add_plan_entry(db, actor=world.admin, now=now, **fields)  # type: ignore[arg-type]
    assert caught.value.code == "validation_error"
    assert field in {e.field for e in caught.value.errors}
    assert _count(db) == before


def test_entry_outside_an_annual_plans_year_is_refused(
    db: Session, world: World, now: datetime
) -> None:
    annual = service.create_plan(
        db,
        actor=world.admin,
        agency_id=world.county.id,
        kind=PlanKind.annual,
        year=2027,
        month=None,
        title="2027",
        now=now,
    )
    with pytest.raises(DomainError) as caught:
        service.add_plan_entry(
            db,
            actor=world.admin,
            plan_id=annual.id,
            enterprise_id=world.ent_a.id,
            month="2028-01",
            item_ids=[world.items[0].id],
            note="",
            now=now,
        )
    assert caught.value.errors[0].field == "month"
    assert caught.value.errors[0].params == {"year": 2027, "month": "2028-01"}


def test_entry_for_an_unknown_plan(db: Session, world: World, now: datetime) -> None:
    with pytest.raises(DomainError) as caught:
        service.add_plan_entry(
            db,
            actor=world.admin,
            plan_id=999_999,
            enterprise_id=world.ent_a.id,
            month=world.month,
            item_ids=[world.items[0].id],
            note="",
            now=now,
        )
    assert caught.value.code == "not_found"


@pytest.mark.parametrize("who", ["inspector1", "supervisor", "manager_a"])
def test_only_the_admin_writes_plans(db: Session, world: World, now: datetime, who: str) -> None:
    actor = getattr(world, who)
    with pytest.raises(DomainError) as caught:
        service.create_plan(
            db,
            actor=actor,
            agency_id=world.county.id,
            kind=PlanKind.annual,
            year=2027,
            month=None,
            title="x",
            now=now,
        )
    assert caught.value.code == "forbidden"
    with pytest.raises(DomainError) as caught:
        service.add_plan_entry(
            db,
            actor=actor,
            plan_id=world.entry_a.plan_id,
            enterprise_id=world.ent_a.id,
            month=world.month,
            item_ids=[world.items[0].id],
            note="",
            now=now,
        )
    assert caught.value.code == "forbidden"


def test_parse_month() -> None:
    assert service.parse_month("2026-11") == (2026, 11)
    assert service.parse_month(" 2026-01 ") == (2026, 1)
    assert service.parse_month("2026-00") is None
    assert service.parse_month("2101-01") is None
