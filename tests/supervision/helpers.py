"""Visits the supervision tests start from, made directly (as registration leaves them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tests.factories import World, make_visit
from webapp.visits.models import Visit


def planned_visit(db: Session, world: World, now: datetime, **changes: object) -> Visit:
    """Alice (lead) and Bob visit Alpha Chemicals for its plan entry this month; committed."""
    fields: dict[str, object] = {
        "agency": world.county,
        "enterprise": world.ent_a,
        "inspectors": [world.alice, world.bob],
        "items": world.items[:2],
        "registered_by": world.inspector1,
        "plan_entry": world.entry_a,
    }
    fields.update(changes)
    visit = make_visit(db, now=now, **fields)  # type: ignore[arg-type]
    db.commit()
    return visit


def extra_visit(db: Session, world: World, now: datetime, **changes: object) -> Visit:
    """Alice (lead) and Bob visit Beta Machinery on a hotline complaint: an extra visit,
    pending approval unless `approval` says otherwise; committed."""
    fields: dict[str, object] = {
        "agency": world.county,
        "enterprise": world.ent_b,
        "inspectors": [world.alice, world.bob],
        "items": world.items[2:],
        "registered_by": world.inspector1,
        "extra_reason": "complaint",
        "extra_reason_text": "Hotline 12345: blocked fire exit reported",
    }
    fields.update(changes)
    visit = make_visit(db, now=now, **fields)  # type: ignore[arg-type]
    db.commit()
    return visit
