"""Recording findings: every outcome, every refusal with its field and code, versions that
keep what came before, and retries that record nothing twice."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.findings.helpers import confirmed_visit, day_of, results
from webapp.audit.models import AuditEvent
from webapp.enums import FindingOutcome
from webapp.errors import DomainError
from webapp.findings import service
from webapp.findings.models import Inspection, ItemFinding
from webapp.findings.service import ItemResult


def _count(db: Session, model: type) -> int:
    db.rollback()
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def _refusal(excinfo: pytest.ExceptionInfo[DomainError]) -> dict[str, str]:
    """field -> code of every problem of a refusal."""
    exc = excinfo.value
    return {e.field: code for e, code in zip(exc.errors, exc.params["codes"], strict=True)}


def test_version_1_records_every_outcome(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now, items=world.items[:3])
    deadline = day_of(visit) + timedelta(days=10)
    inspection = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=[
            ItemResult(world.items[0].id, "compliant", rectify_by=deadline),  # deadline ignored
            ItemResult(world.items[1].id, "hazard", "Fire exit blocked", deadline.isoformat()),
            ItemResult(world.items[2].id, FindingOutcome.major_hazard, "No gas detector", deadline),
        ],
        summary="  Two hazards found.  ",
        case_opened=True,
        case_number="  AJ-2026-017 ",
        fine_yuan="1,500.50",
        now=now,
    )
    assert inspection.version == 1
    assert inspection.summary == "Two hazards found."
    assert (inspection.case_opened, inspection.case_number) == (True, "AJ-2026-017")
    assert inspection.fine_fen == 150050
    assert inspection.correction_reason == ""
    assert inspection.recorded_by_id == world.inspector1.id
    found = {f.item.code: (f.outcome, f.note, f.rectify_by) for f in inspection.findings}
    assert found == {
        "AQ-001": (FindingOutcome.compliant, "", None),
        "AQ-002": (FindingOutcome.hazard, "Fire exit blocked", deadline),
        "AQ-003": (FindingOutcome.major_hazard, "No gas detector", deadline),
    }
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "inspection.recorded")).one()
    data = json.loads(event.data)
    assert event.visit_id == visit.id
    assert event.actor_id == world.inspector1.id
    assert data["findings"] == {"AQ-001": "compliant", "AQ-002": "hazard", "AQ-003": "major_hazard"}
    assert data["fine_fen"] == 150050
    assert data["version"] == 1


def test_a_co_inspector_records_too(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    inspection = service.record_inspection(
        db,
        actor=world.inspector2,
        public_id=visit.public_id,
        results=results(visit, "compliant", "compliant"),
        now=now,
    )
    assert inspection.version == 1
    assert inspection.fine_fen == 0
    assert not inspection.case_opened


@pytest.mark.parametrize(
    ("outcome", "rectify_by", "code"),
    [
        ("hazard", None, "deadline_required"),
        ("major_hazard", "", "deadline_required"),
        ("hazard", "31/12/2026", "deadline_invalid"),
        ("hazard", 0, "deadline_too_early"),  # the visit's own day
        ("major_hazard", -3, "deadline_too_early"),
        ("hazard", 366, "deadline_too_late"),
    ],
)
def test_a_hazard_needs_a_deadline_after_the_visit_within_a_year(
    db: Session, world: World, now: datetime, outcome: str, rectify_by: object, code: str
) -> None:
    visit = confirmed_visit(db, world, now)
    if isinstance(rectify_by, int):
        rectify_by = day_of(visit) + timedelta(days=rectify_by)
    item = world.items[1]
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=visit.public_id,
            results=[
                ItemResult(world.items[0].id, "compliant"),
                ItemResult(item.id, outcome, "Leaking valve", rectify_by),  # type: ignore[arg-type]
            ],
            now=now,
        )
    assert excinfo.value.code == code
    assert excinfo.value.status == 422
    assert _refusal(excinfo) == {f"rectify_by_{item.id}": code}
    assert _count(db, Inspection) == 0


def test_the_edges_of_the_deadline_are_accepted(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    day = day_of(visit)
    inspection = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=[
            ItemResult(world.items[0].id, "hazard", "a", day + timedelta(days=1)),
            ItemResult(world.items[1].id, "major_hazard", "b", day + timedelta(days=365)),
        ],
        now=now,
    )
    assert sorted(f.rectify_by for f in inspection.findings if f.rectify_by) == [
        day + timedelta(days=1),
        day + timedelta(days=365),
    ]


def test_every_problem_is_named_with_its_field_and_nothing_is_written(
    db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now, items=world.items[:3])
    a, b, c = world.items[:3]
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=visit.public_id,
            results=[
                ItemResult(a.id, "dangerous"),
                ItemResult(b.id, "hazard", "", day_of(visit) + timedelta(days=5)),
                ItemResult(world.items[3].id, "compliant"),  # not on this visit
                # c: no result at all
            ],
            case_opened=True,
            case_number=" ",
            fine_yuan="-200",
            summary="x" * (service.MAX_SUMMARY_LENGTH + 1),
            now=now,
        )
    assert excinfo.value.code == "unknown_item"  # the first problem names the refusal
    assert _refusal(excinfo) == {
        "results": "unknown_item",
        f"outcome_{a.id}": "outcome_invalid",
        f"note_{b.id}": "note_required",
        f"outcome_{c.id}": "finding_missing",
        "summary": "summary_too_long",
        "case_number": "case_number_required",
        "fine": "fine_negative",
    }
    missing = next(e for e in excinfo.value.errors if e.field == f"outcome_{c.id}")
    assert missing.params == {"item": "AQ-003"}
    assert _count(db, Inspection) == 0
    assert _count(db, ItemFinding) == 0
    assert _count(db, AuditEvent) == 0


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("", 0),
        ("0", 0),
        ("1500", 150000),
        ("1,500.50", 150050),
        ("1，500.5", 150050),
        (" ¥2000 ", 200000),
        ("3000元", 300000),
        ("0.01", 1),
        ("20,000,000", 2_000_000_000),
    ],
)
def test_fines_in_yuan_are_parsed_exactly_to_fen(text: str, fen: int) -> None:
    assert service.parse_fine_yuan(text) == (fen, None, None)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("-1", "fine_negative"),
        ("1.005", "fine_invalid"),
        ("1,50", "fine_invalid"),
        ("abc", "fine_invalid"),
        ("1e5", "fine_invalid"),
        ("20,000,000.01", "fine_too_large"),
        ("99999999999999999999", "fine_too_large"),
    ],
)
def test_bad_fines_are_refused_with_a_reason(text: str, code: str) -> None:
    fen, found_code, error = service.parse_fine_yuan(text)
    assert fen is None
    assert found_code == code
    assert error is not None
    assert error.field == "fine"


def test_a_fine_in_fen_is_checked_too(db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    for fen, code in ((-1, "fine_negative"), (service.MAX_FINE_FEN + 1, "fine_too_large")):
        with pytest.raises(DomainError) as excinfo:
            service.record_inspection(
                db,
                actor=world.inspector1,
                public_id=visit.public_id,
                results=results(visit, "compliant", "compliant"),
                fine_fen=fen,
                now=now,
            )
        assert _refusal(excinfo) == {"fine": code}
        db.rollback()


def test_a_correction_is_version_2_with_its_reason_and_version_1_stays(
    db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    first = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "hazard"),
        fine_fen=50000,
        now=now,
    )
    later = now + timedelta(hours=3)
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=visit.public_id,
            results=results(visit, "compliant", "major_hazard"),
            correction_reason=" ",
            base_version=1,
            now=later,
        )
    assert excinfo.value.code == "correction_reason_required"
    assert _refusal(excinfo) == {"correction_reason": "correction_reason_required"}
    db.rollback()

    second = service.record_inspection(
        db,
        actor=world.inspector2,
        public_id=visit.public_id,
        results=results(visit, "compliant", "major_hazard"),
        correction_reason="The leak is at the chlorine tank: a major hazard.",
        base_version=1,
        now=later,
    )
    assert second.version == 2
    assert second.id != first.id
    assert second.correction_reason == "The leak is at the chlorine tank: a major hazard."
    assert second.fine_fen == 0
    versions = db.scalars(
        select(Inspection).where(Inspection.visit_id == visit.id).order_by(Inspection.version)
    ).all()
    assert [(v.version, v.fine_fen) for v in versions] == [(1, 50000), (2, 0)]
    assert [f.outcome for f in versions[0].findings] == [
        FindingOutcome.compliant,
        FindingOutcome.hazard,
    ]
    assert db.scalar(select(func.count()).where(AuditEvent.action == "inspection.corrected")) == 1

    record = service.visit_inspections(db, actor=world.supervisor, public_id=visit.public_id)
    assert [v.version for v in record.versions] == [2, 1]
    assert record.current is not None
    assert record.current.major_hazards == 1


def test_a_correction_made_on_an_old_version_is_refused(
    db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "compliant"),
        base_version=0,
        now=now,
    )
    with pytest.raises(DomainError) as excinfo:
        # Bob opened the form before Alice saved version 1.
        service.record_inspection(
            db,
            actor=world.inspector2,
            public_id=visit.public_id,
            results=results(visit, "hazard", "compliant"),
            base_version=0,
            now=now,
        )
    assert excinfo.value.code == "inspection_changed"
    assert excinfo.value.status == 409
    assert _count(db, Inspection) == 1


def test_findings_wait_for_the_confirmation(db: Session, world: World, now: datetime) -> None:
    for status in ("registered", "cancelled"):
        visit = confirmed_visit(db, world, now, status=status)
        with pytest.raises(DomainError) as excinfo:
            service.record_inspection(
                db,
                actor=world.inspector1,
                public_id=visit.public_id,
                results=results(visit, "compliant", "compliant"),
                now=now,
            )
        assert excinfo.value.code == "visit_not_confirmed"
        assert excinfo.value.status == 409
        db.rollback()
    assert _count(db, Inspection) == 0


def test_a_retry_with_the_same_key_records_nothing_twice(
    db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    given = results(visit, "compliant", "hazard")
    first = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=given,
        now=now,
        idempotency_key="k-1",
    )
    again = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=given,
        now=now + timedelta(seconds=5),
        idempotency_key="k-1",
    )
    assert again.id == first.id
    assert again.version == 1
    assert _count(db, Inspection) == 1
    with pytest.raises(DomainError) as excinfo:
        service.record_inspection(
            db,
            actor=world.inspector1,
            public_id=visit.public_id,
            results=results(visit, "compliant", "compliant"),
            now=now,
            idempotency_key="k-1",
        )
    assert excinfo.value.code == "idempotency_key_reused"


def test_deadline_rule_is_pure_and_names_each_case() -> None:
    from webapp.rules.hazards import deadline_problem

    day = date(2026, 11, 16)
    assert deadline_problem(FindingOutcome.compliant, None, day) is None
    assert deadline_problem(FindingOutcome.hazard, day + timedelta(days=1), day) is None
    assert deadline_problem(FindingOutcome.hazard, None, day) == "deadline_required"
    assert deadline_problem(FindingOutcome.major_hazard, day, day) == "deadline_too_early"
    assert (
        deadline_problem(FindingOutcome.major_hazard, day + timedelta(days=366), day)
        == "deadline_too_late"
    )
