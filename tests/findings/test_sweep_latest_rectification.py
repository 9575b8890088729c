"""The hazard sweep reads plain rows (not each hazard's object graph): it must still judge by
the hazard's latest rectification, on the local (Shanghai) day it was recorded."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy.orm import Session

from tests.factories import World
from tests.findings.helpers import day_of, major_hazard, overdue_flags, recheck
from webapp.clock import FixedClock
from webapp.findings import service
from webapp.web import to_local

# Each test: a major hazard (AQ-001) found at T0 (Mon 16 Nov, 09:00 local), due Thu 19 Nov.


def test_rectified_late_in_the_evening_of_the_deadline_day_is_on_time(
    db: Session, world: World, clock: FixedClock
) -> None:
    visit, finding_id = major_hazard(db, world, clock.now(), days=3)
    clock.advance(days=3, hours=14, minutes=30)  # Thu 19 Nov, 23:30 local (15:30 UTC)
    assert to_local(clock.now()).date() == day_of(visit) + timedelta(days=3)
    recheck(db, world, clock.now(), visit, finding_id, "rectified")
    clock.advance(days=2)
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 0
    assert overdue_flags(db) == []


def test_rectified_just_after_local_midnight_is_a_day_late(
    db: Session, world: World, clock: FixedClock
) -> None:
    visit, finding_id = major_hazard(db, world, clock.now(), days=3)
    # Fri 20 Nov, 00:30 local: still Thu 19 Nov in UTC, the deadline day. Late by the
    # local day, which is the one that counts.
    clock.advance(days=3, hours=15, minutes=30)
    assert clock.now().date() == day_of(visit) + timedelta(days=3)
    recheck(db, world, clock.now(), visit, finding_id, "rectified")
    clock.advance(days=2)
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 1
    (flag,) = overdue_flags(db)
    assert flag.visit_id == visit.id
    detail = json.loads(flag.detail)
    assert detail["params"] == {"item": "AQ-001", "deadline": "2026-11-19", "days": 1}
    assert "rectified only" in detail["message"]


def test_the_latest_rectification_decides(db: Session, world: World, clock: FixedClock) -> None:
    visit, finding_id = major_hazard(db, world, clock.now(), days=3)
    clock.advance(days=1)
    recheck(db, world, clock.now(), visit, finding_id, "rectified")  # on time ...
    clock.advance(days=1)
    recheck(db, world, clock.now(), visit, finding_id, "not_rectified")  # ... then found undone
    clock.advance(days=3)
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 1
    detail = json.loads(overdue_flags(db)[0].detail)
    assert detail["params"]["days"] == 2  # still open: counted to today
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 0
