"""Visits the findings tests start from, and pictures to upload."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import World, make_visit
from webapp.enums import FlagKind
from webapp.findings import service
from webapp.findings.service import ItemResult, RectificationInput
from webapp.supervision.models import Flag
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


# --- the hazard sweep's tests ------------------------------------------------------------------


def major_hazard(
    db: Session,
    world: World,
    now: datetime,
    *outcomes: str,
    days: int = 3,
    visit: Visit | None = None,
    correction_reason: str = "",
) -> tuple[Visit, int]:
    """Record `outcomes` (default: a major hazard at AQ-001, AQ-002 compliant) on a confirmed
    visit (a new one found at `now`, or a correction of `visit`'s record), hazards due `days`
    after the visit's day; the visit and the AQ-001 finding's id."""
    visit = visit or confirmed_visit(db, world, now)
    inspection = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(
            visit,
            *(outcomes or ("major_hazard", "compliant")),
            deadline=day_of(visit) + timedelta(days=days),
        ),
        correction_reason=correction_reason,
        now=now,
    )
    return visit, next(f.id for f in inspection.findings if f.item.code == "AQ-001")


def recheck(
    db: Session,
    world: World,
    now: datetime,
    original: Visit,
    finding_id: int,
    outcome: str,
    note: str = "Looked again",
) -> Visit:
    """A re-check of `original` at `now` recording `outcome` for the hazard `finding_id`."""
    visit = recheck_visit(db, world, now, original)
    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "compliant"),
        rectifications=[RectificationInput(finding_id, outcome, note)],
        now=now,
    )
    return visit


def overdue_flags(db: Session) -> list[Flag]:
    """The overdue-major-hazard flags raised so far, oldest first."""
    db.rollback()
    return list(
        db.scalars(select(Flag).where(Flag.kind == FlagKind.major_hazard_overdue).order_by(Flag.id))
    )
