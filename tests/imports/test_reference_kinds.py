"""Inspectors with credentials (key: credential number), the item list (key: item code)
and the caps table (key: class and grade)."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, make_inspector
from tests.imports.helpers import csv_bytes, xlsx_bytes
from webapp.agencies.models import Credential, Inspector
from webapp.audit.models import AuditEvent
from webapp.enums import CredentialStatus, ImportKind, ImportStatus
from webapp.imports import service
from webapp.imports.models import ImportBatch
from webapp.items.models import InspectionItem
from webapp.plans.caps import load_caps

INSPECTOR_HEADER: list[object] = [
    "姓名",
    "所属机构代码",
    "执法证号",
    "有效期起",
    "有效期至",
    "状态",
    "执法领域",
]


def _check(db: Session, world: World, kind: ImportKind, data: bytes, now: datetime) -> ImportBatch:
    return service.check_file(
        db, actor=world.admin, kind=kind, filename="f.csv", data=data, now=now
    )


def _errors(db: Session, batch: ImportBatch) -> list[tuple[int, str, str]]:
    return [(e.line, e.column, e.message) for e in service.report(db, batch).errors]


def _inspector(db: Session, number: str) -> tuple[Inspector, Credential]:
    cred = db.scalar(select(Credential).where(Credential.number == number))
    assert cred is not None
    return cred.inspector, cred


# --- inspectors ---------------------------------------------------------------------------


def test_inspectors_and_their_credentials(db: Session, world: World, now: datetime) -> None:
    code = world.county.code
    rows: list[list[object]] = [
        INSPECTOR_HEADER,
        ["赵六", code, "JZ-100", "2025-01-01", "2029-12-31", "有效", "hazchem、mining"],
        # A second credential of the same new person: one inspector, two credentials.
        ["赵六", code, "JZ-101", "2020-01-01", "2024-12-31", "吊销", ""],
        # A renewal for an inspector already on file (same agency, same name).
        ["Alice Li", code, "JZ-102", "2026-01-01", "2030-12-31", "valid", "hazchem"],
    ]
    people_before = db.scalar(select(func.count()).select_from(Inspector))
    batch = _check(db, world, ImportKind.inspectors, xlsx_bytes(rows), now)
    assert batch.status == ImportStatus.validated, _errors(db, batch)
    assert batch.added == 3
    notes = [s.note for s in service.report(db, batch).added]
    assert notes == ["new_inspector", "new_inspector", "existing_inspector"]
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.expire_all()

    assert db.scalar(select(func.count()).select_from(Inspector)) == (people_before or 0) + 1
    zhao, first = _inspector(db, "JZ-100")
    same, second = _inspector(db, "JZ-101")
    assert zhao.id == same.id
    assert (zhao.name, zhao.agency_id) == ("赵六", world.county.id)
    assert (first.valid_from, first.valid_until, first.status, first.fields) == (
        date(2025, 1, 1),
        date(2029, 12, 31),
        CredentialStatus.valid,
        "hazchem mining",
    )
    assert second.status == CredentialStatus.revoked
    assert second.issuing_agency_id == world.county.id
    alice, renewal = _inspector(db, "JZ-102")
    assert alice.id == world.alice.id
    assert renewal.fields == "hazchem"


def test_a_changed_credential_is_updated_and_audited(
    db: Session, world: World, now: datetime
) -> None:
    number = world.alice.credentials[0].number
    old = world.alice.credentials[0]
    rows: list[list[object]] = [
        INSPECTOR_HEADER,
        [
            "Alice Li",
            world.county.code,
            number,
            old.valid_from.isoformat(),
            old.valid_until.isoformat(),
            "暂停",
            "",
        ],
    ]
    batch = _check(db, world, ImportKind.inspectors, csv_bytes(rows), now)
    assert (batch.added, batch.changed) == (0, 1)
    assert service.report(db, batch).changed[0].fields == [("status", "valid", "suspended")]
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.expire_all()
    _, cred = _inspector(db, number)
    assert cred.status == CredentialStatus.suspended
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "credential.updated"))
    assert event is not None
    assert json.loads(event.data)["changes"] == {"status": ["valid", "suspended"]}


def test_bad_inspector_rows(db: Session, world: World, now: datetime) -> None:
    rows: list[list[object]] = [
        INSPECTOR_HEADER,
        ["甲", world.county.code, "N-1", "2026-13-01", "2027-01-01", "有效", ""],
        ["乙", world.county.code, "N-2", "2027-01-01", "2026-01-01", "停用", "Hazchem!"],
        ["", "XX", "", "", "", "", ""],
    ]
    batch = _check(db, world, ImportKind.inspectors, csv_bytes(rows), now)
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch) == [
        (
            2,
            "有效期起",
            "'%(value)s' is not a date: write it as YYYY-MM-DD, for example 2026-11-16.",
        ),
        (
            3,
            "有效期至",
            "The credential ends before it starts: 'valid until' must be on or after 'valid from'.",
        ),
        (3, "状态", "'%(value)s' is not one of the allowed values: %(allowed)s."),
        (
            3,
            "执法领域",
            "'%(value)s' is not a field code: letters, digits and underscores, starting "
            "with a letter (e.g. hazchem).",
        ),
        (4, "执法证号", "This cell is empty; it is required."),
        (4, "姓名", "This cell is empty; it is required."),
        (4, "所属机构代码", "No agency with code '%(code)s'. The codes are on the Agencies page."),
        (4, "有效期起", "This cell is empty; it is required."),
        (4, "有效期至", "This cell is empty; it is required."),
        (4, "状态", "This cell is empty; it is required."),
    ]


def test_a_new_credential_for_one_of_two_namesakes_is_refused(
    db: Session, world: World, now: datetime
) -> None:
    make_inspector(db, agency=world.county, name="Alice Li", now=now)
    db.commit()
    rows: list[list[object]] = [
        INSPECTOR_HEADER,
        ["Alice Li", world.county.code, "JZ-555", "2026-01-01", "2030-01-01", "有效", ""],
    ]
    batch = _check(db, world, ImportKind.inspectors, csv_bytes(rows), now)
    assert batch.status == ImportStatus.failed
    assert _errors(db, batch)[0][:2] == (2, "姓名")
    assert "Several inspectors named" in _errors(db, batch)[0][2]


# --- items --------------------------------------------------------------------------------------


ITEM_HEADER: list[object] = ["Code", "Title", "Legal basis", "Max per year", "Field"]


def test_items_added_and_changed(db: Session, world: World, now: datetime) -> None:
    rows: list[list[object]] = [
        ITEM_HEADER,
        ["aq-001", "Check 1", world.items[0].legal_basis, "2", "hazchem"],  # changed
        ["AQ-900", "New check", "Work Safety Law, Article 9", "", ""],  # added
    ]
    batch = _check(db, world, ImportKind.items, csv_bytes(rows), now)
    assert batch.status == ImportStatus.validated, _errors(db, batch)
    assert (batch.added, batch.changed) == (1, 1)
    assert service.report(db, batch).changed[0].fields == [
        ("max_per_year", "", "2"),
        ("field", "", "hazchem"),
    ]
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    db.expire_all()
    changed = db.scalar(select(InspectionItem).where(InspectionItem.code == "AQ-001"))
    added = db.scalar(select(InspectionItem).where(InspectionItem.code == "AQ-900"))
    assert changed is not None
    assert (changed.max_per_year, changed.field) == (2, "hazchem")
    assert changed.description == ""  # no description column: left alone
    assert added is not None
    assert (added.title, added.max_per_year) == ("New check", None)
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "item.updated")) is not None


def test_bad_item_rows(db: Session, world: World, now: datetime) -> None:
    rows: list[list[object]] = [
        ITEM_HEADER,
        ["AQ-1", "", "Law", "0", "a b"],
        ["AQ-1", "T", "Law", "x", ""],
    ]
    batch = _check(db, world, ImportKind.items, csv_bytes(rows), now)
    assert [(line, col) for line, col, _ in _errors(db, batch)] == [
        (2, "Title"),
        (2, "Max per year"),
        (2, "Field"),
        (3, "Max per year"),
    ]


# --- caps -----------------------------------------------------------------------------------------


def test_caps_table_from_a_file(db: Session, world: World, now: datetime) -> None:
    rows: list[list[object]] = [
        ["企业类别", "等级", "每年检查上限"],
        ["危险化学品和冶金", "一级", "3"],  # was 2
        ["煤矿", "A", "2"],  # unchanged
        ["督导", "*", "5"],  # was 3
    ]
    batch = _check(db, world, ImportKind.caps, csv_bytes(rows), now)
    assert batch.status == ImportStatus.validated, _errors(db, batch)
    assert (batch.added, batch.changed, batch.unchanged) == (0, 2, 1)
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    caps = load_caps(db)
    assert caps[("hazchem_metallurgy", "1")] == 3
    assert caps[("coal_mine", "A")] == 2
    assert caps[("supervisory", "*")] == 5
    events = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "visit_cap.changed")))
    assert sorted((json.loads(e.data)["from"], json.loads(e.data)["to"]) for e in events) == [
        (2, 3),
        (3, 5),
    ]


def test_bad_caps_rows(db: Session, world: World, now: datetime) -> None:
    rows: list[list[object]] = [
        ["Class", "Grade", "Max per year"],
        ["other", "A", "2"],
        ["supervisory", "1", "2"],
        ["coal", "B", "400"],
        ["mine", "B", "4"],
    ]
    batch = _check(db, world, ImportKind.caps, csv_bytes(rows), now)
    assert [(line, col) for line, col, _ in _errors(db, batch)] == [
        (2, "Grade"),
        (3, "Grade"),
        (4, "Max per year"),
        (5, "Class"),
    ]
