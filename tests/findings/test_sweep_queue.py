"""The hazard sweep reads only its queue (migration 0009: rows added by triggers when a major
hazard's finding or any rectification is written; dropped once the sweep has judged the hazard
for good). What it flags is unchanged: a hazard rectified on time is never flagged and is not
read again; new evidence about a hazard settled long ago queues it again; a correction that
moves the deadline is flagged again when the new one passes; a new inspection version replaces
the old."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.findings.helpers import day_of, major_hazard, overdue_flags, recheck
from webapp.clock import FixedClock
from webapp.findings import service
from webapp.findings.models import HazardSweepQueue

REASON = "The deadline was agreed again with the enterprise's safety manager"


def _queued(db: Session) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(HazardSweepQueue)) or 0)


def _sweep(db: Session, clock: FixedClock) -> int:
    return service.sweep_overdue_hazards(db, now=clock.now())


def test_rectified_on_time_leaves_the_queue_and_is_never_flagged(
    db: Session, world: World, clock: FixedClock
) -> None:
    visit, finding_id = major_hazard(db, world, clock.now(), days=3)
    assert _queued(db) == 1  # the major hazard; AQ-002 is compliant
    clock.advance(days=2)
    recheck(db, world, clock.now(), visit, finding_id, "rectified")
    assert _sweep(db, clock) == 0
    assert _queued(db) == 2  # not yet due: nothing judged, nothing dropped
    clock.advance(days=2)  # the deadline has passed
    assert _sweep(db, clock) == 0
    assert _queued(db) == 0  # settled: not read again
    clock.advance(days=60)
    assert _sweep(db, clock) == 0
    assert overdue_flags(db) == []


def test_rectified_late_is_flagged(db: Session, world: World, clock: FixedClock) -> None:
    visit, finding_id = major_hazard(db, world, clock.now(), days=3)
    clock.advance(days=5)  # two days after the deadline, no sweep has run yet
    recheck(db, world, clock.now(), visit, finding_id, "rectified")
    clock.advance(days=1)
    assert _sweep(db, clock) == 1
    (flag,) = overdue_flags(db)
    detail = json.loads(flag.detail)
    assert "rectified only" in detail["message"]
    assert detail["params"]["days"] == 2
    assert _queued(db) == 0
    assert _sweep(db, clock) == 0


def test_new_evidence_about_a_settled_hazard_is_judged_again(
    db: Session, world: World, clock: FixedClock
) -> None:
    visit, finding_id = major_hazard(db, world, clock.now(), days=3)
    deadline = day_of(visit) + timedelta(days=3)
    clock.advance(days=1)
    recheck(db, world, clock.now(), visit, finding_id, "rectified")
    clock.advance(days=4)
    assert _sweep(db, clock) == 0
    assert _queued(db) == 0  # settled and dropped ...
    # ... until a later re-check finds it undone: the latest verdict decides, as before.
    recheck(db, world, clock.now(), visit, finding_id, "not_rectified", "Guard rail gone")
    assert _queued(db) == 1
    assert _sweep(db, clock) == 1
    (flag,) = overdue_flags(db)
    assert flag.dedupe_key == f"hazard:{visit.id}:{world.items[0].id}:{deadline.isoformat()}"
    assert _queued(db) == 0


def test_a_moved_deadline_is_flagged_again_when_it_passes(
    db: Session, world: World, clock: FixedClock
) -> None:
    visit, _ = major_hazard(db, world, clock.now(), days=3)
    first = day_of(visit) + timedelta(days=3)
    clock.advance(days=4)
    assert _sweep(db, clock) == 1
    # The correction gives a new deadline, ten days after the visit.
    major_hazard(db, world, clock.now(), days=10, visit=visit, correction_reason=REASON)
    second = day_of(visit) + timedelta(days=10)
    assert _sweep(db, clock) == 0  # not yet due
    assert _queued(db) == 1
    clock.advance(days=6)
    assert _sweep(db, clock) == 0  # the new deadline's day itself
    clock.advance(days=1)
    assert _sweep(db, clock) == 1
    keys = [f.dedupe_key.rsplit(":", 1)[1] for f in overdue_flags(db)]
    assert keys == [first.isoformat(), second.isoformat()]
    assert _queued(db) == 0


def test_a_new_inspection_version_replaces_the_old(
    db: Session, world: World, clock: FixedClock
) -> None:
    visit, _ = major_hazard(db, world, clock.now(), days=3)
    clock.advance(days=1)
    # Corrected before the deadline: AQ-001 was compliant after all.
    major_hazard(
        db, world, clock.now(), "compliant", "compliant", visit=visit, correction_reason=REASON
    )
    clock.advance(days=5)
    assert _sweep(db, clock) == 0
    assert _queued(db) == 0  # the old version's deadline: judged, nothing to flag
    assert overdue_flags(db) == []
    # A third version finds it a major hazard again, due twelve days after the visit.
    major_hazard(db, world, clock.now(), days=12, visit=visit, correction_reason=REASON)
    assert _sweep(db, clock) == 0
    clock.advance(days=7)
    assert _sweep(db, clock) == 1
    (flag,) = overdue_flags(db)
    assert flag.dedupe_key.endswith((day_of(visit) + timedelta(days=12)).isoformat())


def test_the_rebuilt_queue_judges_the_same(db: Session, world: World, clock: FixedClock) -> None:
    settled, settled_id = major_hazard(db, world, clock.now(), days=3)
    open_visit, _ = major_hazard(db, world, clock.now(), days=3)
    clock.advance(days=1)
    recheck(db, world, clock.now(), settled, settled_id, "rectified")
    clock.advance(days=4)
    assert _sweep(db, clock) == 1  # the open one
    assert _queued(db) == 0
    assert service.requeue_major_hazards(db) == 2
    assert _sweep(db, clock) == 0  # flagged already / rectified on time: nothing new
    assert _queued(db) == 0
    assert [f.visit_id for f in overdue_flags(db)] == [open_visit.id]
