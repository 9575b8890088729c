"""Agencies, inspectors and credentials: validation, photos, audit, roles."""

from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from PIL import Image
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from tests.factories import World
from webapp.agencies import service
from webapp.agencies.models import Agency, Credential, Inspector
from webapp.audit.models import AuditEvent
from webapp.enums import AgencyLevel, CredentialStatus
from webapp.errors import DomainError


def _image(fmt: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (10, 120, 200, 255)[: len(mode)]).save(buf, format=fmt)
    return buf.getvalue()


def _fields(exc: pytest.ExceptionInfo[DomainError]) -> set[str]:
    return {e.field for e in exc.value.errors}


def _create_inspector(db: Session, world: World, now: datetime, **changes: object) -> Inspector:
    """Admin creates Fay (county) with credential JZ-NEW, valid on 2026-01-01, no photo."""
    fields: dict[str, object] = {
        "name": "Fay",
        "agency_id": world.county.id,
        "photo": None,
        "credential_number": "JZ-NEW",
        "issuing_agency_id": world.county.id,
        "valid_from": date(2026, 1, 1),
        "valid_until": date(2026, 1, 1),
        "status": CredentialStatus.valid,
    }
    fields.update(changes)
    return service.create_inspector(db, actor=world.admin, now=now, **fields)  # type: ignore[arg-type]


def _add_credential(db: Session, world: World, now: datetime, **changes: object) -> Credential:
    """Admin renews Carol's (expired) credential: JZ-RENEWED, 2026-11-01 to 2031-10-31."""
    fields: dict[str, object] = {
        "inspector_id": world.carol_expired.id,
        "number": "JZ-RENEWED",
        "issuing_agency_id": world.county.id,
        "valid_from": date(2026, 11, 1),
        "valid_until": date(2031, 10, 31),
        "status": CredentialStatus.valid,
    }
    fields.update(changes)
    return service.add_credential(db, actor=world.admin, now=now, **fields)  # type: ignore[arg-type]


# --- photos ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "size", "mode", "expected"),
    [
        ("PNG", (600, 960), "RGBA", (300, 480)),
        ("JPEG", (1200, 1600), "RGB", (360, 480)),
        ("JPEG", (200, 300), "RGB", (200, 300)),  # small photos are not enlarged
        ("PNG", (90, 120), "L", (90, 120)),
    ],
)
def test_photos_are_reencoded_as_small_jpegs(
    fmt: str, size: tuple[int, int], mode: str, expected: tuple[int, int]
) -> None:
    jpeg, problem = service.prepare_photo(_image(fmt, size, mode))
    assert problem is None
    assert jpeg is not None
    with Image.open(io.BytesIO(jpeg)) as out:
        assert out.format == "JPEG"
        assert out.size == expected
        assert out.mode == "RGB"


def test_photo_orientation_from_exif_is_applied() -> None:
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°: a landscape file that is a portrait photo
    Image.new("RGB", (800, 600)).save(buf, format="JPEG", exif=exif)
    jpeg, problem = service.prepare_photo(buf.getvalue())
    assert problem is None
    assert jpeg is not None
    with Image.open(io.BytesIO(jpeg)) as out:
        assert out.size == (360, 480)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a JPEG or PNG"),
        (b"GIF89a not really", "not a JPEG or PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not a JPEG or PNG"),  # a broken PNG
        (_image("GIF", (30, 40)), "this one is GIF"),
        (_image("BMP", (30, 40)), "this one is BMP"),
        (b"x" * (2 * 1024 * 1024 + 1), "larger than 2 MB"),
    ],
)
def test_bad_photos_are_refused_with_a_reason(data: bytes, message: str) -> None:
    jpeg, problem = service.prepare_photo(data)
    assert jpeg is None
    assert problem is not None
    assert problem.field == "photo"
    text = problem.message % problem.params if problem.params else problem.message
    assert message in text


def test_a_photo_of_huge_dimensions_is_refused_before_decoding() -> None:
    buf = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buf, format="PNG")  # tiny file, 48 megapixels
    assert len(buf.getvalue()) < 2 * 1024 * 1024
    jpeg, problem = service.prepare_photo(buf.getvalue())
    assert jpeg is None
    assert problem is not None
    assert "too large" in problem.message


# --- agencies --------------------------------------------------------------------------------


def test_create_agency_below_a_higher_one(db: Session, world: World, now: datetime) -> None:
    city = service.create_agency(
        db,
        actor=world.admin,
        name="Example City Bureau",
        code="CITY-1",
        level=AgencyLevel.city,
        parent_id=None,
        now=now,
    )
    county = service.create_agency(
        db,
        actor=world.admin,
        name="New County",
        code="CTY-9",
        level=AgencyLevel.county,
        parent_id=city.id,
        now=now,
    )
    assert county.parent_id == city.id
    event = db.scalar(
        select(AuditEvent)
        .where(AuditEvent.action == "agency.created")
        .order_by(AuditEvent.id.desc())
    )
    assert event is not None
    assert event.object_id == str(county.id)


def test_create_agency_refusals(db: Session, world: World, now: datetime) -> None:
    with pytest.raises(DomainError) as caught:
        service.create_agency(
            db, actor=world.admin, name=" ", code="bad code!", level=None, parent_id=9999, now=now
        )
    assert _fields(caught) == {"name", "code", "level", "parent_id"}
    with pytest.raises(DomainError) as caught:
        service.create_agency(
            db,
            actor=world.admin,
            name="Twin",
            code=world.county.code,
            level=AgencyLevel.county,
            parent_id=world.town.id,
            now=now,
        )
    assert _fields(caught) == {"code", "parent_id"}
    assert db.scalar(select(func.count(Agency.id)).where(Agency.name == "Twin")) == 0


@pytest.mark.parametrize("who", ["supervisor", "inspector1", "manager_a"])
def test_only_admins_write(db: Session, world: World, now: datetime, who: str) -> None:
    actor = getattr(world, who)
    with pytest.raises(DomainError) as caught:
        service.create_agency(
            db, actor=actor, name="X", code="X1", level=AgencyLevel.town, parent_id=None, now=now
        )
    assert caught.value.code == "forbidden"
    with pytest.raises(DomainError) as caught:
        service.set_credential_status(
            db,
            actor=actor,
            credential_id=world.alice.credentials[0].id,
            status=CredentialStatus.revoked,
            note="",
            now=now,
        )
    assert caught.value.code == "forbidden"


def test_agency_and_inspector_lists_follow_scope(db: Session, world: World) -> None:
    assert {a.id for a in service.list_agencies(db, actor=world.supervisor)} == {
        world.county.id,
        world.town.id,
    }
    assert len(service.list_agencies(db, actor=world.admin)) == 3
    names = {i.name for i in service.list_inspectors(db, actor=world.supervisor_other)}
    assert names == {"Dave Chen"}
    with pytest.raises(DomainError):
        service.list_inspectors(db, actor=world.manager_a)
    with pytest.raises(DomainError) as caught:
        service.get_inspector(db, actor=world.supervisor_other, inspector_id=world.alice.id)
    assert caught.value.code == "not_found"


# --- inspectors and credentials --------------------------------------------------------------


def test_create_inspector_all_or_nothing(db: Session, world: World, now: datetime) -> None:
    with pytest.raises(DomainError) as caught:
        _create_inspector(
            db,
            world,
            now,
            photo=b"not a photo",
            issuing_agency_id=None,
            valid_until=None,
            status=None,
        )
    assert _fields(caught) == {"photo", "issuing_agency_id", "valid_until", "status"}
    assert db.scalar(select(func.count(Inspector.id)).where(Inspector.name == "Fay")) == 0
    inspector = _create_inspector(db, world, now)
    assert inspector.photo is None
    assert [c.number for c in inspector.credentials] == ["JZ-NEW"]


def test_credential_status_change_is_audited(db: Session, world: World, now: datetime) -> None:
    credential = world.bob.credentials[0]
    changed = service.set_credential_status(
        db,
        actor=world.admin,
        credential_id=credential.id,
        status=CredentialStatus.revoked,
        note="Left the service",
        now=now,
    )
    assert changed.status == CredentialStatus.revoked
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "credential.status_changed"))
    assert event is not None
    assert event.object_id == str(credential.id)
    assert '"from":"valid"' in event.data
    assert '"to":"revoked"' in event.data
    with pytest.raises(DomainError) as caught:
        service.set_credential_status(
            db, actor=world.admin, credential_id=credential.id, status=None, note="", now=now
        )
    assert _fields(caught) == {"status"}
    with pytest.raises(DomainError) as caught:
        service.set_credential_status(
            db,
            actor=world.admin,
            credential_id=99999,
            status=CredentialStatus.valid,
            note="",
            now=now,
        )
    assert caught.value.code == "not_found"


def test_add_credential_checks_and_records(db: Session, world: World, now: datetime) -> None:
    credential = _add_credential(db, world, now)
    assert credential.inspector_id == world.carol_expired.id
    with pytest.raises(DomainError) as caught:
        _add_credential(db, world, now, valid_until=date(2026, 10, 31))
    assert _fields(caught) == {"number", "valid_until"}
    assert (
        db.scalar(select(func.count(Credential.id)).where(Credential.number == "JZ-RENEWED")) == 1
    )
    events = db.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == str(credential.id))
    ).all()
    assert events == ["credential.added"]


def test_a_new_inspector_and_their_credential_are_audited_in_order(
    db: Session, world: World, now: datetime
) -> None:
    inspector = _create_inspector(db, world, now)
    [credential] = inspector.credentials
    rows = db.execute(
        select(AuditEvent.action, AuditEvent.object_id).order_by(AuditEvent.id.desc()).limit(2)
    ).all()
    assert [tuple(r) for r in reversed(rows)] == [
        ("inspector.created", str(inspector.id)),
        ("credential.added", str(credential.id)),
    ]


def test_list_inspectors_leaves_the_photos_in_the_database(db: Session, world: World) -> None:
    db.expunge_all()  # what the world fixture loaded is forgotten: the list loads afresh
    listed = service.list_inspectors(db, actor=world.admin)
    assert {"photo"} <= inspect(listed[0]).unloaded
    assert all(i.photo_type for i in listed)  # whether there is a photo, without reading it
