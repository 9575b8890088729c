"""Importing annual and monthly plans for one agency: the plan created if missing, entries
keyed by (enterprise, month), plan hygiene warned before applying and flagged after."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, login, make_enterprise
from tests.imports.helpers import PLAN_HEADER, check_rows, csv_bytes
from webapp.agencies.models import Agency
from webapp.audit.models import AuditEvent
from webapp.enums import FlagKind, ImportKind, ImportStatus, PlanKind
from webapp.errors import DomainError
from webapp.imports import service
from webapp.imports.hygiene import raise_plan_flags
from webapp.imports.models import ImportBatch
from webapp.plans.models import Plan, PlanEntry
from webapp.supervision.models import Flag


def _check(
    db: Session,
    world: World,
    rows: list[list[object]],
    now: datetime,
    *,
    kind: ImportKind = ImportKind.monthly_plan,
    agency: Agency | None = None,
    year: int | None = None,
) -> ImportBatch:
    return check_rows(
        db, world, rows, now, kind=kind, filename="plan.xlsx", agency=agency, year=year
    )


def _apply(db: Session, world: World, batch: ImportBatch, now: datetime) -> None:
    assert batch.status == ImportStatus.validated, service.report(db, batch).errors
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.expire_all()


def _entries(db: Session, agency: Agency, month: str) -> list[PlanEntry]:
    return list(
        db.scalars(
            select(PlanEntry)
            .where(PlanEntry.agency_id == agency.id, PlanEntry.month == month)
            .order_by(PlanEntry.id)
        )
    )


def _flags(db: Session, kind: FlagKind) -> list[Flag]:
    return list(db.scalars(select(Flag).where(Flag.kind == kind).order_by(Flag.id)))


def test_a_monthly_plan_is_created_with_its_entries(
    db: Session, world: World, now: datetime
) -> None:
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "Alpha", "2026-12", "AQ-001;AQ-002", "联合检查"],
        [world.ent_b.uscc, "Beta", "12", "aq-003、AQ-004", ""],
    ]
    batch = _check(db, world, rows, now)
    found = service.report(db, batch)
    assert found.plans == [{"period": "2026-12", "title": "", "exists": False, "rows": 2}]
    assert found.warnings == []
    _apply(db, world, batch, now)

    plan = db.scalar(
        select(Plan).where(
            Plan.agency_id == world.county.id, Plan.kind == PlanKind.monthly, Plan.month == 12
        )
    )
    assert plan is not None
    assert (plan.year, plan.created_by_id) == (2026, world.admin.id)
    entries = _entries(db, world.county, "2026-12")
    assert [(e.plan_id, e.enterprise_id, e.note) for e in entries] == [
        (plan.id, world.ent_a.id, "联合检查"),
        (plan.id, world.ent_b.id, ""),
    ]
    assert [[i.code for i in e.items] for e in entries] == [
        ["AQ-001", "AQ-002"],
        ["AQ-003", "AQ-004"],
    ]
    created = db.scalar(select(AuditEvent).where(AuditEvent.action == "plan.created"))
    assert created is not None
    assert json.loads(created.data)["month"] == 12

    again = _check(db, world, rows, now)
    assert (again.added, again.changed, again.unchanged) == (0, 0, 2)
    assert service.report(db, again).plans[0]["exists"] is True


def test_changed_items_update_the_entry_and_are_audited(
    db: Session, world: World, now: datetime
) -> None:
    # The world's monthly plan for 2026-11 has Alpha with AQ-001 and AQ-002.
    rows: list[list[object]] = [PLAN_HEADER, [world.ent_a.uscc, "", "2026-11", "AQ-001;AQ-004", ""]]
    batch = _check(db, world, rows, now)
    assert (batch.added, batch.changed) == (0, 1)
    assert service.report(db, batch).changed[0].fields == [
        ("items", "AQ-001; AQ-002", "AQ-001; AQ-004")
    ]
    _apply(db, world, batch, now)
    entry = db.get(PlanEntry, world.entry_a.id)
    assert entry is not None
    assert [i.code for i in entry.items] == ["AQ-001", "AQ-004"]
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "plan_entry.changed"))
    assert event is not None
    assert event.object_id == str(world.entry_a.id)
    assert json.loads(event.data)["changes"] == {
        "items": [["AQ-001", "AQ-002"], ["AQ-001", "AQ-004"]]
    }


def test_bad_plan_rows_name_the_item_code_and_the_missing_enterprise(
    db: Session, world: World, now: datetime
) -> None:
    from tests.imports.helpers import codes

    unknown_code = codes(1)[0]
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "", "2026-12", "AQ-001;ZZ-999", ""],
        [unknown_code, "", "2026-12", "AQ-001", ""],
        [world.ent_b.uscc, "", "Dec", "", ""],
    ]
    batch = _check(db, world, rows, now)
    assert batch.status == ImportStatus.failed
    errors = [(e.line, e.column, e.message, e.params) for e in service.report(db, batch).errors]
    assert errors == [
        (
            2,
            "检查事项编码",
            "Unknown item code %(codes)s: use codes from the item list.",
            {"codes": "ZZ-999"},
        ),
        (
            3,
            "统一社会信用代码",
            "Enterprise with credit code %(code)s not found: import or add the enterprise first.",
            {"code": unknown_code},
        ),
        (
            4,
            "检查月份",
            "'%(value)s' is not a month: write YYYY-MM (e.g. 2026-12), or 1 to 12 for a month "
            "of %(year)s.",
            {"value": "Dec", "year": 2026},
        ),
        (4, "检查事项编码", "List at least one item code (separate several with ; or 、).", {}),
    ]
    assert _entries(db, world.county, "2026-12") == []


def test_a_row_repeated_exactly_is_an_error(db: Session, world: World, now: datetime) -> None:
    row: list[object] = [world.ent_a.uscc, "", "2026-12", "AQ-001", "x"]
    batch = _check(db, world, [PLAN_HEADER, row, list(row)], now)
    assert batch.status == ImportStatus.failed
    [error] = service.report(db, batch).errors
    assert (error.line, error.params) == (3, {"line": 2, "key": f"{world.ent_a.uscc}|2026-12"})


def test_a_plan_putting_an_enterprise_twice_into_a_month_is_warned_then_flagged(
    db: Session, world: World, now: datetime
) -> None:
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "", "2026-12", "AQ-001", "安全科"],
        [world.ent_b.uscc, "", "2026-12", "AQ-003", ""],
        [world.ent_a.uscc, "", "2026-12", "AQ-002", "危化科"],
    ]
    batch = _check(db, world, rows, now)
    [(message, params)] = service.report(db, batch).warnings
    assert "rows %(lines)s of the file" in message
    assert (params["enterprise"], params["month"], params["lines"], params["count"]) == (
        "Alpha Chemicals",
        "2026-12",
        "2, 4",
        2,
    )
    _apply(db, world, batch, now)
    entries = [
        e for e in _entries(db, world.county, "2026-12") if e.enterprise_id == world.ent_a.id
    ]
    assert len(entries) == 2  # the plan as filed; the flag proposes the merge
    [flag] = _flags(db, FlagKind.plan_duplicate)
    assert (flag.agency_id, flag.enterprise_id, flag.plan_entry_id) == (
        world.county.id,
        world.ent_a.id,
        entries[0].id,
    )
    assert json.loads(flag.detail)["rule"] == "plan.duplicate"

    # The same file again: nothing changes and no second flag.
    again = _check(db, world, rows, now)
    assert (again.added, again.changed, again.unchanged) == (0, 0, 3)
    _apply_nothing = service.apply_batch(db, actor=world.admin, batch_id=again.id, now=now)
    assert _apply_nothing.status == ImportStatus.applied
    assert len(_flags(db, FlagKind.plan_duplicate)) == 1


def test_another_agency_planning_the_same_enterprise_and_month_is_a_merge_candidate(
    db: Session, world: World, now: datetime
) -> None:
    # The county plans Alpha for 2026-11 (the world); the other county now does too.
    rows: list[list[object]] = [PLAN_HEADER, [world.ent_a.uscc, "", "2026-11", "AQ-002", ""]]
    batch = _check(db, world, rows, now, agency=world.other_county)
    [(message, params)] = service.report(db, batch).warnings
    assert "merge into one joint visit" in message
    assert params["agencies"] == "Example County Bureau, Other County Bureau"
    _apply(db, world, batch, now)
    flags = _flags(db, FlagKind.merge_candidate)
    assert sorted(f.agency_id for f in flags) == sorted([world.county.id, world.other_county.id])
    by_agency = {f.agency_id: f.plan_entry_id for f in flags}
    assert by_agency[world.county.id] == world.entry_a.id
    [other_entry] = _entries(db, world.other_county, "2026-11")
    assert by_agency[world.other_county.id] == other_entry.id
    assert raise_plan_flags(db, months={"2026-11"}, now=now)  # run again: the same two flags
    assert len(_flags(db, FlagKind.merge_candidate)) == 2


def test_an_enterprise_in_one_agencys_plan_only_raises_nothing(
    db: Session, world: World, now: datetime
) -> None:
    ent = make_enterprise(db, agency=world.county, now=now)
    db.commit()
    rows: list[list[object]] = [PLAN_HEADER, [ent.uscc, "", "2026-11", "AQ-001", ""]]
    batch = _check(db, world, rows, now)
    assert service.report(db, batch).warnings == []
    _apply(db, world, batch, now)
    assert db.scalar(select(func.count()).select_from(Flag)) == 0


def test_an_annual_plan_spans_the_months_of_its_year(
    db: Session, world: World, now: datetime
) -> None:
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "", "2027-03", "AQ-001", ""],
        [world.ent_a.uscc, "", "2027-09", "AQ-002", ""],
        [world.ent_b.uscc, "", "3", "AQ-003", ""],
    ]
    batch = _check(db, world, rows, now, kind=ImportKind.annual_plan, year=2027)
    assert service.report(db, batch).plans == [
        {"period": "2027", "title": "", "exists": False, "rows": 3}
    ]
    _apply(db, world, batch, now)
    [plan] = db.scalars(select(Plan).where(Plan.kind == PlanKind.annual))
    assert (plan.year, plan.month, plan.agency_id) == (2027, None, world.county.id)
    assert sorted(e.month for e in plan.entries) == ["2027-03", "2027-03", "2027-09"]
    # The monthly plan for the same month refines the annual one: not a duplicate.
    monthly = _check(db, world, [PLAN_HEADER, [world.ent_a.uscc, "", "2027-03", "AQ-001", ""]], now)
    assert service.report(db, monthly).warnings == []


def test_a_plan_import_needs_its_agency(db: Session, world: World, now: datetime) -> None:
    with pytest.raises(DomainError) as caught:
        service.check_file(
            db,
            actor=world.admin,
            kind=ImportKind.monthly_plan,
            filename="p.csv",
            data=csv_bytes([PLAN_HEADER]),
            now=now,
        )
    assert caught.value.code == "validation_error"
    assert [e.field for e in caught.value.errors] == ["agency_id"]


def test_the_supervisor_sees_the_plan_hygiene_flags(
    db: Session, world: World, now: datetime, client: TestClient
) -> None:
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "", "2026-12", "AQ-001", ""],
        [world.ent_a.uscc, "", "2026-12", "AQ-002", ""],
    ]
    _apply(db, world, _check(db, world, rows, now), now)
    [flag] = _flags(db, FlagKind.plan_duplicate)
    login(client, "supervisor1")
    listing = client.get("/supervision/flags")
    assert listing.status_code == 200
    assert f"/supervision/flags/{flag.id}" in listing.text
    page = client.get(f"/supervision/flags/{flag.id}")
    assert page.status_code == 200
    assert "Alpha Chemicals" in page.text
    assert "merge them into one entry" in page.text
    # The other county's supervisor does not see the county's plan.
    client.cookies.clear()
    login(client, "supervisor9")
    assert client.get(f"/supervision/flags/{flag.id}").status_code == 404
