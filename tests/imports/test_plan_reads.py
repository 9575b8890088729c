"""A plan import reads less of the database than it used to, and does the same: the flags
of the months it writes (SQLite counts each (enterprise, month) instead of reading the
months whole), the preview and the snapshot of a month nobody planned yet (one probe),
the enterprises of the file (JSON texts on SQLite), and every refusal of a batch whose
data moved after the check."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, make_enterprise, make_plan_entry
from tests.imports.helpers import PLAN_HEADER, assert_refused_as_stale, check_rows
from webapp.agencies.models import Agency
from webapp.enterprises.models import Enterprise
from webapp.enums import FlagKind, ImportKind, ImportStatus, PlanKind
from webapp.imports import diff, hygiene, service
from webapp.imports.models import ImportBatch
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry
from webapp.supervision.models import Flag


def _check(
    db: Session,
    world: World,
    rows: list[list[object]],
    now: datetime,
) -> ImportBatch:
    batch = check_rows(
        db, world, [PLAN_HEADER, *rows], now, kind=ImportKind.monthly_plan, filename="p.csv"
    )
    assert batch.status == ImportStatus.validated, service.report(db, batch).errors
    return batch


def _apply(db: Session, world: World, batch: ImportBatch, now: datetime) -> None:
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.expire_all()


def _flags(db: Session) -> list[tuple[FlagKind, int | None, int | None]]:
    return sorted(
        (f.kind, f.agency_id, f.enterprise_id)
        for f in db.scalars(select(Flag).where(Flag.kind.in_(_PLAN_FLAGS)))
    )


def _merge_candidates_of_alpha(world: World) -> list[tuple[FlagKind, int | None, int | None]]:
    """The two counties' merge candidates for Alpha, as `_flags` lists them."""
    return sorted(
        [
            (FlagKind.merge_candidate, world.county.id, world.ent_a.id),
            (FlagKind.merge_candidate, world.other_county.id, world.ent_a.id),
        ]
    )


_PLAN_FLAGS = [FlagKind.plan_duplicate, FlagKind.merge_candidate]


def _items(db: Session) -> list[InspectionItem]:
    return list(db.scalars(select(InspectionItem).order_by(InspectionItem.code)))


def _plan(db: Session, agency: Agency, enterprise: Enterprise, month: str, now: datetime) -> None:
    """One entry of `agency`'s plan for `month` (the first item), committed."""
    make_plan_entry(
        db, agency=agency, enterprise=enterprise, items=_items(db)[:1], month=month, now=now
    )
    db.commit()


def _refused(db: Session, world: World, batch: ImportBatch, now: datetime) -> None:
    assert_refused_as_stale(db, batch, now, world.admin)


@pytest.fixture
def facts_read(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The arguments of every `hygiene.entry_facts` call made during the test."""
    read: list[dict[str, Any]] = []
    entry_facts = hygiene.entry_facts

    def spy(session: Session, **kw: Any) -> Any:
        read.append(kw)
        return entry_facts(session, **kw)

    monkeypatch.setattr(hygiene, "entry_facts", spy)
    return read


# --- the flags of the months the apply writes ---------------------------------------------------


def test_the_apply_flags_every_shared_pair_of_its_months_as_a_full_read_does(
    db: Session, world: World, now: datetime
) -> None:
    # In 2026-12, before the import: the other county plans Beta twice (a duplicate the
    # file has nothing to do with) and Alpha once; the file adds Alpha (a merge candidate
    # with the other county), a new enterprise twice (a duplicate of the file's own) and
    # another once (nothing).
    items = _items(db)
    for enterprise in (world.ent_b, world.ent_b, world.ent_a):
        make_plan_entry(
            db,
            agency=world.other_county,
            enterprise=enterprise,
            items=items[:1],
            month="2026-12",
            now=now,
        )
    twice = make_enterprise(db, agency=world.county, now=now)
    once = make_enterprise(db, agency=world.county, now=now)
    db.commit()
    rows: list[list[object]] = [
        [world.ent_a.uscc, "", "2026-12", "AQ-001", ""],
        [twice.uscc, "", "2026-12", "AQ-001", ""],
        [once.uscc, "", "2026-12", "AQ-002", ""],
        [twice.uscc, "", "2026-12", "AQ-003", ""],
    ]
    _apply(db, world, _check(db, world, rows, now), now)
    counted = hygiene.slot_counts(db, {"2026-12"})
    assert hygiene._shared_facts(db, counted) == hygiene.entry_facts(
        db, months={"2026-12"}, shared_only=True
    )
    county, other = world.county.id, world.other_county.id
    assert _flags(db) == sorted(
        [
            (FlagKind.plan_duplicate, other, world.ent_b.id),
            (FlagKind.plan_duplicate, county, twice.id),
            (FlagKind.merge_candidate, county, world.ent_a.id),
            (FlagKind.merge_candidate, other, world.ent_a.id),
        ]
    )
    # The months read whole (the other way) find the same flags: none new.
    hygiene.raise_plan_flags(db, months={"2026-12"}, now=now)
    db.commit()
    assert len(_flags(db)) == 4


@pytest.mark.parametrize("chunk", [1, 2])
def test_the_counts_hold_across_chunks(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Written a row or two at a time: a pair the file repeats in two chunks, a month first
    touched by a later chunk (whose entries the database holds), and (chunk 2) a chunk with
    an added and a changed row."""
    monkeypatch.setattr(service, "CHUNK", chunk)
    twice = make_enterprise(db, agency=world.county, now=now)
    once = make_enterprise(db, agency=world.county, now=now)
    third = make_enterprise(db, agency=world.county, now=now)
    _plan(db, world.other_county, third, world.month, now)
    rows: list[list[object]] = [
        [twice.uscc, "", "2026-12", "AQ-001", ""],
        [once.uscc, "", "2026-12", "AQ-002", ""],
        [twice.uscc, "", "2026-12", "AQ-003", ""],  # the same pair, in a later chunk
        [world.ent_a.uscc, "", world.month, "AQ-004", ""],  # changed (its items)
        [third.uscc, "", world.month, "AQ-001", ""],  # beside the other county's entry
    ]
    batch = _check(db, world, rows, now)
    assert (batch.added, batch.changed) == (4, 1)
    _apply(db, world, batch, now)
    county, other = world.county.id, world.other_county.id
    expected = sorted(
        [
            (FlagKind.plan_duplicate, county, twice.id),
            (FlagKind.merge_candidate, county, third.id),
            (FlagKind.merge_candidate, other, third.id),
        ]
    )
    assert _flags(db) == expected
    # The months read whole find the same: nothing new.
    hygiene.raise_plan_flags(db, months={"2026-12", world.month}, now=now)
    db.commit()
    assert _flags(db) == expected


def test_a_month_the_file_only_changes_is_checked_for_flags_too(
    db: Session, world: World, now: datetime
) -> None:
    # The other county plans Alpha in the world's month without any flag raised; the file
    # only changes the county's entry of Alpha there (its items): that month is read too.
    _plan(db, world.other_county, world.ent_a, world.month, now)
    assert _flags(db) == []
    batch = _check(db, world, [[world.ent_a.uscc, "", world.month, "AQ-004", ""]], now)
    assert (batch.added, batch.changed) == (0, 1)
    _apply(db, world, batch, now)
    assert _flags(db) == _merge_candidates_of_alpha(world)


def test_entries_are_read_for_the_flags_only_when_a_pair_is_shared(
    db: Session, world: World, now: datetime, facts_read: list[dict[str, Any]]
) -> None:
    lone = make_enterprise(db, agency=world.county, now=now)
    db.commit()
    rows: list[list[object]] = [
        [world.ent_a.uscc, "", "2026-12", "AQ-001", ""],
        [lone.uscc, "", "2026-12", "AQ-002", ""],
    ]
    _apply(db, world, _check(db, world, rows, now), now)
    sqlite = db.get_bind().dialect.name == "sqlite"
    assert facts_read == ([] if sqlite else [{"months": {"2026-12"}, "shared_only": True}])
    assert _flags(db) == []


def test_an_entry_another_agency_adds_after_the_check_is_flagged_at_the_apply(
    db: Session, world: World, now: datetime
) -> None:
    batch = _check(db, world, [[world.ent_a.uscc, "", "2026-12", "AQ-001", ""]], now)
    assert service.report(db, batch).warnings == []
    _plan(db, world.other_county, world.ent_a, "2026-12", now)
    _apply(db, world, batch, now)  # not the agency's plan: not stale
    assert _flags(db) == _merge_candidates_of_alpha(world)


# --- the preview and the snapshot of a month nobody planned -------------------------------------


def test_the_preview_of_an_unplanned_month_sends_no_enterprise_list(
    db: Session, world: World, now: datetime, facts_read: list[dict[str, Any]]
) -> None:
    # Alpha in two months nobody planned: no finding, nothing read.
    rows: list[list[object]] = [
        [world.ent_a.uscc, "", "2026-12", "AQ-001", ""],
        [world.ent_a.uscc, "", "2027-01", "AQ-001", ""],
    ]
    assert service.report(db, _check(db, world, rows, now)).warnings == []
    assert facts_read == []
    # Alpha twice in one of them: warned (read, as before).
    rows.append([world.ent_a.uscc, "", "2026-12", "AQ-002", ""])
    [(_, params)] = service.report(db, _check(db, world, rows, now)).warnings
    assert (params["enterprise_id"], params["line_numbers"]) == (world.ent_a.id, [2, 4])
    # Beta in the world's month, which the county planned already: read.
    facts_read.clear()
    assert (
        service.report(
            db, _check(db, world, [[world.ent_b.uscc, "", world.month, "AQ-003", ""]], now)
        ).warnings
        == []
    )
    assert len(facts_read) == 1


def test_an_entry_the_agency_adds_to_a_month_unplanned_at_the_check_makes_the_batch_stale(
    db: Session, world: World, now: datetime
) -> None:
    # The county's plan of 2026-12 exists, empty: only the entry added moves the snapshot.
    db.add(
        Plan(
            agency_id=world.county.id,
            kind=PlanKind.monthly,
            year=2026,
            month=12,
            title="2026-12 plan",
            created_at=now,
        )
    )
    db.commit()
    batch = _check(db, world, [[world.ent_a.uscc, "", "2026-12", "AQ-001", ""]], now)
    _plan(db, world.county, world.ent_a, "2026-12", now)
    _refused(db, world, batch, now)


def test_a_plan_created_after_the_check_makes_the_batch_stale(
    db: Session, world: World, now: datetime
) -> None:
    batch = _check(db, world, [[world.ent_a.uscc, "", "2026-12", "AQ-001", ""]], now)
    db.add(
        Plan(
            agency_id=world.county.id,
            kind=PlanKind.monthly,
            year=2026,
            month=12,
            title="filed by hand",
            created_at=now,
        )
    )
    db.commit()
    _refused(db, world, batch, now)


def test_an_item_code_moved_after_the_check_makes_the_batch_stale(
    db: Session, world: World, now: datetime
) -> None:
    batch = _check(db, world, [[world.ent_a.uscc, "", "2026-12", "AQ-001;AQ-002", ""]], now)
    first, second = _items(db)[:2]  # AQ-001 and AQ-002 swap their codes
    first.code = "AQ-TMP"
    db.flush()
    second.code = "AQ-001"
    db.flush()
    first.code = "AQ-002"
    db.commit()
    _refused(db, world, batch, now)
    assert (
        db.scalar(select(func.count()).select_from(PlanEntry).where(PlanEntry.month == "2026-12"))
        == 0
    )


def test_the_agencys_plans_are_read_as_the_orm_reads_them(db: Session, world: World) -> None:
    found = diff.agency_plans(db, world.county.id, PlanKind.monthly)
    assert sorted(found) == sorted(  # in no order: its callers build dicts
        (f"{p.year:04d}-{p.month:02d}", p.id, p.title)
        for p in db.scalars(
            select(Plan).where(Plan.agency_id == world.county.id, Plan.kind == PlanKind.monthly)
        )
    )
    assert found  # the world's month
    assert diff.agency_plans(db, world.county.id, PlanKind.annual) == []


# --- the file's enterprises, and the lookups by list --------------------------------------------


def test_the_enterprises_by_code_are_those_a_lookup_by_list_gives(
    db: Session, world: World, now: datetime
) -> None:
    odd = make_enterprise(db, agency=world.county, now=now)
    odd.name = 'Quote " and back\\slash, 全角　空格 and 😀'
    db.commit()
    codes = [world.ent_a.uscc, odd.uscc, world.ent_b.uscc, "91320582MA0000000X"]
    rows = diff.select_among(
        db, select(Enterprise.uscc, Enterprise.id, Enterprise.name), Enterprise.uscc, codes
    )
    expected = {code: (ident, name) for code, ident, name in rows}
    assert len(expected) == 3
    assert diff.enterprises_by_code(db, codes) == expected
    assert diff.enterprises_by_code(db, []) == {}
    assert diff.enterprises_by_code(db, ["91320582MA0000000X"]) == {}


def test_a_lookup_not_joined_gives_the_rows_a_joined_one_gives(
    db: Session, world: World, now: datetime
) -> None:
    stmt = (
        select(PlanEntry.id, PlanEntry.enterprise_id)
        .where(PlanEntry.month == world.month)
        .order_by(PlanEntry.id)
    )
    ids = [world.ent_b.id, world.ent_a.id, world.ent_b.id, 10**6]
    expected = [
        (e.id, e.enterprise_id)
        for e in db.scalars(
            select(PlanEntry).where(PlanEntry.month == world.month).order_by(PlanEntry.id)
        )
        if e.enterprise_id in ids
    ]
    assert len(expected) >= 2
    joined = diff.select_among(db, stmt, PlanEntry.enterprise_id, ids)
    not_joined = diff.select_among(db, stmt, PlanEntry.enterprise_id, ids, joined=False)
    assert [tuple(r) for r in joined] == [tuple(r) for r in not_joined] == expected


def test_the_months_slots_are_counted_over_every_agency(
    db: Session, world: World, now: datetime
) -> None:
    _plan(db, world.other_county, world.ent_a, world.month, now)
    assert hygiene.slot_counts(db, {world.month, "2026-12"}) == Counter(
        {(world.ent_a.id, world.month): 2, (world.ent_b.id, world.month): 1}
    )
    assert hygiene.slot_counts(db, set()) == Counter()
    assert diff.months_planned(db, [world.month, "2026-12"])
    assert not diff.months_planned(db, ["2026-12"])
    assert not diff.months_planned(db, [])


def test_a_list_orjson_refuses_goes_as_json_gives_it() -> None:
    """An integer beyond 64 bits or a lone surrogate: the standard library's text."""
    for refused in ([2**70, 1], ["\ud800", "a"]):
        assert diff._json_text(refused) == json.dumps(refused)
    assert json.loads(diff._json_text(["plain", "全角"])) == ["plain", "全角"]


def test_the_preview_leaves_out_the_entries_the_file_replaces(
    db: Session, world: World, now: datetime
) -> None:
    """The month's only entries are the agency's own, which the file lists again: no
    warning (the second shortcut), as when the database's entries are read."""
    rows: list[list[object]] = [
        [world.ent_a.uscc, "", world.month, "AQ-001;AQ-002", ""],
        [world.ent_b.uscc, "", world.month, "AQ-003", ""],
    ]
    batch = _check(db, world, rows, now)
    assert service.report(db, batch).warnings == []
    _plan(db, world.other_county, world.ent_b, world.month, now)
    batch = _check(db, world, rows, now)
    assert len(service.report(db, batch).warnings) == 1  # now beside another agency's
