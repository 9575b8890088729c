"""The inspection item list: read by all, written by the admin, codes unique."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, api_token, make_item
from webapp.audit.models import AuditEvent
from webapp.errors import DomainError
from webapp.items import service
from webapp.items.models import InspectionItem


def _count(db: Session) -> tuple[int, int]:
    db.rollback()
    return (
        db.scalar(select(func.count()).select_from(InspectionItem)) or 0,
        db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


def test_list_items_by_code(db: Session, world: World, now: datetime) -> None:
    make_item(db, now=now, code="AA-000")
    db.commit()
    assert [i.code for i in service.list_items(db)] == [
        "AA-000",
        "AQ-001",
        "AQ-002",
        "AQ-003",
        "AQ-004",
    ]


def test_items_by_ids_keeps_order_and_names_unknown(db: Session, world: World) -> None:
    ids = [world.items[2].id, world.items[0].id, world.items[2].id, 999_999]
    found, unknown = service.items_by_ids(db, ids)
    assert [i.code for i in found] == ["AQ-003", "AQ-001"]
    assert unknown == [999_999]
    assert service.items_by_ids(db, []) == ([], [])


def test_admin_creates_an_item(db: Session, world: World, now: datetime) -> None:
    item = service.create_item(
        db,
        actor=world.admin,
        code=" aq-101 ",
        title="Hazardous chemicals storage",
        legal_basis="Regulations on the Safe Management of Hazardous Chemicals, Art. 24",
        description="Storage, separation distances, labels",
        max_per_year=4,
        now=now,
    )
    assert item.code == "AQ-101"
    assert item.max_per_year == 4
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "item.created"))
    assert event is not None
    assert event.object_id == str(item.id)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": ""}, "code"),
        ({"code": "AQ-001"}, "code"),
        ({"code": "aq-001"}, "code"),
        ({"code": "X" * 33}, "code"),
        ({"title": " "}, "title"),
        ({"legal_basis": ""}, "legal_basis"),
        ({"max_per_year": 0}, "max_per_year"),
    ],
)
def test_bad_items_are_refused(
    db: Session, world: World, now: datetime, changes: dict[str, object], field: str
) -> None:
    fields: dict[str, object] = {
        "code": "AQ-200",
        "title": "Fire safety",
        "legal_basis": "Fire Protection Law, Art. 16",
        "description": "",
        "max_per_year": None,
    }
    fields.update(changes)
    before = _count(db)
    with pytest.raises(DomainError) as caught:
        service.create_item(db, actor=world.admin, now=now, **fields)  # type: ignore[arg-type]
    assert caught.value.code == "validation_error"
    assert field in {e.field for e in caught.value.errors}
    assert _count(db) == before


@pytest.mark.parametrize("who", ["inspector1", "supervisor", "manager_a"])
def test_only_the_admin_creates_items(db: Session, world: World, now: datetime, who: str) -> None:
    with pytest.raises(DomainError) as caught:
        service.create_item(
            db,
            actor=getattr(world, who),
            code="AQ-300",
            title="t",
            legal_basis="b",
            description="",
            max_per_year=None,
            now=now,
        )
    assert caught.value.code == "forbidden"


def test_items_api(client: TestClient, world: World) -> None:
    response = client.get("/api/v1/items", headers=api_token(client, "inspector1"))
    assert response.status_code == 200
    body = response.json()
    assert [i["code"] for i in body] == ["AQ-001", "AQ-002", "AQ-003", "AQ-004"]
    assert set(body[0]) == {"id", "code", "title", "legal_basis", "description", "max_per_year"}
    assert client.get("/api/v1/items").status_code == 401
