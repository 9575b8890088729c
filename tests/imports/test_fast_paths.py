"""The import's fast paths give what the general ones give: the stored payload (by column,
compressed, and batches stored in the older formats still apply), each distinct value
converted and checked by its column type once, the spreadsheet pre-scan, the plan-hygiene
facts narrowed to shared (enterprise, month), and no report-summary refresh for reference
data or plans."""

from __future__ import annotations

import base64
import json
import zlib
from datetime import datetime
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, make_enterprise
from tests.imports.helpers import csv_bytes, enterprise_rows, with_sheet_xml, xlsx_bytes
from webapp.agencies.models import Agency
from webapp.enterprises.models import Enterprise
from webapp.enums import EnterpriseClass, ImportKind, ImportStatus
from webapp.errors import DomainError
from webapp.imports import hygiene, readers, service, writers
from webapp.imports.diff import select_among
from webapp.imports.kinds import Context, parse_enterprise
from webapp.imports.models import ImportBatch
from webapp.plans.models import PlanEntry
from webapp.supervision import summary
from webapp.supervision.models import ReportSummaryQueue

PLAN_HEADER: list[object] = ["统一社会信用代码", "企业名称", "检查月份", "检查事项编码", "备注"]


def _check(db: Session, world: World, data: bytes, now: datetime) -> ImportBatch:
    return service.check_file(
        db, actor=world.admin, kind=ImportKind.enterprises, filename="e.csv", data=data, now=now
    )


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Enterprise)) or 0


def test_the_payload_is_packed_and_compressed_and_applies(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "COMPRESS_FROM", 0)  # any payload: compressed
    rows = enterprise_rows(world.county.code, 3)
    batch = _check(db, world, csv_bytes(rows), now)
    assert batch.payload.startswith("zstd:")
    payload = service.load_payload(batch.payload)
    assert payload["version"] == 3
    assert "rows" not in payload  # by column: no dict per row
    assert payload["columns"][payload["keys"].index("uscc")] == [r[0] for r in rows[1:]]
    assert [r["uscc"] for r in service.unpack_rows(payload)] == [r[0] for r in rows[1:]]
    assert [s.key for s in service.report(db, batch).added] == [r[0] for r in rows[1:]]
    before = _count(db)
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert _count(db) == before + 3


def test_a_batch_compressed_by_zlib_before_still_applies(
    db: Session, world: World, now: datetime
) -> None:
    """Batches checked before 2026-12-02 compressed their payload with zlib: still read."""
    rows = enterprise_rows(world.county.code, 3)
    batch = _check(db, world, csv_bytes(rows), now)
    encoded = orjson.dumps(service.load_payload(batch.payload))
    batch.payload = "zlib:" + base64.b64encode(zlib.compress(encoded, 1)).decode("ascii")
    db.commit()
    assert [s.key for s in service.report(db, batch).added] == [r[0] for r in rows[1:]]
    before = _count(db)
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert _count(db) == before + 3


def test_a_small_payload_is_plain_json(db: Session, world: World, now: datetime) -> None:
    batch = _check(db, world, csv_bytes(enterprise_rows(world.county.code, 2)), now)
    assert json.loads(batch.payload)["version"] == 3


def _in_format(payload: dict[str, Any], version: int) -> str:
    """A payload stored as an older release stored it: 1, a dict per row (plain JSON);
    2, every row packed."""
    old = {k: v for k, v in payload.items() if k not in ("keys", "columns")}
    old["version"] = version
    old["columns"] = [k for k in payload["keys"] if k != "line"]  # the file's, as they had
    rows = service.unpack_rows(payload)
    if version == 1:
        old["rows"] = rows
        return json.dumps(old, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    keys = payload["keys"]
    old["shapes"] = [keys]
    old["packed"] = [[row[k] for k in keys] + [0] for row in rows]
    return service.store_payload(old)


@pytest.mark.parametrize("version", [1, 2])
def test_a_batch_stored_in_an_older_format_still_applies(
    db: Session, world: World, now: datetime, version: int
) -> None:
    rows = enterprise_rows(world.county.code, 3)
    batch = _check(db, world, csv_bytes(rows), now)
    batch.payload = _in_format(service.load_payload(batch.payload), version)
    db.commit()
    assert "keys" not in service.load_payload(batch.payload)
    assert [s.key for s in service.report(db, batch).added] == [r[0] for r in rows[1:]]
    before = _count(db)
    done = service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert done.status == ImportStatus.applied
    assert _count(db) == before + 3


def test_a_batch_checked_by_a_newer_release_is_refused_in_words(
    db: Session, world: World, now: datetime
) -> None:
    batch = _check(db, world, csv_bytes(enterprise_rows(world.county.code, 2)), now)
    payload = service.load_payload(batch.payload)
    payload["version"] = service.PAYLOAD_VERSION + 1
    batch.payload = service.store_payload(payload)
    db.commit()
    before = _count(db)
    with pytest.raises(DomainError) as refused:
        service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert refused.value.code == "import_stale"
    assert "newer version" in refused.value.message
    db.rollback()
    assert _count(db) == before


def test_rows_of_several_shapes_round_trip() -> None:
    rows: list[dict[str, Any]] = [
        {"number": "1", "name": "甲", "line": 2},
        {"number": "2", "name": "乙", "issuing_agency_code": "X", "line": 3},
        {"number": "3", "name": "丙", "line": 4},
        {"number": "4", "items": ["AQ-001", "AQ-002"], "note": None, "line": 5},
    ]
    packed = service.pack_rows(rows)
    assert len(packed["shapes"]) == 3
    again = service.unpack_rows(json.loads(json.dumps(packed)))
    assert again == rows
    assert [list(r) for r in again] == [list(r) for r in rows]  # key order kept too


def test_rows_of_one_shape_are_stored_by_column_and_round_trip() -> None:
    rows: list[dict[str, Any]] = [
        {"uscc": "1", "month": "2026-12", "items": ["AQ-001"], "line": 2},
        {"uscc": "2", "month": "2026-11", "items": [], "line": 3},
    ]
    stored = service.pack_rows(rows)
    assert stored == {
        "keys": ["uscc", "month", "items", "line"],
        "columns": [["1", "2"], ["2026-12", "2026-11"], [["AQ-001"], []], [2, 3]],
    }
    assert service.unpack_rows(json.loads(json.dumps(stored))) == rows
    # The same keys in another order are another shape: packed, each row's order kept.
    swapped = [rows[0], {"month": "2026-11", "uscc": "2", "items": [], "line": 3}]
    again = service.unpack_rows(json.loads(json.dumps(service.pack_rows(swapped))))
    assert [list(r.items()) for r in again] == [list(r.items()) for r in swapped]
    assert service.unpack_rows(service.pack_rows([])) == []


def test_each_distinct_value_is_converted_once_and_still_checked() -> None:
    calls: list[Any] = []

    def process(value: Any) -> Any:
        calls.append(value)
        if value == "bad":
            raise LookupError(value)
        return f"<{value}>"

    values: list[Any] = ["a", "b", "a", None, None, 1, 1.0, ["x"], ["x"], "a"]
    assert writers._converted(values, process) == [
        "<a>",
        "<b>",
        "<a>",
        "<None>",
        "<None>",
        "<1>",
        "<1.0>",  # equal to 1, but another type: converted on its own
        "<['x']>",
        "<['x']>",
        "<a>",
    ]
    assert calls == ["a", "b", None, 1, 1.0, ["x"], ["x"]]  # unhashable: every time
    with pytest.raises(LookupError):
        writers._converted(["a", "bad"], process)


def test_a_value_the_column_refuses_still_fails_the_apply(
    db: Session, world: World, now: datetime
) -> None:
    batch = _check(db, world, csv_bytes(enterprise_rows(world.county.code, 2)), now)
    payload = service.load_payload(batch.payload)
    klass = payload["keys"].index("enterprise_class")
    payload["columns"][klass][1] = "no_such_class"  # the stored rows altered behind our back
    batch.payload = service.store_payload(payload)
    db.commit()
    before = _count(db)
    with pytest.raises(Exception, match="no_such_class"):
        service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.rollback()
    assert _count(db) == before
    failed = db.get(ImportBatch, batch.id)
    assert failed is not None
    assert failed.status == ImportStatus.failed


def test_full_width_spaces_in_a_csv_file_become_spaces() -> None:
    sheet = readers.read_sheet(csv_bytes([["h", "i"], ["\u3000名称\u3000甲 ", "b\u3000"]]), "x.csv")
    assert sheet.rows == [(2, ["名称 甲", "b"])]


def test_the_pre_scan_sends_cells_it_cannot_place_to_openpyxl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = xlsx_bytes([["h", "i"], ["a", "b"]])
    assert readers._calamine_fits(data)
    # A line break before the reference: calamine would place the cell; the scan cannot.
    assert not readers._calamine_fits(
        with_sheet_xml(data, lambda xml: xml.replace(b'<c r="B2"', b'<c\nr="B2"'))
    )
    # A cell element with a namespace prefix.
    assert not readers._calamine_fits(
        with_sheet_xml(data, lambda xml: xml.replace(b'<c r="B2"', b'<x:c r="B2"'))
    )
    # Two-letter columns count in the grid's width: AB is the 28th.
    wide = xlsx_bytes([["h"], *[[None]] * 8, [*[None] * 27, "far"]])  # AB10
    assert readers._calamine_fits(wide)
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 28 * 10 - 1)
    assert not readers._calamine_fits(wide)
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 28 * 10)
    assert readers._calamine_fits(wide)


def test_a_one_letter_grid_is_measured_exactly_when_it_matters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = xlsx_bytes([["h", "i", "j"], *[["a", "b", "c"]] * 9])  # A1:C10
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 30)  # below 26 x 10: the exact width
    assert readers._calamine_fits(data)
    monkeypatch.setattr(readers, "MAX_GRID_CELLS", 29)
    assert not readers._calamine_fits(data)


def test_only_shared_entries_are_read_for_the_flags(
    db: Session, world: World, now: datetime
) -> None:
    lone = make_enterprise(db, agency=world.county, now=now)
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "", "2026-12", "AQ-001", ""],
        [world.ent_a.uscc, "", "2026-12", "AQ-002", ""],
        [lone.uscc, "", "2026-12", "AQ-001", ""],
    ]
    batch = service.check_file(
        db,
        actor=world.admin,
        kind=ImportKind.monthly_plan,
        filename="p.csv",
        data=csv_bytes(rows),
        now=now,
        agency_id=world.county.id,
    )
    assert len(service.report(db, batch).warnings) == 1  # ent_a twice; lone alone
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    every = hygiene.entry_facts(db, months={"2026-12"})
    shared = hygiene.entry_facts(db, months={"2026-12"}, shared_only=True)
    assert {f.enterprise_id for f in every} >= {world.ent_a.id, lone.id}
    assert [f.entry_id for f in shared] == [
        f.entry_id for f in every if f.enterprise_id == world.ent_a.id
    ]
    assert len(shared) == 2


def test_enterprise_and_plan_imports_queue_no_report_summary_refresh(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A write queues the visits whose summary rows it may change (summary._defer, applied
    # later by summary.catch_up): these imports change none.
    queued: list[set[int]] = []
    original = summary._defer

    def spy(session: Session, visit_ids: Any) -> None:
        queued.append(set(visit_ids))
        original(session, visit_ids)

    monkeypatch.setattr(summary, "_defer", spy)
    batch = _check(db, world, xlsx_bytes(enterprise_rows(world.county.code, 3)), now)
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    plan = service.check_file(
        db,
        actor=world.admin,
        kind=ImportKind.monthly_plan,
        filename="p.csv",
        data=csv_bytes([PLAN_HEADER, [world.ent_a.uscc, "", "2026-12", "AQ-001", ""]]),
        now=now,
        agency_id=world.county.id,
    )
    service.apply_batch(db, actor=world.admin, batch_id=plan.id, now=now)
    assert (db.scalar(select(func.count()).select_from(PlanEntry)) or 0) >= 1
    assert queued == []
    assert db.scalar(select(func.count()).select_from(ReportSummaryQueue)) == 0


def _in_list(db: Session, query: Any, column: Any, values: list[Any]) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in db.execute(query.where(column.in_(values))).all())


def test_a_lookup_by_a_list_of_codes_gives_the_rows_an_in_list_gives(
    db: Session, world: World
) -> None:
    # On SQLite a list of text or whole numbers goes as one JSON parameter (json_each); on
    # PostgreSQL as one array. Either way: the rows a plain IN (...) gives.
    query = select(
        Enterprise.id,
        Enterprise.uscc,
        Enterprise.enterprise_class,
        Enterprise.created_at,
        Agency.code,
    ).join(Agency, Agency.id == Enterprise.agency_id)
    codes = [world.ent_a.uscc, world.ent_b.uscc] + [f"NOPE{i:014d}" for i in range(1200)]
    found = select_among(db, query, Enterprise.uscc, codes)
    assert sorted(tuple(r) for r in found) == _in_list(db, query, Enterprise.uscc, codes[:2])
    assert len(found) == 2
    assert all(isinstance(r[2], EnterpriseClass) for r in found)  # converted by the column
    assert all(r[3].tzinfo is not None for r in found)
    assert select_among(db, query, Enterprise.uscc, []) == []
    # Text that JSON escapes, and a name with other parameters around the list.
    names = [world.ent_a.name, world.ent_b.name, 'quote " back\\slash 企业', "nobody"]
    narrower = query.where(Enterprise.id > world.ent_a.id - 1)
    found = select_among(db, narrower, Enterprise.name, names)
    assert sorted(tuple(r) for r in found) == _in_list(db, narrower, Enterprise.name, names)
    assert len(found) == 2
    ids = [world.ent_a.id, world.ent_b.id, 10**9]
    one_name = query.where(Enterprise.name.in_([world.ent_b.name]))
    found = select_among(db, one_name, Enterprise.id, ids)
    assert [r[0] for r in found] == [world.ent_b.id]
    # A column whose type converts its values (an enum) takes the IN list instead.
    kinds = [EnterpriseClass(world.ent_a.enterprise_class)]
    found = select_among(db, query, Enterprise.enterprise_class, kinds)
    assert sorted(tuple(r) for r in found) == _in_list(
        db, query, Enterprise.enterprise_class, kinds
    )


def test_an_enterprise_row_gets_every_error_of_the_shared_cell_checks_in_column_order() -> None:
    ctx = Context(year=2026, agencies={"C1": 1})
    row, errors = parse_enterprise(
        {
            "uscc": "91350100M000100Y44",
            "name": "",
            "address": "x" * 301,
            "industry": "y" * 101,
            "enterprise_class": "化工",
            "risk_grade": "",
            "agency_code": "NOPE",
        },
        ctx,
    )
    assert row is None
    allowed = "危险化学品和冶金 (hazchem_metallurgy), 其他 (other), 煤矿 (coal_mine)"
    assert [(e.field, e.message.split(" ")[0], e.params) for e in errors] == [
        ("uscc", "The", {"expected": "3", "given": "4"}),
        ("name", "This", {}),
        ("address", "At", {"max": 300, "length": 301}),
        ("industry", "At", {"max": 100, "length": 101}),
        ("enterprise_class", "'%(value)s'", {"value": "化工", "allowed": allowed}),
        ("risk_grade", "This", {}),
        ("agency_code", "No", {"code": "NOPE"}),
    ]
    row, errors = parse_enterprise(
        {"uscc": "", "name": "n" * 201, "enterprise_class": "煤矿", "risk_grade": "2"}, ctx
    )
    assert [(e.field, e.params) for e in errors] == [
        ("uscc", {}),
        ("name", {"max": 200, "length": 201}),
        ("risk_grade", {"grade": "2", "klass": "coal_mine", "allowed": "A, B, C, D"}),
        ("agency_code", {}),
    ]
    row, errors = parse_enterprise(
        {
            "uscc": "９１３５０１００Ｍ０００１００Ｙ４３",
            "name": "A",
            "address": "",
            "enterprise_class": "其他",
            "risk_grade": "一级",
            "agency_code": "C1",
        },
        ctx,
    )
    assert errors == []
    assert row == {
        "uscc": "91350100M000100Y43",
        "name": "A",
        "address": "",
        "enterprise_class": "other",
        "risk_grade": "1",
        "agency_code": "C1",
    }
