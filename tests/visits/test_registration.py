"""register_visit / check_registration: what is written, every refusal, every warning."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import World, make_agency, make_inspector, make_plan_entry, make_user
from tests.visits.helpers import extra, fresh, planned, window, written
from webapp.audit.models import AuditEvent
from webapp.audit.service import verify_chain
from webapp.config import get_settings
from webapp.enums import Approval, CredentialStatus, FlagKind, Role, VisitStatus
from webapp.errors import DomainError
from webapp.supervision.models import Flag
from webapp.visits import service
from webapp.visits.service import RegistrationInput


def _fields(exc: DomainError) -> set[str]:
    return {e.field for e in exc.errors}


def test_planned_visit_is_registered_with_lead_team_and_the_entrys_items(
    db: Session, world: World, now: datetime
) -> None:
    visit = service.register_visit(
        db, actor=world.inspector1, data=planned(world, now), now=now, settings=get_settings()
    )
    fresh(db)
    assert visit.status == VisitStatus.registered
    assert visit.approval == Approval.not_required
    assert visit.plan_entry_id == world.entry_a.id
    assert visit.agency_id == world.county.id
    assert visit.enterprise_id == world.ent_a.id
    assert visit.registered_at == now
    assert visit.registered_by_id == world.inspector1.id
    assert [(m.inspector_id, m.position) for m in visit.team] == [
        (world.alice.id, 0),
        (world.bob.id, 1),
    ]
    # No items given: the plan entry's items.
    assert [i.id for i in visit.items] == [i.id for i in world.entry_a.items]
    assert len(visit.public_id) >= 20
    assert len(visit.pass_secret) == 32
    assert len(visit.code_prefix) == 5
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "visit.registered"))
    assert event is not None
    assert event.visit_id == visit.id
    data = json.loads(event.data)
    assert data["public_id"] == visit.public_id
    assert data["inspectors"] == [world.alice.id, world.bob.id]
    assert data["items"] == ["AQ-001", "AQ-002"]
    assert verify_chain(db).ok
    assert db.scalars(select(Flag)).all() == []


def test_the_actors_own_inspector_is_lead_even_if_named_as_co_inspector(
    db: Session, world: World, now: datetime
) -> None:
    data = planned(world, now, co_inspector_ids=[world.alice.id, world.bob.id, world.bob.id])
    visit = service.register_visit(
        db, actor=world.inspector1, data=data, now=now, settings=get_settings()
    )
    assert [m.inspector_id for m in visit.team] == [world.alice.id, world.bob.id]


def test_given_items_replace_the_plan_entrys(db: Session, world: World, now: datetime) -> None:
    data = planned(world, now, item_ids=[world.items[3].id])
    visit = service.register_visit(
        db, actor=world.inspector1, data=data, now=now, settings=get_settings()
    )
    assert [i.code for i in visit.items] == ["AQ-004"]


def test_extra_visit_is_pending_approval_and_warned_about_but_not_flagged(
    db: Session, world: World, now: datetime
) -> None:
    check = service.check_registration(db, actor=world.inspector1, data=extra(world, now), now=now)
    assert check.errors == []
    assert [f.rule for f in check.findings] == ["extra.needs_approval"]
    visit = service.register_visit(
        db, actor=world.inspector1, data=extra(world, now), now=now, settings=get_settings()
    )
    assert visit.approval == Approval.pending
    assert visit.plan_entry_id is None
    assert visit.extra_reason is not None
    assert visit.extra_reason_text.startswith("12345 hotline")
    assert fresh(db).scalars(select(Flag)).all() == []


def test_expired_co_inspector_credential_warns_and_raises_the_flag(
    db: Session, world: World, now: datetime
) -> None:
    data = planned(world, now, co_inspector_ids=[world.carol_expired.id])
    check = service.check_registration(db, actor=world.inspector1, data=data, now=now)
    assert check.errors == []  # two inspectors are named: a warning, not a refusal
    assert [f.kind for f in check.findings] == [FlagKind.too_few_valid_credentials]
    assert "Carol Zhang" in check.findings[0].params["invalid"]

    visit = service.register_visit(
        db, actor=world.inspector1, data=data, now=now, settings=get_settings()
    )
    flags = list(fresh(db).scalars(select(Flag)))
    assert len(flags) == 1
    flag = flags[0]
    assert flag.kind == FlagKind.too_few_valid_credentials
    assert flag.dedupe_key == f"visit:{visit.id}"
    assert flag.visit_id == visit.id
    assert flag.agency_id == world.county.id
    assert flag.enterprise_id == world.ent_a.id
    actions = list(db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions[-2:] == ["visit.registered", "flag.raised"]


def test_credential_expiring_during_a_multi_day_window_is_not_valid(
    db: Session, world: World, now: datetime
) -> None:
    # Valid until tomorrow; a window from today 23:00 to the day after 01:00 (Shanghai).
    short = make_inspector(
        db, agency=world.county, name="Eve Short", now=now, valid_until=now.date()
    )
    db.commit()
    start = now.replace(hour=15)  # 23:00 Shanghai
    data = planned(
        world,
        now,
        co_inspector_ids=[short.id],
        window_start=start,
        window_end=start + timedelta(hours=2),
    )
    check = service.check_registration(db, actor=world.inspector1, data=data, now=now)
    assert [f.kind for f in check.findings] == [FlagKind.too_few_valid_credentials]


def test_suspended_credential_is_not_valid(db: Session, world: World, now: datetime) -> None:
    suspended = make_inspector(
        db, agency=world.county, name="Sam Suspended", now=now, status=CredentialStatus.suspended
    )
    db.commit()
    data = planned(world, now, co_inspector_ids=[suspended.id])
    check = service.check_registration(db, actor=world.inspector1, data=data, now=now)
    assert [f.kind for f in check.findings] == [FlagKind.too_few_valid_credentials]


def test_valid_team_planned_visit_has_no_findings(db: Session, world: World, now: datetime) -> None:
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now), now=now
    )
    assert check.errors == []
    assert check.findings == []


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("no_enterprise", "enterprise_id"),
        ("unknown_enterprise", "enterprise_id"),
        ("entry_of_other_agency", "plan_entry_id"),
        ("entry_of_other_enterprise", "plan_entry_id"),
        ("entry_of_other_month", "plan_entry_id"),
        ("unknown_entry", "plan_entry_id"),
        ("one_inspector_only", "co_inspector_ids"),
        ("co_inspector_of_other_agency", "co_inspector_ids"),
        ("unknown_co_inspector", "co_inspector_ids"),
        ("no_items", "item_ids"),
        ("unknown_item", "item_ids"),
        ("end_before_start", "window_end"),
        ("already_over", "window_end"),
        ("no_window_start", "window_start"),
        ("no_window_end", "window_end"),
        ("too_long", "window_end"),
        ("too_far_ahead", "window_start"),
        ("extra_without_reason", "extra_reason"),
        ("extra_without_text", "extra_reason_text"),
        ("entry_and_reason", "extra_reason"),
    ],
)
def test_each_refusal_names_its_field_and_writes_nothing(
    db: Session, world: World, now: datetime, case: str, field: str
) -> None:
    start, end = window(now)
    if case == "no_enterprise":
        data = planned(world, now, enterprise_id=None)
    elif case == "unknown_enterprise":
        data = planned(world, now, enterprise_id=999_999)
    elif case == "entry_of_other_agency":
        other = make_plan_entry(
            db,
            agency=world.other_county,
            enterprise=world.ent_a,
            items=world.items[:1],
            month=world.month,
            now=now,
        )
        db.commit()
        data = planned(world, now, plan_entry_id=other.id)
    elif case == "entry_of_other_enterprise":
        data = planned(world, now, plan_entry_id=world.entry_b.id)
    elif case == "entry_of_other_month":
        december = make_plan_entry(
            db,
            agency=world.county,
            enterprise=world.ent_a,
            items=world.items[:1],
            month="2026-12",
            now=now,
        )
        db.commit()
        data = planned(world, now, plan_entry_id=december.id)
    elif case == "unknown_entry":
        data = planned(world, now, plan_entry_id=999_999)
    elif case == "one_inspector_only":
        data = planned(world, now, co_inspector_ids=[])
    elif case == "co_inspector_of_other_agency":
        data = planned(world, now, co_inspector_ids=[world.dave_other.id])
    elif case == "unknown_co_inspector":
        data = planned(world, now, co_inspector_ids=[world.bob.id, 999_999])
    elif case == "no_items":
        data = extra(world, now, item_ids=[])
    elif case == "unknown_item":
        data = planned(world, now, item_ids=[world.items[0].id, 999_999])
    elif case == "end_before_start":
        data = planned(world, now, window_start=end, window_end=start)
    elif case == "already_over":
        data = planned(
            world, now, window_start=now - timedelta(hours=4), window_end=now - timedelta(minutes=1)
        )
    elif case == "no_window_start":
        data = planned(world, now, window_start=None)
    elif case == "no_window_end":
        data = planned(world, now, window_end=None)
    elif case == "too_long":
        data = planned(world, now, window_end=start + timedelta(hours=25))
    elif case == "too_far_ahead":
        data = planned(
            world,
            now,
            window_start=now + timedelta(days=70),
            window_end=now + timedelta(days=70, hours=2),
        )
    elif case == "extra_without_reason":
        data = extra(world, now, extra_reason=None)
    elif case == "extra_without_text":
        data = extra(world, now, extra_reason_text="  ")
    elif case == "entry_and_reason":
        data = extra(world, now, plan_entry_id=world.entry_a.id)
    else:  # pragma: no cover
        raise AssertionError(case)
    before = written(db)

    check = service.check_registration(db, actor=world.inspector1, data=data, now=now)
    assert field in {e.field for e in check.errors}
    with pytest.raises(DomainError) as caught:
        service.register_visit(
            db,
            actor=world.inspector1,
            data=data,
            now=now,
            settings=get_settings(),
            idempotency_key=f"key-{case}",
        )
    assert caught.value.code == "validation_error"
    assert caught.value.status == 422
    assert field in _fields(caught.value)
    assert all(e.message for e in caught.value.errors)
    assert written(db) == before


def test_another_agencys_entry_is_not_described(db: Session, world: World, now: datetime) -> None:
    other = make_plan_entry(
        db,
        agency=world.other_county,
        enterprise=world.ent_b,
        items=world.items[:1],
        month=world.month,
        now=now,
    )
    db.commit()
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now, plan_entry_id=other.id), now=now
    )
    messages = [e.message % e.params if e.params else e.message for e in check.errors]
    assert not any("Beta" in m for m in messages)
    assert check.plan_entry is None


def test_entry_month_is_the_local_month_of_the_window_start(
    db: Session, world: World, now: datetime
) -> None:
    # 30 November 23:30 in Shanghai is still 30 November 15:30 UTC: a November visit...
    start = datetime.fromisoformat("2026-11-30T23:30:00+08:00")
    data = planned(world, now, window_start=start, window_end=start + timedelta(minutes=20))
    assert service.check_registration(db, actor=world.inspector1, data=data, now=now).errors == []
    # ...and 1 December 00:30 in Shanghai (still 30 November in UTC) is a December one.
    start = datetime.fromisoformat("2026-12-01T00:30:00+08:00")
    data = planned(world, now, window_start=start, window_end=start + timedelta(hours=1))
    errors = service.check_registration(db, actor=world.inspector1, data=data, now=now).errors
    assert [e.field for e in errors] == ["plan_entry_id"]
    assert errors[0].params == {"month": world.month, "window_month": "2026-12"}


def test_check_writes_nothing(db: Session, world: World, now: datetime) -> None:
    before = written(db)
    service.check_registration(
        db,
        actor=world.inspector1,
        data=planned(world, now, co_inspector_ids=[world.carol_expired.id]),
        now=now,
    )
    assert written(db) == before


@pytest.mark.parametrize("who", ["supervisor", "admin", "manager_a"])
def test_only_inspectors_register(db: Session, world: World, now: datetime, who: str) -> None:
    actor = getattr(world, who)
    before = written(db)
    with pytest.raises(DomainError) as caught:
        service.register_visit(
            db, actor=actor, data=planned(world, now), now=now, settings=get_settings()
        )
    assert caught.value.code == "forbidden"
    with pytest.raises(DomainError):
        service.check_registration(db, actor=actor, data=planned(world, now), now=now)
    assert written(db) == before


def test_inspector_registers_for_their_own_agency(db: Session, world: World, now: datetime) -> None:
    town = make_inspector(db, agency=world.town, name="Tom Town", now=now)
    town_colleague = make_inspector(db, agency=world.town, name="Tina Town", now=now)
    user = make_user(db, role=Role.inspector, inspector=town, now=now)
    db.commit()
    # The county's plan entry is not the town's.
    data = planned(world, now, co_inspector_ids=[town_colleague.id])
    check = service.check_registration(db, actor=user, data=data, now=now)
    assert "plan_entry_id" in {e.field for e in check.errors}
    visit = service.register_visit(
        db,
        actor=user,
        data=replace(extra(world, now), co_inspector_ids=[town_colleague.id]),
        now=now,
        settings=get_settings(),
    )
    assert visit.agency_id == world.town.id


# --- idempotency ------------------------------------------------------------------------


def test_same_key_and_request_returns_the_first_visit(
    db: Session, world: World, now: datetime
) -> None:
    settings = get_settings()
    first = service.register_visit(
        db,
        actor=world.inspector1,
        data=planned(world, now),
        now=now,
        settings=settings,
        idempotency_key="tap-1",
    )
    again = service.register_visit(
        db,
        actor=world.inspector1,
        data=planned(world, now),
        now=now,
        settings=settings,
        idempotency_key="tap-1",
    )
    assert again.public_id == first.public_id
    assert written(db)[0] == 1


def test_same_key_with_another_request_is_refused(db: Session, world: World, now: datetime) -> None:
    settings = get_settings()
    service.register_visit(
        db,
        actor=world.inspector1,
        data=planned(world, now),
        now=now,
        settings=settings,
        idempotency_key="tap-2",
    )
    before = written(db)
    with pytest.raises(DomainError) as caught:
        service.register_visit(
            db,
            actor=world.inspector1,
            data=extra(world, now),
            now=now,
            settings=settings,
            idempotency_key="tap-2",
        )
    assert caught.value.code == "idempotency_key_reused"
    assert written(db) == before


def test_keys_belong_to_their_user(db: Session, world: World, now: datetime) -> None:
    settings = get_settings()
    a = service.register_visit(
        db,
        actor=world.inspector1,
        data=planned(world, now),
        now=now,
        settings=settings,
        idempotency_key="shared",
    )
    data_b = planned(world, now, co_inspector_ids=[world.alice.id])
    b = service.register_visit(
        db,
        actor=world.inspector2,
        data=data_b,
        now=now,
        settings=settings,
        idempotency_key="shared",
    )
    assert a.public_id != b.public_id
    assert [m.inspector_id for m in b.team] == [world.bob.id, world.alice.id]


def test_without_a_key_each_request_registers(db: Session, world: World, now: datetime) -> None:
    settings = get_settings()
    service.register_visit(
        db, actor=world.inspector1, data=planned(world, now), now=now, settings=settings
    )
    service.register_visit(
        db, actor=world.inspector1, data=planned(world, now), now=now, settings=settings
    )
    assert written(db)[0] == 2


def test_a_bad_key_is_refused(db: Session, world: World, now: datetime) -> None:
    with pytest.raises(DomainError) as caught:
        service.register_visit(
            db,
            actor=world.inspector1,
            data=planned(world, now),
            now=now,
            settings=get_settings(),
            idempotency_key="x" * 101,
        )
    assert caught.value.code == "validation_error"
    assert written(db)[0] == 0


def test_digest_depends_on_every_field(world: World, now: datetime) -> None:
    base = planned(world, now)
    variants = [
        replace(base, enterprise_id=world.ent_b.id),
        replace(base, plan_entry_id=None),
        replace(base, extra_reason_text="x"),
        replace(base, co_inspector_ids=[]),
        replace(base, item_ids=[1]),
        replace(base, window_start=now),
        replace(base, window_end=now),
    ]
    digests = {base.digest()} | {v.digest() for v in variants}
    assert len(digests) == len(variants) + 1
    assert RegistrationInput(**vars(base)).digest() == base.digest()


def test_default_window_is_today_from_the_next_full_hour_for_three_hours(now: datetime) -> None:
    start, end = service.default_window(now)  # now: 09:00 in Shanghai
    assert start == datetime.fromisoformat("2026-11-16T10:00:00+08:00")
    assert end - start == timedelta(hours=3)
    start, _ = service.default_window(now + timedelta(minutes=35))
    assert start == datetime.fromisoformat("2026-11-16T10:00:00+08:00")


def test_other_county_agency_exists(world: World, db: Session, now: datetime) -> None:
    # A sanity check of the fixture the role tests rely on.
    assert world.dave_other.agency_id == world.other_county.id
    assert make_agency(db, now=now).id != world.county.id


def test_one_inspector_is_a_refusal_not_also_a_credentials_warning(
    db: Session, world: World, now: datetime
) -> None:
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now, co_inspector_ids=[]), now=now
    )
    assert [e.field for e in check.errors] == ["co_inspector_ids"]
    assert check.findings == []
