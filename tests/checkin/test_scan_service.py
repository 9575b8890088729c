"""scan_pass: confirm once, refuse everything else with a stable reason, record every scan."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.checkin.helpers import (
    code_of,
    counts,
    flags,
    forged_tokens,
    make_visit,
    scans,
    token_of,
    url_of,
)
from tests.factories import World, make_user
from webapp.audit.models import AuditEvent
from webapp.auth.models import IdempotencyRecord, User
from webapp.checkin import service
from webapp.clock import FixedClock
from webapp.config import Settings, get_settings
from webapp.db import make_sessionmaker
from webapp.enums import (
    Approval,
    ExtraReason,
    FlagKind,
    Role,
    ScanOutcome,
    Severity,
    VisitStatus,
)
from webapp.errors import DomainError
from webapp.visits.models import Visit


@pytest.fixture
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


def _scan(
    db: Session,
    world: World,
    presented: str,
    *,
    now: datetime,
    settings: Settings,
    actor: str = "manager_a",
    key: str | None = None,
    device_time: datetime | None = None,
) -> service.ScanResult:
    return service.scan_pass(
        db,
        actor=getattr(world, actor),
        presented=presented,
        device_time=device_time,
        now=now,
        settings=settings,
        idempotency_key=key,
    )


def _scan_visit(
    db: Session,
    world: World,
    visit: Visit,
    *,
    now: datetime,
    settings: Settings,
    actor: str = "manager_a",
    key: str | None = None,
    device_time: datetime | None = None,
) -> service.ScanResult:
    """Scan the visit's live pass (its URL, as a camera app would open it)."""
    presented = url_of(visit, now=now, settings=settings)
    return _scan(
        db,
        world,
        presented,
        now=now,
        settings=settings,
        actor=actor,
        key=key,
        device_time=device_time,
    )


def _audit_actions(db: Session) -> list[str]:
    return list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_genuine_pass_confirms_its_visit_once(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    device = now - timedelta(seconds=7)
    result = _scan_visit(db, world, visit, now=now, settings=settings, device_time=device)
    assert result.confirmed
    assert result.reason_code is None
    assert result.confirmed_at == now
    assert result.visit is not None
    assert result.visit.id == visit.id
    assert result.status_code == 201

    db.refresh(visit)
    assert visit.status == VisitStatus.confirmed
    assert visit.confirmed_at == now
    assert visit.confirmed_by_id == world.manager_a.id
    [scan] = scans(db)
    assert scan.outcome == ScanOutcome.confirmed
    assert scan.visit_id == visit.id
    assert scan.enterprise_id == world.ent_a.id
    assert scan.user_id == world.manager_a.id
    assert scan.scanned_at == now
    assert scan.device_time == device
    assert scan.presented_as == "url"
    assert len(scan.presented_digest) == 64
    assert token_of(visit, now=now, settings=settings) not in scan.presented_digest
    assert "visit.confirmed" in _audit_actions(db)
    # A planned visit registered two hours earlier raises no flag.
    assert flags(db) == []


def test_second_scan_is_refused_already_confirmed_naming_when_and_whom(
    db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    now = clock.now()
    visit = make_visit(db, world, now=now)
    _scan(db, world, token_of(visit, now=now, settings=settings), now=now, settings=settings)
    clock.advance(minutes=3)
    later = clock.now()
    second = _scan(
        db, world, token_of(visit, now=later, settings=settings), now=later, settings=settings
    )
    assert second.outcome == ScanOutcome.refused
    assert second.reason_code == "already_confirmed"
    assert second.status_code == 409
    assert second.params == {"time": "09:00", "name": "manager1"}
    assert second.message % second.params == "Already confirmed at 09:00 by manager1."
    db.refresh(visit)
    assert visit.confirmed_at == now  # the first confirmation stands
    outcomes = [(s.outcome, s.reason_code) for s in scans(db)]
    assert outcomes == [(ScanOutcome.confirmed, None), (ScanOutcome.refused, "already_confirmed")]
    [flag] = flags(db)
    assert flag.kind == FlagKind.refused_scan
    assert flag.severity == Severity.warning


def test_retry_with_the_same_key_returns_the_first_answer_and_writes_nothing(
    db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    now = clock.now()
    visit = make_visit(db, world, now=now)
    url = url_of(visit, now=now, settings=settings)
    first = _scan(db, world, url, now=now, settings=settings, key="tap-1")
    before = counts(db)
    clock.advance(seconds=5)
    again = _scan(db, world, url, now=clock.now(), settings=settings, key="tap-1")
    assert again.replayed
    assert not first.replayed
    assert again.confirmed
    assert (again.scan_id, again.confirmed_at, again.message) == (
        first.scan_id,
        first.confirmed_at,
        first.message,
    )
    assert again.visit is not None
    assert again.visit.id == visit.id
    assert counts(db) == before
    assert db.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
    assert [s.outcome for s in scans(db)] == [ScanOutcome.confirmed]


def test_a_key_reused_for_another_pass_is_refused(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    _scan_visit(db, world, visit, now=now, settings=settings, key="k")
    with pytest.raises(DomainError) as err:
        _scan(db, world, "something else", now=now, settings=settings, key="k")
    assert err.value.code == "idempotency_key_reused"


def test_a_refused_scan_is_replayed_too(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    first = _scan(db, world, "garbage", now=now, settings=settings, key="r1")
    again = _scan(db, world, "garbage", now=now, settings=settings, key="r1")
    assert again.replayed
    assert (again.reason_code, again.scan_id) == ("pass_invalid", first.scan_id)
    assert len(scans(db)) == 1


def test_an_old_code_is_refused_as_expired(
    db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    visit = make_visit(db, world, now=clock.now())
    screenshot = url_of(visit, now=clock.now(), settings=settings)
    typed = code_of(visit, now=clock.now(), settings=settings)
    clock.advance(seconds=120)
    for presented in (screenshot, typed):
        result = _scan(db, world, presented, now=clock.now(), settings=settings)
        assert result.reason_code == "pass_expired"
        assert result.message == "This code has expired: ask the inspector to show the live code."
        assert result.visit is None
    db.refresh(visit)
    assert visit.status == VisitStatus.registered
    recorded = scans(db)
    assert [(s.reason_code, s.visit_id) for s in recorded] == [("pass_expired", visit.id)] * 2
    assert [s.presented_as for s in recorded] == ["url", "code"]
    assert {(f.kind, f.severity, f.agency_id) for f in flags(db)} == {
        (FlagKind.refused_scan, Severity.warning, world.county.id)
    }


@pytest.mark.parametrize(
    "kind",
    [
        "flipped_signature",
        "other_secret",
        "alg_none",
        "missing_claims",
        "huge",
        "garbage",
        "rs256_header",
        "wrong_enterprise_claim",
        "bad_short_code",
        "unknown_visit_url",
    ],
)
def test_forged_or_garbled_passes_are_refused_invalid_and_recorded(
    db: Session, world: World, now: datetime, settings: Settings, kind: str
) -> None:
    visit = make_visit(db, world, now=now)
    presented = forged_tokens(visit, now=now, settings=settings)[kind]
    result = _scan(db, world, presented, now=now, settings=settings)
    assert result.reason_code == "pass_invalid"
    assert result.outcome == ScanOutcome.refused
    assert result.visit is None
    db.refresh(visit)
    assert visit.status == VisitStatus.registered
    [scan] = scans(db)
    # A forgery names no visit: it is nobody's evidence.
    assert (scan.visit_id, scan.reason_code, scan.enterprise_id) == (
        None,
        "pass_invalid",
        world.ent_a.id,
    )
    [flag] = flags(db)
    assert (flag.kind, flag.severity, flag.scan_id) == (
        FlagKind.refused_scan,
        Severity.serious,
        scan.id,
    )
    # Nobody's visit: the flag goes to the agency in charge of the scanning enterprise.
    assert flag.agency_id == world.ent_a.agency_id
    assert flag.dedupe_key == f"scan:{scan.id}"
    assert "scan.refused" in _audit_actions(db)


def test_another_enterprises_pass_is_refused_and_says_nothing_of_it(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)  # at ent_a
    result = _scan_visit(db, world, visit, now=now, settings=settings, actor="manager_b")
    assert result.reason_code == "wrong_enterprise"
    assert result.status_code == 403
    assert result.visit is None
    assert result.params == {}
    db.refresh(visit)
    assert visit.status == VisitStatus.registered
    [scan] = scans(db)
    assert (scan.visit_id, scan.enterprise_id) == (visit.id, world.ent_b.id)
    [flag] = flags(db)
    assert (flag.kind, flag.severity, flag.agency_id, flag.visit_id) == (
        FlagKind.refused_scan,
        Severity.serious,
        visit.agency_id,
        visit.id,
    )


def test_a_cancelled_visit_does_not_confirm(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now, status=VisitStatus.cancelled)
    result = _scan_visit(db, world, visit, now=now, settings=settings)
    assert result.reason_code == "visit_cancelled"
    assert [s.reason_code for s in scans(db)] == ["visit_cancelled"]
    assert [f.severity for f in flags(db)] == [Severity.serious]


def test_outside_the_window_and_its_tolerance_does_not_confirm(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    tolerance = timedelta(minutes=settings.window_tolerance_minutes)
    late = make_visit(
        db,
        world,
        now=now,
        window=(now - timedelta(hours=5), now - tolerance - timedelta(minutes=1)),
    )
    result = _scan_visit(db, world, late, now=now, settings=settings)
    assert result.reason_code == "outside_window"
    assert set(result.params) == {"start", "end"}
    assert result.visit is not None  # the manager's own visit may be shown
    assert [f.kind for f in flags(db)] == [FlagKind.refused_scan]

    # Just inside the tolerance still confirms.
    early = make_visit(
        db,
        world,
        now=now,
        window=(now + tolerance - timedelta(minutes=1), now + timedelta(hours=4)),
    )
    assert _scan_visit(db, world, early, now=now, settings=settings).confirmed


@pytest.mark.parametrize("typed", ["{code}", "{lower}", "  {spaced}  ", "{nodash}"])
def test_short_code_typed_with_spaces_or_lowercase_confirms(
    db: Session, world: World, now: datetime, settings: Settings, typed: str
) -> None:
    visit = make_visit(db, world, now=now)
    code = code_of(visit, now=now, settings=settings)
    text = typed.format(
        code=code,
        lower=code.lower(),
        spaced=code.replace("-", " "),
        nodash=code.replace("-", ""),
    )
    result = _scan(db, world, text, now=now, settings=settings)
    assert result.confirmed, result.reason_code
    assert scans(db)[0].presented_as == "code"


def test_extra_visit_waiting_for_approval_does_not_confirm(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    """The gate (Settings.extra_visit_approval, "confirm" by default): the scan of an extra
    visit whose approval is pending is refused and recorded like every refusal."""
    visit = make_visit(db, world, now=now, extra=ExtraReason.complaint)
    assert visit.approval == Approval.pending
    result = _scan_visit(db, world, visit, now=now, settings=settings)
    assert not result.confirmed
    assert (result.reason_code, result.status_code) == ("approval_pending", 409)
    assert result.visit is not None  # the manager's own enterprise's genuine pass
    assert "not been approved" in result.message
    [scan] = scans(db)
    assert (scan.outcome, scan.reason_code) == (ScanOutcome.refused, "approval_pending")
    [flag] = flags(db)
    assert (flag.kind, flag.visit_id, flag.severity) == (
        FlagKind.refused_scan,
        visit.id,
        Severity.warning,
    )
    db.refresh(visit)
    assert visit.status == VisitStatus.registered


def test_rejected_extra_visit_does_not_confirm(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now, extra=ExtraReason.complaint, approval=Approval.rejected)
    result = _scan_visit(db, world, visit, now=now, settings=settings)
    assert result.reason_code == "approval_rejected"
    assert [f.kind for f in flags(db)] == [FlagKind.refused_scan]


def test_extra_visit_approved_only_after_a_refused_scan_confirms_and_is_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    """The team went before the approval: approved at the gate after the first refusal."""
    from webapp.supervision import service as supervision

    visit = make_visit(db, world, now=now, extra=ExtraReason.complaint)
    assert not _scan_visit(db, world, visit, now=now, settings=settings).confirmed
    later = now + timedelta(minutes=20)
    supervision.decide_extra_visit(
        db,
        actor=world.supervisor,
        public_id=visit.public_id,
        decision=Approval.approved,
        note="",
        now=later,
    )
    result = _scan_visit(db, world, visit, now=later + timedelta(minutes=1), settings=settings)
    assert result.confirmed
    late = [f for f in flags(db) if f.kind == FlagKind.extra_unapproved]
    [flag] = late
    assert (flag.visit_id, flag.dedupe_key, flag.severity) == (
        visit.id,
        f"visit:{visit.id}",
        Severity.warning,
    )
    assert json.loads(flag.detail)["params"] == {"approval": "approved", "minutes": 20}


def test_approved_extra_visit_is_not_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now, extra=ExtraReason.accident, approval=Approval.approved)
    assert _scan_visit(db, world, visit, now=now, settings=settings).confirmed
    assert flags(db) == []


def test_visit_registered_minutes_before_its_scan_is_flagged_short_notice(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now, registered_at=now - timedelta(minutes=5))
    assert _scan_visit(db, world, visit, now=now, settings=settings).confirmed
    [flag] = flags(db)
    assert flag.kind == FlagKind.short_notice
    assert json.loads(flag.detail)["params"]["minutes"] == 5


@pytest.mark.parametrize("actor", ["inspector1", "supervisor", "admin"])
def test_only_a_safety_manager_can_confirm(
    db: Session, world: World, now: datetime, settings: Settings, actor: str
) -> None:
    visit = make_visit(db, world, now=now)
    with pytest.raises(DomainError) as err:
        _scan_visit(db, world, visit, now=now, settings=settings, actor=actor)
    assert err.value.code == "forbidden"
    db.rollback()
    assert counts(db) == (0, 0, 0)
    db.refresh(visit)
    assert visit.status == VisitStatus.registered


def test_confirmation_and_its_records_commit_together(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    # Registered a minute ago, scanned ten minutes before its window (within the tolerance).
    visit = make_visit(
        db,
        world,
        now=now,
        registered_at=now - timedelta(minutes=1),
        extra=ExtraReason.referral,
        approval=Approval.approved,
        window=(now + timedelta(minutes=10), now + timedelta(hours=3)),
    )
    _scan(db, world, url_of(visit, now=now, settings=settings), now=now, settings=settings)
    db.expire_all()
    stored = db.get(Visit, visit.id)
    assert stored is not None
    assert stored.status == VisitStatus.confirmed
    kinds = sorted(f.kind.value for f in flags(db))
    assert kinds == ["confirmed_outside_window", "short_notice"]
    actions = _audit_actions(db)
    assert actions.count("visit.confirmed") == 1
    assert actions.count("flag.raised") == 2


def test_device_time_is_parsed_leniently() -> None:
    get_settings.cache_clear()
    s = get_settings()
    assert service.parse_device_time("2026-11-16T01:00:05.123Z", s) == datetime(
        2026, 11, 16, 1, 0, 5, 123000, tzinfo=UTC
    )
    assert service.parse_device_time("not a time", s) is None
    assert service.parse_device_time("", s) is None
    naive = service.parse_device_time("2026-11-16T09:00:00", s)
    assert naive is not None
    assert naive.astimezone(UTC) == datetime(2026, 11, 16, 1, tzinfo=UTC)


def test_two_phones_confirming_at_once_make_one_confirmation(
    engine: Engine, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    colleague = make_user(
        db, role=Role.manager, username="manager1b", enterprise=world.ent_a, now=now
    )
    db.commit()
    presented = url_of(visit, now=now, settings=settings)
    factory = make_sessionmaker(engine)
    barrier = threading.Barrier(2)
    results: list[service.ScanResult] = []

    def scan(actor_id: int) -> None:
        with factory() as session:
            actor = session.get(User, actor_id)
            assert actor is not None
            session.commit()
            barrier.wait()
            results.append(
                service.scan_pass(
                    session,
                    actor=actor,
                    presented=presented,
                    device_time=None,
                    now=now,
                    settings=settings,
                    idempotency_key=None,
                )
            )

    threads = [
        threading.Thread(target=scan, args=(uid,)) for uid in (world.manager_a.id, colleague.id)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(str(r.reason_code) for r in results) == ["None", "already_confirmed"]
    recorded = scans(db)
    assert sorted(s.outcome.value for s in recorded) == ["confirmed", "refused"]
