"""Photos of findings: JPEG or PNG only, checked, turned into a light JPEG; too big or too
many is refused with a clear reason; a correction carries them over unless left out."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.findings.helpers import confirmed_visit, picture, results
from webapp.errors import DomainError
from webapp.findings import service
from webapp.findings.models import FindingPhoto, Inspection


def _photos_of(inspection: Inspection) -> dict[str, list[FindingPhoto]]:
    return {f.item.code: list(f.photos) for f in inspection.findings}


def test_jpeg_and_png_are_kept_as_light_jpegs(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    a, b = world.items[:2]
    inspection = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "hazard"),
        photos={
            a.id: [picture("JPEG", (4000, 3000))],
            b.id: [picture("PNG", (800, 600), "RGBA"), picture("JPEG", (300, 200))],
        },
        now=now,
    )
    photos = _photos_of(inspection)
    assert [len(photos["AQ-001"]), len(photos["AQ-002"])] == [1, 2]
    sizes = []
    for photo in photos["AQ-001"] + photos["AQ-002"]:
        assert photo.content_type == "image/jpeg"
        assert photo.created_at == now
        with Image.open(io.BytesIO(photo.content)) as image:
            assert image.format == "JPEG"
            sizes.append(image.size)
    assert sizes == [(1600, 1200), (800, 600), (300, 200)]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"not a picture at all", "photo_type"),
        (b"GIF89a" + b"\x00" * 40, "photo_type"),
        (b"\xff" * (service.MAX_PHOTO_BYTES + 1), "photo_too_big"),
    ],
)
def test_a_bad_photo_is_refused_and_nothing_is_written(
    db: Session, world: World, now: datetime, data: bytes, code: str
) -> None:
    visit = confirmed_visit(db, world, now)
    item = world.items[1]
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=visit.public_id,
            results=results(visit, "compliant", "hazard"),
            photos={item.id: [picture("JPEG", (50, 50)), data]},
            now=now,
        )
    assert excinfo.value.code == code
    assert [e.field for e in excinfo.value.errors] == [f"photo_{item.id}"]
    db.rollback()
    assert db.scalar(select(func.count()).select_from(FindingPhoto)) == 0


def test_a_real_gif_is_named(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    item = world.items[0]
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=visit.public_id,
            results=results(visit, "compliant", "compliant"),
            photos={item.id: [picture("GIF", (20, 20), "RGB")]},
            now=now,
        )
    error = excinfo.value.errors[0]
    assert excinfo.value.code == "photo_type"
    assert error.params == {"format": "GIF"}


def test_at_most_four_photos_an_item(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    item = world.items[0]
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=visit.public_id,
            results=results(visit, "compliant", "compliant"),
            photos={item.id: [picture("JPEG", (20, 20))] * 5},
            now=now,
        )
    assert excinfo.value.code == "too_many_photos"


def test_photos_for_an_item_not_on_the_visit_are_refused(
    db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=visit.public_id,
            results=results(visit, "compliant", "compliant"),
            photos={world.items[3].id: [picture("JPEG", (20, 20))]},
            now=now,
        )
    assert excinfo.value.code == "unknown_item"
    assert [e.field for e in excinfo.value.errors] == ["photos"]


def test_a_correction_carries_photos_over_unless_left_out(
    db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    a, b = world.items[:2]
    first = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "hazard", "hazard"),
        photos={a.id: [picture("JPEG", (40, 30))], b.id: [picture("PNG", (30, 40))]},
        now=now,
    )
    old = _photos_of(first)
    dropped = old["AQ-002"][0]
    second = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "hazard", "hazard"),
        photos={b.id: [picture("JPEG", (60, 60))]},
        drop_photo_ids={dropped.id},
        correction_reason="Wrong photo at AQ-002",
        now=now,
    )
    new = _photos_of(second)
    assert [p.content for p in new["AQ-001"]] == [p.content for p in old["AQ-001"]]
    assert new["AQ-001"][0].id != old["AQ-001"][0].id  # a copy: version 1 keeps its own
    assert len(new["AQ-002"]) == 1
    assert new["AQ-002"][0].content != dropped.content
    db.expire_all()
    assert db.get(FindingPhoto, dropped.id) is not None  # evidence of version 1 stays


def test_a_photo_is_shown_to_those_who_read_the_record(
    db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    inspection = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "compliant"),
        photos={world.items[0].id: [picture("JPEG", (40, 30))]},
        now=now,
    )
    photo_id = _photos_of(inspection)["AQ-001"][0].id
    for reader in (world.inspector2, world.supervisor, world.manager_a, world.admin):
        assert service.finding_photo(db, actor=reader, photo_id=photo_id).id == photo_id
    for stranger in (world.manager_b, world.inspector_other, world.supervisor_other):
        with pytest.raises(DomainError) as excinfo:
            service.finding_photo(db, actor=stranger, photo_id=photo_id)
        assert excinfo.value.code == "not_found"
