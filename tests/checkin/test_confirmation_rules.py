"""The rules that raise the supervisor's flag at the confirming scan: merge candidate (another
team confirmed at the enterprise this month), over cap, item frequency (confirmed visits this
year), credential field, confirmed outside the window proper. Each raised exactly once, on
the confirmed visit; and not raised where the rule does not apply."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.checkin.helpers import flags, make_visit, url_of
from tests.factories import World, make_inspector
from tests.factories import make_visit as make_any_visit
from webapp.agencies.models import Credential
from webapp.checkin import service
from webapp.config import Settings, get_settings
from webapp.enums import Approval, ExtraReason, FlagKind, Severity
from webapp.supervision.models import Flag
from webapp.visits.models import Visit


@pytest.fixture
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


def _confirm(db: Session, world: World, visit: Visit, *, now: datetime, settings: Settings) -> None:
    result = service.scan_pass(
        db,
        actor=world.manager_a if visit.enterprise_id == world.ent_a.id else world.manager_b,
        presented=url_of(visit, now=now, settings=settings),
        device_time=None,
        now=now,
        settings=settings,
        idempotency_key=None,
    )
    assert result.confirmed, result.reason_code


def _of(kind: FlagKind, db: Session) -> list[Flag]:
    return [f for f in flags(db) if f.kind == kind]


def _earlier(db: Session, world: World, now: datetime, *, days: int, **kw: object) -> Visit:
    """A confirmed county visit at Beta Machinery `days` ago (planned unless extra)."""
    kw.setdefault("enterprise", world.ent_b)
    kw.setdefault("inspectors", [world.alice, world.bob])
    kw.setdefault("items", [world.items[2]])
    if "extra_reason" not in kw:
        kw.setdefault("plan_entry", world.entry_b)
    visit = make_any_visit(
        db,
        agency=world.county,
        registered_by=world.inspector1,
        now=now,
        status="confirmed",
        window_start=now - timedelta(days=days),
        **kw,  # type: ignore[arg-type]
    )
    db.commit()
    return visit


# --- merge.candidate --------------------------------------------------------------------------


def _other_agency_at_alpha(db: Session, world: World, now: datetime, *, status: str) -> Visit:
    second = make_inspector(db, agency=world.other_county, now=now)
    visit = make_any_visit(
        db,
        agency=world.other_county,
        enterprise=world.ent_a,
        inspectors=[world.dave_other, second],
        items=[world.items[3]],
        registered_by=world.inspector_other,
        extra_reason="special_campaign",
        approval="approved",
        status=status,
        now=now,
        window_start=now - timedelta(days=3),
    )
    db.commit()
    return visit


def test_confirmed_after_another_agencys_confirmed_visit_this_month_is_a_merge_flag(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    _other_agency_at_alpha(db, world, now, status="confirmed")
    visit = make_visit(db, world, now=now)
    _confirm(db, world, visit, now=now, settings=settings)
    [flag] = _of(FlagKind.merge_candidate, db)
    assert (flag.visit_id, flag.dedupe_key, flag.agency_id, flag.severity) == (
        visit.id,
        f"visit:{visit.id}",
        world.county.id,
        Severity.warning,
    )
    detail = json.loads(flag.detail)
    assert detail["rule"] == "merge.candidate"
    assert "Other County Bureau" in detail["params"]["visits"]
    # A second scan of the same pass is refused: no second merge flag.
    again = service.scan_pass(
        db,
        actor=world.manager_a,
        presented=url_of(visit, now=now, settings=settings),
        device_time=None,
        now=now,
        settings=settings,
        idempotency_key=None,
    )
    assert again.reason_code == "already_confirmed"
    assert len(_of(FlagKind.merge_candidate, db)) == 1


def test_another_agencys_visit_not_confirmed_is_no_merge_flag(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    """Afterwards only visits that took place count (a registered one may still merge or be
    cancelled; it was warned about at registration)."""
    _other_agency_at_alpha(db, world, now, status="registered")
    visit = make_visit(db, world, now=now)
    _confirm(db, world, visit, now=now, settings=settings)
    assert _of(FlagKind.merge_candidate, db) == []


def test_a_case_driven_visit_is_no_merge_flag(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    _other_agency_at_alpha(db, world, now, status="confirmed")
    visit = make_visit(db, world, now=now, extra=ExtraReason.accident, approval=Approval.approved)
    _confirm(db, world, visit, now=now, settings=settings)
    assert _of(FlagKind.merge_candidate, db) == []


# --- caps.over_cap ----------------------------------------------------------------------------


def test_confirmed_beyond_the_yearly_cap_is_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    # Beta Machinery: class "other", grade 2 -> 2 a year; two confirmed already, one complaint.
    _earlier(db, world, now, days=120)
    _earlier(db, world, now, days=60)
    _earlier(db, world, now, days=90, extra_reason="complaint", approval="approved")
    visit = make_visit(db, world, now=now, enterprise=world.ent_b)
    _confirm(db, world, visit, now=now, settings=settings)
    [flag] = _of(FlagKind.over_cap, db)
    assert (flag.visit_id, flag.dedupe_key) == (visit.id, f"visit:{visit.id}")
    assert json.loads(flag.detail)["params"] == {"count": 3, "cap": 2, "case_driven": 1}


def test_confirmed_within_the_cap_is_not_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    _earlier(db, world, now, days=120)
    # Registered (never confirmed) and cancelled visits do not count afterwards.
    make_any_visit(
        db,
        agency=world.county,
        enterprise=world.ent_b,
        inspectors=[world.alice, world.bob],
        items=[world.items[2]],
        registered_by=world.inspector1,
        plan_entry=world.entry_b,
        status="cancelled",
        now=now,
        window_start=now - timedelta(days=30),
    )
    db.commit()
    visit = make_visit(db, world, now=now, enterprise=world.ent_b)
    _confirm(db, world, visit, now=now, settings=settings)
    assert _of(FlagKind.over_cap, db) == []


def test_a_case_driven_visit_beyond_the_cap_is_not_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    _earlier(db, world, now, days=120)
    _earlier(db, world, now, days=60)
    visit = make_visit(
        db,
        world,
        now=now,
        enterprise=world.ent_b,
        extra=ExtraReason.complaint,
        approval=Approval.approved,
    )
    _confirm(db, world, visit, now=now, settings=settings)
    assert _of(FlagKind.over_cap, db) == []


# --- items.frequency --------------------------------------------------------------------------


def test_an_item_confirmed_more_often_than_allowed_is_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    world.items[2].max_per_year = 1
    db.commit()
    _earlier(db, world, now, days=30)  # item 2 at Beta Machinery
    visit = make_visit(db, world, now=now, enterprise=world.ent_b, items=world.items[2:])
    _confirm(db, world, visit, now=now, settings=settings)
    [flag] = _of(FlagKind.item_frequency, db)
    assert flag.visit_id == visit.id
    assert json.loads(flag.detail)["params"] == {"items": "AQ-003 (2/1)"}


def test_an_item_within_its_frequency_is_not_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    world.items[2].max_per_year = 2
    db.commit()
    _earlier(db, world, now, days=30)
    visit = make_visit(db, world, now=now, enterprise=world.ent_b, items=world.items[2:])
    _confirm(db, world, visit, now=now, settings=settings)
    assert _of(FlagKind.item_frequency, db) == []


# --- credentials.field ------------------------------------------------------------------------


def test_a_credential_not_covering_an_items_field_is_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    world.items[0].field = "hazchem"
    db.query(Credential).filter_by(inspector_id=world.bob.id).one().fields = "mining"
    db.commit()
    visit = make_visit(db, world, now=now)
    _confirm(db, world, visit, now=now, settings=settings)
    [flag] = _of(FlagKind.credential_field, db)
    assert flag.visit_id == visit.id
    assert json.loads(flag.detail)["params"] == {"problems": "Bob Wang: AQ-001 (hazchem)"}


def test_credentials_covering_every_item_are_not_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    world.items[0].field = "hazchem"
    db.query(Credential).filter_by(inspector_id=world.bob.id).one().fields = "hazchem mining"
    db.commit()
    visit = make_visit(db, world, now=now)
    _confirm(db, world, visit, now=now, settings=settings)
    assert _of(FlagKind.credential_field, db) == []


# --- timing.outside_window --------------------------------------------------------------------


def test_confirmed_within_the_tolerance_but_before_the_window_is_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(
        db, world, now=now, window=(now + timedelta(minutes=20), now + timedelta(hours=2))
    )
    _confirm(db, world, visit, now=now, settings=settings)
    [flag] = _of(FlagKind.confirmed_outside_window, db)
    assert flag.visit_id == visit.id
    assert json.loads(flag.detail)["params"] == {"minutes": 20, "early": True}


def test_confirmed_inside_the_window_is_not_flagged(
    db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)  # window: an hour ago to three hours ahead
    _confirm(db, world, visit, now=now, settings=settings)
    assert flags(db) == []
