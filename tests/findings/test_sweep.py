"""The sweep for major hazards past their deadline: one flag per hazard (and deadline),
none for a hazard rectified on time, not yet due, or merely a general hazard."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.factories import World
from tests.findings.helpers import day_of, major_hazard, overdue_flags, recheck
from webapp.__main__ import main
from webapp.clock import FixedClock
from webapp.enums import Severity
from webapp.findings import service
from webapp.web import to_local


def test_an_overdue_major_hazard_is_flagged_once(
    db: Session, world: World, clock: FixedClock
) -> None:
    now = clock.now()
    visit, _finding_id = major_hazard(db, world, now, "major_hazard", "hazard", days=3)
    deadline = day_of(visit) + timedelta(days=3)

    assert service.sweep_overdue_hazards(db, now=now) == 0  # not yet due
    clock.advance(days=3)
    assert to_local(clock.now()).date() == deadline
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 0  # the deadline day itself
    clock.advance(days=1)
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 1
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 0
    clock.advance(days=5)
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 0
    flags = overdue_flags(db)
    assert len(flags) == 1  # AQ-002 is a general hazard: not flagged
    flag = flags[0]
    assert flag.severity == Severity.serious
    assert flag.visit_id == visit.id
    assert flag.agency_id == world.county.id
    assert flag.enterprise_id == world.ent_a.id
    assert flag.dedupe_key == f"hazard:{visit.id}:{world.items[0].id}:{deadline.isoformat()}"
    detail = json.loads(flag.detail)
    assert detail["rule"] == "hazard.major_overdue"
    assert detail["params"] == {"item": "AQ-001", "deadline": deadline.isoformat(), "days": 1}

    # A correction that keeps the deadline raises nothing new.
    major_hazard(
        db,
        world,
        clock.now(),
        "major_hazard",
        "hazard",
        days=3,
        visit=visit,
        correction_reason="Typo in the note",
    )
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 0


def test_rectified_on_time_is_not_flagged(db: Session, world: World, clock: FixedClock) -> None:
    now = clock.now()
    original, finding_id = major_hazard(db, world, now, "major_hazard", "compliant", days=3)
    clock.advance(days=2)
    recheck(db, world, clock.now(), original, finding_id, "rectified", "Fixed")
    clock.advance(days=30)
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 0
    assert overdue_flags(db) == []


def test_a_not_rectified_recheck_keeps_it_overdue(
    db: Session, world: World, clock: FixedClock
) -> None:
    now = clock.now()
    original, finding_id = major_hazard(db, world, now, "major_hazard", "compliant", days=3)
    clock.advance(days=2)
    recheck(db, world, clock.now(), original, finding_id, "not_rectified", "Still missing")
    clock.advance(days=5)
    assert service.sweep_overdue_hazards(db, now=clock.now()) == 1


def test_the_sweep_command_runs_it(
    db_url: str,
    db: Session,
    world: World,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = clock.now()
    major_hazard(db, world, now, "major_hazard", "compliant", days=1)
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setattr("webapp.clock.SystemClock.now", lambda self: now + timedelta(days=3))
    from webapp.config import get_settings

    get_settings.cache_clear()
    try:
        assert main(["sweep"]) == 0
        # The queue rebuilt from the findings: the hazard is judged again, flagged already.
        assert main(["sweep", "--requeue"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "1 overdue major hazard flag(s) raised" in out
    assert "1 major hazard(s) queued for the sweep" in out
    assert "0 overdue major hazard flag(s) raised" in out
    assert len(overdue_flags(db)) == 1
