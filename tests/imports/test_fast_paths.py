"""The import's fast paths give what the general ones give: the stored payload (packed,
compressed, and a batch stored in the older format still applies), each distinct value
converted and checked by its column type once, the plain ASCII credit-code check, the
spreadsheet pre-scan, the plan-hygiene facts narrowed to shared (enterprise, month), and
no report-summary refresh for reference data or plans."""

from __future__ import annotations

import io
import json
import random
import zipfile
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, make_enterprise
from tests.imports.helpers import csv_bytes, enterprise_rows, xlsx_bytes
from webapp.enterprises import uscc
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportKind, ImportStatus
from webapp.errors import DomainError
from webapp.imports import hygiene, readers, service, writers
from webapp.imports.kinds import valid_ascii_uscc
from webapp.imports.models import ImportBatch
from webapp.plans.models import PlanEntry
from webapp.supervision import summary

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
    assert batch.payload.startswith("zlib:")
    payload = service.load_payload(batch.payload)
    assert payload["version"] == 2
    assert "rows" not in payload  # packed: no dict per row
    assert [r["uscc"] for r in service.unpack_rows(payload)] == [r[0] for r in rows[1:]]
    assert [s.key for s in service.report(db, batch).added] == [r[0] for r in rows[1:]]
    before = _count(db)
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    assert _count(db) == before + 3


def test_a_small_payload_is_plain_json(db: Session, world: World, now: datetime) -> None:
    batch = _check(db, world, csv_bytes(enterprise_rows(world.county.code, 2)), now)
    assert json.loads(batch.payload)["version"] == 2


def test_a_batch_checked_before_the_packed_format_still_applies(
    db: Session, world: World, now: datetime
) -> None:
    rows = enterprise_rows(world.county.code, 3)
    batch = _check(db, world, csv_bytes(rows), now)
    payload = service.load_payload(batch.payload)
    old = {k: v for k, v in payload.items() if k not in ("shapes", "packed")}
    old["version"] = 1
    old["rows"] = service.unpack_rows(payload)
    batch.payload = json.dumps(old, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    db.commit()
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
    klass = payload["shapes"][0].index("enterprise_class")
    payload["packed"][1][klass] = "no_such_class"  # the stored rows altered behind our back
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


def test_the_plain_ascii_code_check_agrees_with_the_general_one() -> None:
    rng = random.Random(6)
    alphabet = uscc.ALPHABET + "IOZSVaz -\t"
    seen_valid = 0
    for i in range(20000):
        if i % 2:
            code = list(uscc.generate(rng))
            position = rng.randrange(18)
            code[position] = rng.choice([code[position], rng.choice(alphabet), " -" + code[0]])
            text = "".join(code)
            text = text.lower() if i % 7 == 0 else text
        else:
            text = "".join(rng.choice(alphabet) for _ in range(rng.choice([17, 18, 19])))
        fast = valid_ascii_uscc(text)
        assert (fast is not None) == (uscc.problem(text) is None), text
        if fast is not None:
            seen_valid += 1
            assert fast == uscc.normalize(text)
    assert seen_valid > 1000
    assert valid_ascii_uscc("９１" + uscc.generate(rng)[2:]) is None  # full width: general path


def test_full_width_spaces_in_a_csv_file_become_spaces() -> None:
    sheet = readers.read_sheet(csv_bytes([["h", "i"], ["\u3000名称\u3000甲 ", "b\u3000"]]), "x.csv")
    assert sheet.rows == [(2, ["名称 甲", "b"])]


def _with_sheet_xml(data: bytes, change: Any) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                body = change(body)
            target.writestr(info, body)
    return out.getvalue()


def test_the_pre_scan_sends_cells_it_cannot_place_to_openpyxl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = xlsx_bytes([["h", "i"], ["a", "b"]])
    assert readers._calamine_fits(data)
    # A line break before the reference: calamine would place the cell; the scan cannot.
    assert not readers._calamine_fits(
        _with_sheet_xml(data, lambda xml: xml.replace(b'<c r="B2"', b'<c\nr="B2"'))
    )
    # A cell element with a namespace prefix.
    assert not readers._calamine_fits(
        _with_sheet_xml(data, lambda xml: xml.replace(b'<c r="B2"', b'<x:c r="B2"'))
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


def test_enterprise_and_plan_imports_refresh_no_report_summary(
    db: Session, world: World, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    refreshed: list[set[int]] = []
    original = summary.refresh_visits

    def spy(session: Session, visit_ids: Any) -> None:
        refreshed.append(set(visit_ids))
        original(session, visit_ids)

    monkeypatch.setattr(summary, "refresh_visits", spy)
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
    assert refreshed == []
