"""Enterprises: search by name or credit code, creation by the admin with a checked code."""

from __future__ import annotations

import random
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, api_token, make_enterprise
from webapp.audit.models import AuditEvent
from webapp.enterprises import service, uscc
from webapp.enterprises.models import Enterprise
from webapp.enums import EnterpriseClass
from webapp.errors import DomainError


def _count(db: Session) -> tuple[int, int]:
    db.rollback()
    return (
        db.scalar(select(func.count()).select_from(Enterprise)) or 0,
        db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


# --- search -------------------------------------------------------------------------------


def test_search_by_name_part_ignores_case(db: Session, world: World) -> None:
    found = service.search_enterprises(db, actor=world.inspector1, q="CHEMIC")
    assert [e.name for e in found] == ["Alpha Chemicals"]


def test_search_by_credit_code_prefix_after_normalising(db: Session, world: World) -> None:
    code = world.ent_b.uscc
    spaced = f" {code[:4].lower()} {code[4:8]}-{code[8:10]} "
    assert [e.id for e in service.search_enterprises(db, actor=world.inspector1, q=spaced)] == [
        world.ent_b.id
    ]
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code[:12])  # ９１３２... as typed in Chinese
    assert [e.id for e in service.search_enterprises(db, actor=world.supervisor, q=full_width)] == [
        world.ent_b.id
    ]


def test_search_wildcards_are_literal_and_empty_finds_nothing(db: Session, world: World) -> None:
    assert service.search_enterprises(db, actor=world.admin, q="%") == []
    assert service.search_enterprises(db, actor=world.admin, q="_") == []
    assert service.search_enterprises(db, actor=world.admin, q="   ") == []


def test_search_limit(db: Session, world: World, now: datetime) -> None:
    for n in range(30):
        make_enterprise(db, agency=world.county, now=now, name=f"Gamma Works {n:02d}")
    db.commit()
    assert len(service.search_enterprises(db, actor=world.inspector1, q="Gamma")) == 20
    assert len(service.search_enterprises(db, actor=world.inspector1, q="Gamma", limit=5)) == 5
    assert len(service.search_enterprises(db, actor=world.inspector1, q="Gamma", limit=500)) == 30


def test_managers_cannot_search(db: Session, world: World) -> None:
    with pytest.raises(DomainError) as caught:
        service.search_enterprises(db, actor=world.manager_a, q="Alpha")
    assert caught.value.code == "forbidden"


def test_search_api(client: TestClient, world: World) -> None:
    headers = api_token(client, "inspector1")
    response = client.get("/api/v1/enterprises", params={"q": "beta"}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert [e["name"] for e in body] == ["Beta Machinery"]
    assert body[0]["uscc"] == world.ent_b.uscc
    assert body[0]["enterprise_class"] == "other"
    by_code = client.get(
        "/api/v1/enterprises", params={"q": world.ent_a.uscc[:6]}, headers=headers
    ).json()
    assert world.ent_a.id in {e["id"] for e in by_code}


def test_search_api_refuses_managers(client: TestClient, world: World) -> None:
    response = client.get(
        "/api/v1/enterprises", params={"q": "Alpha"}, headers=api_token(client, "manager1")
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "forbidden"


def test_search_api_needs_a_token(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/enterprises", params={"q": "Alpha"}).status_code == 401


# --- create -------------------------------------------------------------------------------

_rng = random.Random(7)


def _create(db: Session, world: World, now: datetime, **changes: object) -> Enterprise:
    fields: dict[str, object] = {
        "name": "Delta Steel Co., Ltd.",
        "uscc": uscc.generate(_rng),
        "address": "1 Furnace Road",
        "industry": "metallurgy",
        "enterprise_class": EnterpriseClass.hazchem_metallurgy,
        "risk_grade": "1",
        "agency_id": world.county.id,
    }
    fields.update(changes)
    actor = fields.pop("actor", world.admin)
    return service.create_enterprise(db, actor=actor, now=now, **fields)  # type: ignore[arg-type]


def test_admin_creates_an_enterprise(db: Session, world: World, now: datetime) -> None:
    code = uscc.generate(_rng)
    spaced = f"{code[:6]} {code[6:12]}-{code[12:]}".lower()
    enterprise = _create(db, world, now, uscc=spaced, name="  Delta Steel  ")
    assert enterprise.uscc == code
    assert enterprise.name == "Delta Steel"
    assert enterprise.created_at == now
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "enterprise.created"))
    assert event is not None
    assert event.object_id == str(enterprise.id)
    assert code in event.data


def test_coal_mine_grades(db: Session, world: World, now: datetime) -> None:
    mine = _create(db, world, now, enterprise_class=EnterpriseClass.coal_mine, risk_grade="b")
    assert mine.risk_grade == "B"
    other = _create(db, world, now, enterprise_class=EnterpriseClass.other, risk_grade="None")
    assert other.risk_grade == "none"


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"uscc": "91320581MA1X2Y3Z4"}, "uscc", "18 characters"),
        ({"uscc": "91320581MA1X2Y3ZO0"}, "uscc", "cannot appear"),
        ({"uscc": "913205816Y6LCUXA7A"}, "uscc", "check character"),
        ({"name": " "}, "name", "registered name"),
        ({"enterprise_class": EnterpriseClass.coal_mine, "risk_grade": "2"}, "risk_grade", "A, B"),
        ({"enterprise_class": EnterpriseClass.other, "risk_grade": "A"}, "risk_grade", "1, 2, 3"),
        ({"agency_id": 999_999}, "agency_id", "No agency"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_nothing_written(
    db: Session, world: World, now: datetime, changes: dict[str, object], field: str, text: str
) -> None:
    before = _count(db)
    with pytest.raises(DomainError) as caught:
        _create(db, world, now, **changes)
    assert caught.value.code == "validation_error"
    errors = {e.field: e for e in caught.value.errors}
    assert field in errors
    error = errors[field]
    assert text in (error.message % error.params if error.params else error.message)
    assert _count(db) == before


def test_bad_check_character_names_the_right_one(db: Session, world: World, now: datetime) -> None:
    code = world.ent_a.uscc
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    with pytest.raises(DomainError) as caught:
        _create(db, world, now, uscc=wrong)
    error = caught.value.errors[0]
    assert error.field == "uscc"
    assert error.params == {"expected": code[17], "given": wrong[17]}


def test_duplicate_credit_code_is_refused(db: Session, world: World, now: datetime) -> None:
    before = _count(db)
    with pytest.raises(DomainError) as caught:
        _create(db, world, now, uscc=world.ent_a.uscc.lower())
    error = caught.value.errors[0]
    assert error.field == "uscc"
    assert "already exists" in error.message
    assert error.params["name"] == "Alpha Chemicals"
    assert _count(db) == before


@pytest.mark.parametrize("who", ["inspector1", "supervisor", "manager_a"])
def test_only_the_admin_creates(db: Session, world: World, now: datetime, who: str) -> None:
    with pytest.raises(DomainError) as caught:
        _create(db, world, now, actor=getattr(world, who))
    assert caught.value.code == "forbidden"
