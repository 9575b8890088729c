"""Enterprise and plan files are checked a whole column at a time and enterprises stay by
column to the INSERT: a good file gives exactly the batch (payload, counts) and the rows the
row-by-row check gives, and any file with a bad cell, a repeated key, a short row or the
template's example row is checked row by row (the same errors, line and column named)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import World, make_enterprise
from tests.imports.helpers import check_rows, codes, enterprise_rows, wrong_check
from webapp.audit.models import AuditEvent
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportKind, ImportStatus
from webapp.imports import kinds, service, writers
from webapp.imports.diff import select_among, snapshot
from webapp.imports.models import ImportBatch
from webapp.items.models import InspectionItem
from webapp.plans.models import PlanEntry, plan_entry_items

PLAN_HEADER: list[object] = ["统一社会信用代码", "企业名称", "检查月份", "检查事项编码", "备注"]


def _both_ways(
    db: Session,
    world: World,
    rows: list[list[object]],
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    kind: ImportKind = ImportKind.enterprises,
    filename: str = "e.csv",
) -> tuple[ImportBatch, ImportBatch, bool]:
    """The file checked as the import checks it, then row by row; and whether the first
    took the column path."""
    taken: list[bool] = []
    by_column = service._column_rows

    def spy(*args: Any, **kw: Any) -> Any:
        found = by_column(*args, **kw)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(service, "_column_rows", spy)
    first = check_rows(db, world, rows, now, kind=kind, filename=filename)
    monkeypatch.setattr(service, "_column_rows", lambda *args, **kw: None)
    second = check_rows(db, world, rows, now, kind=kind, filename=filename)
    monkeypatch.setattr(service, "_column_rows", by_column)
    return first, second, taken == [True]


def _same_batch(first: ImportBatch, second: ImportBatch) -> None:
    assert first.status == second.status
    counts = ("total_rows", "added", "changed", "unchanged", "error")
    assert [getattr(first, c) for c in counts] == [getattr(second, c) for c in counts]
    assert service.load_payload(first.payload) == service.load_payload(second.payload)


def test_a_good_enterprise_file_gives_the_batch_row_by_row_gives(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = enterprise_rows(world.county.code, 6)
    rows[1][0] = str(rows[1][0]).lower()  # normalised: still by column
    rows[2][0] = f"{str(rows[2][0])[:6]}-{str(rows[2][0])[6:]}"
    rows[3][3:5] = ["煤矿", "B"]
    rows[4][3:5] = ["危险化学品和冶金", "一级"]
    # Two the database holds: one changed (name), one the same.
    rows.append([world.ent_a.uscc, "新名称", "", "其他", "2", world.county.code])
    rows.append(
        [
            world.ent_b.uscc,
            world.ent_b.name,
            world.ent_b.address,
            world.ent_b.enterprise_class.value,
            world.ent_b.risk_grade,
            world.county.code,
        ]
    )
    for filename in ("e.csv", "e.xlsx"):
        first, second, by_column = _both_ways(db, world, rows, now, monkeypatch, filename=filename)
        assert by_column
        assert first.status == ImportStatus.validated
        assert (first.added, first.changed) == (6, 1)
        _same_batch(first, second)
    # Without the optional columns, and with an extra column the import ignores.
    short = [[*row[:2], *row[3:], "x"] for row in rows[:4]]
    short[0][-1] = "行业"
    first, second, by_column = _both_ways(db, world, short, now, monkeypatch)
    assert by_column
    _same_batch(first, second)


@pytest.mark.parametrize(
    "change",
    [
        "check character",
        "empty name",
        "long name",
        "long address",
        "unknown class",
        "grade of another class",
        "empty grade",
        "unknown agency",
        "repeated code",
        "short row",
        "example row",
        "full-width code",
    ],
)
def test_a_file_with_a_bad_cell_goes_row_by_row(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    rows = enterprise_rows(world.county.code, 4)
    row = rows[3]
    if change == "check character":
        row[0] = wrong_check(str(row[0]))[0]
    elif change == "empty name":
        row[1] = ""
    elif change == "long name":
        row[1] = "名" * 201
    elif change == "long address":
        row[2] = "址" * 301
    elif change == "unknown class":
        row[3] = "化工"
    elif change == "grade of another class":
        row[3] = "煤矿"
    elif change == "empty grade":
        row[4] = ""
    elif change == "unknown agency":
        row[5] = "NOPE"
    elif change == "repeated code":
        row[0] = rows[1][0]
    elif change == "short row":
        del row[5]
    elif change == "example row":
        rows.insert(
            1,
            [
                kinds.ENTERPRISE_COLUMNS[0].example,
                *(c.example for c in kinds.ENTERPRISE_COLUMNS[1:3]),
                *(c.example for c in kinds.ENTERPRISE_COLUMNS[4:]),
            ],
        )
    elif change == "full-width code":
        row[0] = str(row[0]).translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    first, second, by_column = _both_ways(db, world, rows, now, monkeypatch)
    assert not by_column
    _same_batch(first, second)
    good = change in ("full-width code", "example row")  # normalised / skipped row by row
    assert first.status == (ImportStatus.validated if good else ImportStatus.failed)
    if not good:
        errors = service.report(db, first).errors
        assert errors
        assert {e.line for e in errors} == {4}  # the bad row, as the spreadsheet numbers it


def test_a_good_plan_gives_the_batch_row_by_row_gives(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "Alpha", "2026-12", "AQ-002;aq-001", "联合检查"],
        [world.ent_b.uscc.lower(), "Beta", "12", "AQ-003、AQ-004", ""],
        [world.ent_a.uscc, "Alpha", "2027年1月", "AQ-001", ""],
    ]
    first, second, by_column = _both_ways(
        db, world, rows, now, monkeypatch, ImportKind.monthly_plan, "plan.xlsx"
    )
    assert by_column
    assert first.status == ImportStatus.validated
    _same_batch(first, second)
    good = first
    # The same (enterprise, month) twice (allowed, warned), an unknown item, a bad month,
    # an enterprise not in the database: row by row.
    cases: list[tuple[list[object], ImportStatus]] = [
        ([world.ent_a.uscc, "Alpha", "2026-12", "AQ-003", ""], ImportStatus.validated),
        ([world.ent_b.uscc, "Beta", "2026-11", "NOPE", ""], ImportStatus.failed),
        ([world.ent_b.uscc, "Beta", "13", "AQ-001", ""], ImportStatus.failed),
        ([codes(1)[0], "Nobody", "2026-11", "AQ-001", ""], ImportStatus.failed),
    ]
    for bad, expected in cases:
        first, second, by_column = _both_ways(
            db, world, [*rows, bad], now, monkeypatch, ImportKind.monthly_plan, "plan.xlsx"
        )
        assert not by_column
        _same_batch(first, second)
        assert first.status == expected
    months = select(PlanEntry.month).where(PlanEntry.agency_id == world.county.id)
    before = list(db.scalars(months))
    service.apply_batch(db, actor=world.admin, batch_id=good.id, now=now)
    assert sorted(db.scalars(months)) == sorted([*before, "2026-12", "2026-12", "2027-01"])


def test_added_rows_go_in_by_column_and_changed_ones_as_before(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "CHUNK", 2)  # a chunk of added rows, then a mixed one
    rows = enterprise_rows(world.county.code, 3)
    rows.insert(3, [world.ent_a.uscc, "改名企业", "新地址", "其他", "2", world.county.code])
    batch = check_rows(db, world, rows, now)
    payload = service.load_payload(batch.payload)
    assert payload["diff"][:2] == [{"a": "added"}, {"a": "added"}]
    assert payload["diff"][2]["a"] == "changed"
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.expire_all()
    for row in rows[1:]:
        found = db.scalar(select(Enterprise).where(Enterprise.uscc == row[0]))
        assert found is not None
        assert (found.name, found.address, found.agency_id) == (row[1], row[2], world.county.id)
        assert found.enterprise_class.value == "other"
    events = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "enterprise.updated")))
    assert [e.object_id for e in events] == [str(world.ent_a.id)]


def _entries(db: Session, agency_id: int) -> list[tuple[int, int, str, str, list[str]]]:
    """The agency's plan entries in id order: (id, enterprise, month, note, item codes)."""
    found = []
    for entry_id, ent_id, month, note in db.execute(
        select(PlanEntry.id, PlanEntry.enterprise_id, PlanEntry.month, PlanEntry.note)
        .where(PlanEntry.agency_id == agency_id)
        .order_by(PlanEntry.id)
    ):
        codes = db.scalars(
            select(InspectionItem.code)
            .join(plan_entry_items, plan_entry_items.c.item_id == InspectionItem.id)
            .where(plan_entry_items.c.plan_entry_id == entry_id)
            .order_by(InspectionItem.code)
        )
        found.append((entry_id, ent_id, month, note, list(codes)))
    return found


@pytest.mark.parametrize("stored_by_column", [True, False])
def test_a_plan_goes_by_column_at_apply_and_changed_entries_as_before(
    db: Session,
    world: World,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    stored_by_column: bool,
) -> None:
    monkeypatch.setattr(service, "CHUNK", 2)  # a chunk of added rows, then a mixed one
    lone = make_enterprise(db, agency=world.county, now=now)
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_b.uscc, "", "2026-12", "AQ-002;AQ-001", "联合检查"],
        [lone.uscc, "", "2026-12", "AQ-003", ""],
        [world.ent_a.uscc, "", "2026-11", "AQ-003", ""],  # the world's entry: changed
        [lone.uscc, "", "2027-01", "AQ-001", ""],
    ]
    # A (enterprise, month) the database holds: the diff compares dicts, as row by row.
    batch, second, by_column = _both_ways(
        db, world, rows, now, monkeypatch, ImportKind.monthly_plan, "plan.csv"
    )
    assert by_column
    _same_batch(batch, second)
    if not stored_by_column:  # stored by an older release (format 2, packed): row by row
        payload = service.load_payload(batch.payload)
        stored = service.unpack_rows(payload)
        payload["columns"] = [
            k for k in payload.pop("keys") if k not in ("line", "enterprise_name")
        ]
        payload.update({"version": 2, "shapes": [list(stored[0])]})
        payload["packed"] = [[*row.values(), 0] for row in stored]
        batch.payload = service.store_payload(payload)
        db.commit()
    calls: list[str] = []
    add_columns, write = writers._PlanWriter.add_columns, writers.Writer.write

    def spy_columns(self: writers._PlanWriter, columns: dict[str, list[Any]]) -> None:
        calls.append(f"columns {len(columns['uscc'])}")
        add_columns(self, columns)

    def spy_write(self: writers.Writer, work: list[Any]) -> None:
        calls.append("write")
        write(self, work)

    monkeypatch.setattr(writers._PlanWriter, "add_columns", spy_columns)
    monkeypatch.setattr(writers.Writer, "write", spy_write)
    entry_a = _entries(db, world.county.id)[0]
    assert entry_a[1:] == (world.ent_a.id, "2026-11", "", ["AQ-001", "AQ-002"])
    done = service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert done.status == ImportStatus.applied
    # By column: the first chunk (added rows only) as stored; the mixed chunk as before.
    first_chunk = ["columns 2"] if stored_by_column else ["write", "columns 2"]
    assert calls == [*first_chunk, "write", "columns 1"]
    db.expire_all()
    found = _entries(db, world.county.id)
    assert found[0] == (entry_a[0], world.ent_a.id, "2026-11", "", ["AQ-003"])
    new = [entry[1:] for entry in found if entry[0] > found[1][0]]
    assert new == [
        (world.ent_b.id, "2026-12", "联合检查", ["AQ-001", "AQ-002"]),
        (lone.id, "2026-12", "", ["AQ-003"]),
        (lone.id, "2027-01", "", ["AQ-001"]),
    ]
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "plan_entry.changed"))
    assert [e.object_id for e in events] == [str(entry_a[0])]


def test_a_lookup_with_a_value_twice_gives_each_row_once(db: Session, world: World) -> None:
    query = select(Enterprise.id)
    listed = [world.ent_a.uscc, world.ent_a.uscc, world.ent_b.uscc, world.ent_a.uscc]
    found = sorted(r[0] for r in select_among(db, query, Enterprise.uscc, listed))
    assert found == sorted([world.ent_a.id, world.ent_b.id])


def test_the_snapshot_hash_is_the_sha256_of_the_canonical_json(
    db: Session, world: World, now: datetime
) -> None:
    # orjson writes the hash's text; a batch checked by the json-based code still applies.
    rows = enterprise_rows(world.county.code, 2)
    spec = kinds.spec_for(ImportKind.enterprises)
    snap = snapshot(db, spec, [], agency_id=None, keys=[world.ent_a.uscc, str(rows[1][0])])
    snap["extra"] = {
        "é": [1, None, "\n\t\x01"],
        "E": {"": True, "企业": '引号 " 反斜杠 \\ \x7f \u2028 😀'},
        "e": -3,
    }
    assert len(snap) == 2
    text = json.dumps(snap, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert service._hash(snap) == hashlib.sha256(text.encode()).hexdigest()
    assert service._canonical(snap) == text


def test_an_inspector_file_whose_rows_differ_in_shape_applies(
    db: Session, world: World, now: datetime
) -> None:
    # The issuing agency only where given: rows of two shapes, stored packed (not by
    # column) next to the payload's list of the file's columns.
    code = world.county.code
    rows: list[list[object]] = [
        ["姓名", "所属机构代码", "执法证号", "有效期起", "有效期至", "状态", "发证机关代码"],
        ["钱七", code, "JZ-200", "2025-01-01", "2029-12-31", "有效", code],
        ["钱七", code, "JZ-201", "2025-01-01", "2029-12-31", "有效", ""],
    ]
    batch = check_rows(db, world, rows, now, kind=ImportKind.inspectors, filename="i.csv")
    assert batch.status == ImportStatus.validated
    payload = service.load_payload(batch.payload)
    assert "packed" in payload
    assert [r["number"] for r in service.unpack_rows(payload)] == ["JZ-200", "JZ-201"]
    assert [s.key for s in service.report(db, batch).added] == ["JZ-200", "JZ-201"]
    done = service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert done.status == ImportStatus.applied
