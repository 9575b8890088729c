"""A plan's apply refuses a stale batch (`import_stale`) when an enterprise the file names
moved since the check, though it no longer reads the enterprises again: the check stores
each row's enterprise id and the apply counts whether the database still holds exactly
those (`diff.holds_enterprises`); if not, it reads them as before and the snapshot differs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, make_enterprise
from tests.imports.helpers import assert_refused_as_stale, check_rows, codes
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportKind, ImportStatus
from webapp.imports import diff, service
from webapp.imports.models import ImportBatch
from webapp.plans.models import PlanEntry

HEADER: list[object] = ["统一社会信用代码", "企业名称", "检查月份", "检查事项编码", "备注"]


def _rows(world: World, lone: Enterprise, by_column: bool) -> list[list[object]]:
    rows: list[list[object]] = [
        HEADER,
        [world.ent_a.uscc, "", "2026-12", "AQ-001;AQ-002", ""],
        [lone.uscc, "", "2026-12", "AQ-003", "联合检查"],
    ]
    if not by_column:  # a (credit code, month) twice: checked row by row
        rows.append([lone.uscc, "", "2026-12", "AQ-004", ""])
    return rows


def _check(db: Session, world: World, rows: list[list[object]], now: datetime) -> ImportBatch:
    batch = check_rows(db, world, rows, now, kind=ImportKind.monthly_plan, filename="p.csv")
    assert batch.status == ImportStatus.validated, service.report(db, batch).errors
    return batch


def _entries(db: Session) -> int:
    return (
        db.scalar(select(func.count()).select_from(PlanEntry).where(PlanEntry.month == "2026-12"))
        or 0
    )


def _refused(db: Session, world: World, batch: ImportBatch, now: datetime) -> None:
    before = _entries(db)
    assert_refused_as_stale(db, batch, now, world.admin)
    assert _entries(db) == before


def _checked(
    db: Session, world: World, now: datetime, by_column: bool = True
) -> tuple[Enterprise, ImportBatch, dict[str, Any]]:
    """A new enterprise, a checked plan naming it and Alpha, and the batch's payload."""
    lone = make_enterprise(db, agency=world.county, now=now)
    batch = _check(db, world, _rows(world, lone, by_column), now)
    return lone, batch, service.load_payload(batch.payload)


def test_the_database_holds_exactly_the_pairs_or_not(db: Session, world: World) -> None:
    a, b = world.ent_a, world.ent_b
    assert diff.holds_enterprises(db, {a.uscc: a.id, b.uscc: b.id})
    assert diff.holds_enterprises(db, {})
    assert not diff.holds_enterprises(db, {a.uscc: b.id, b.uscc: a.id})  # swapped
    assert not diff.holds_enterprises(db, {a.uscc: a.id, b.uscc: b.id + 1000})
    assert not diff.holds_enterprises(db, {a.uscc: a.id, codes(1)[0]: b.id})  # no such code


@pytest.mark.parametrize("by_column", [True, False])
def test_the_check_stores_each_rows_enterprise_id(
    db: Session, world: World, now: datetime, by_column: bool
) -> None:
    lone, _, payload = _checked(db, world, now, by_column)
    stored = dict(zip(payload["keys"], payload["columns"], strict=True))
    expected = [world.ent_a.id, lone.id] + ([] if by_column else [lone.id])
    assert stored["enterprise_id"] == expected


@pytest.mark.parametrize("by_column", [True, False])
@pytest.mark.parametrize("change", ["moved", "gone"])
def test_an_enterprise_whose_code_moved_after_the_check_makes_the_batch_stale(
    db: Session, world: World, now: datetime, by_column: bool, change: str
) -> None:
    lone = make_enterprise(db, agency=world.county, now=now)
    batch = _check(db, world, _rows(world, lone, by_column), now)
    # Between the check and the confirmation the file's code comes to name another
    # enterprise (or none): its rows would be planned for the wrong one.
    code = lone.uscc
    lone.uscc = codes(1)[0]
    db.flush()
    if change == "moved":
        other = make_enterprise(db, agency=world.county, now=now)
        other.uscc = code
    db.commit()
    _refused(db, world, batch, now)


def test_an_unchanged_batch_applies_without_reading_its_enterprises_again(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    lone = make_enterprise(db, agency=world.county, now=now)
    batch = _check(db, world, _rows(world, lone, True), now)
    looked_up: list[Any] = []
    select_among = diff.select_among

    def spy(session: Session, stmt: Any, column: Any, values: Any) -> Any:
        looked_up.append(column)
        return select_among(session, stmt, column, values)

    monkeypatch.setattr(diff, "select_among", spy)
    done = service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert done.status == ImportStatus.applied
    assert Enterprise.uscc not in looked_up
    db.expire_all()
    assert [
        (e.enterprise_id, e.note)
        for e in db.scalars(
            select(PlanEntry).where(PlanEntry.month == "2026-12").order_by(PlanEntry.id)
        )
    ] == [(world.ent_a.id, ""), (lone.id, "联合检查")]


@pytest.mark.parametrize("stale", [False, True])
def test_a_batch_checked_before_the_ids_were_stored_still_applies_or_is_stale(
    db: Session, world: World, now: datetime, stale: bool
) -> None:
    lone, batch, payload = _checked(db, world, now)
    index = payload["keys"].index("enterprise_id")  # as an earlier release stored it
    del payload["keys"][index], payload["columns"][index]
    batch.payload = service.store_payload(payload)
    if stale:
        lone.uscc = codes(1)[0]
    db.commit()
    if stale:
        _refused(db, world, batch, now)
        return
    done = service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert done.status == ImportStatus.applied
    assert _entries(db) == 2
