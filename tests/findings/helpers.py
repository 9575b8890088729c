"""Visits the findings tests start from, and pictures to upload."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from PIL import Image
from sqlalchemy.orm import Session

from tests.factories import World, make_visit
from webapp.findings.service import ItemResult
from webapp.visits.models import Visit
from webapp.web import to_local


def confirmed_visit(db: Session, world: World, now: datetime, **changes: object) -> Visit:
    """Alice (lead) and Bob visited Alpha Chemicals for its plan entry (items AQ-001 and
    AQ-002) and the enterprise confirmed it; committed."""
    fields: dict[str, object] = {
        "agency": world.county,
        "enterprise": world.ent_a,
        "inspectors": [world.alice, world.bob],
        "items": world.items[:2],
        "registered_by": world.inspector1,
        "plan_entry": world.entry_a,
        "status": "confirmed",
        "window_start": now - timedelta(hours=2),
        "window_end": now + timedelta(hours=1),
        "registered_at": now - timedelta(days=1),
    }
    fields.update(changes)
    visit = make_visit(db, now=now, **fields)  # type: ignore[arg-type]
    if visit.confirmed_by_id is None and visit.status.value == "confirmed":
        visit.confirmed_by_id = world.manager_a.id
    db.commit()
    return visit


def recheck_visit(db: Session, world: World, now: datetime, original: Visit) -> Visit:
    """A confirmed re-check (复查) of `original`: same team, same enterprise."""
    visit = confirmed_visit(
        db,
        world,
        now,
        plan_entry=None,
        extra_reason="recheck",
        extra_reason_text="Re-check of the ordered rectification",
        approval="approved",
    )
    visit.recheck_of_visit_id = original.id
    db.commit()
    db.refresh(visit)
    return visit


def day_of(visit: Visit) -> date:
    return to_local(visit.confirmed_at or visit.window_start).date()


def results(
    visit: Visit, *outcomes: str, deadline: date | None = None, note: str = "Found at the tank"
) -> list[ItemResult]:
    """One result per item of the visit, in item order; hazards get a note and a deadline
    (default: 30 days after the visit)."""
    due = deadline or day_of(visit) + timedelta(days=30)
    return [
        ItemResult(
            item_id=item.id,
            outcome=outcome,
            note="" if outcome == "compliant" else note,
            rectify_by=None if outcome == "compliant" else due,
        )
        for item, outcome in zip(visit.items, outcomes, strict=True)
    ]


def picture(fmt: str = "JPEG", size: tuple[int, int] = (2400, 1800), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128)).save(
        buf, format=fmt
    )
    return buf.getvalue()
