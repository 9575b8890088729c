"""Files as Excel and WPS save them (texts in a shared-strings table, dates as numbers with
a date format), where the other import tests build theirs with openpyxl (every text inline):
read as typed by both XLSX readers, and imported."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.imports.helpers import PLAN_HEADER, enterprise_rows, excel_bytes
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportKind, ImportStatus
from webapp.imports import readers, service
from webapp.plans.models import PlanEntry


def _parts(data: bytes) -> set[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return set(archive.namelist())


def test_a_sheet_saved_as_excel_saves_it_reads_as_typed_by_both_readers() -> None:
    data = excel_bytes(
        [
            [],  # a blank line above the header
            ["代码 / Code", "数 / Number", "日期 / Date", "其他 / Other"],
            ["0012", 32058100001, datetime(2026, 12, 1), True],  # noqa: DTZ001
            [],
            ["\u3000全角空格 ", 2.5, date(2026, 1, 5), "甲"],
            ["甲", 2.0, datetime(2026, 1, 5, 17, 45, 30), False],  # noqa: DTZ001
        ]
    )
    assert "xl/sharedStrings.xml" in _parts(data)  # the shape this test is about
    assert readers._calamine_fits(data)
    fast = readers._read_xlsx_calamine(data)
    assert fast == readers._read_xlsx_openpyxl(data)
    assert fast.headers == ["代码 / Code", "数 / Number", "日期 / Date", "其他 / Other"]
    assert fast.rows == [
        (3, ["0012", "32058100001", "2026-12-01", "true"]),
        (5, ["全角空格", "2.5", "2026-01-05", "甲"]),
        (6, ["甲", "2", "2026-01-05 17:45:30", "false"]),
    ]
    assert readers.read_sheet(data, "any name") == fast


def test_an_enterprise_file_saved_by_excel_is_imported(
    db: Session, world: World, now: datetime
) -> None:
    rows = enterprise_rows(world.county.code, 5)
    batch = service.check_file(
        db,
        actor=world.admin,
        kind=ImportKind.enterprises,
        filename="企业.xlsx",
        data=excel_bytes(rows),
        now=now,
    )
    assert batch.status == ImportStatus.validated, service.report(db, batch).errors
    assert (batch.added, batch.changed) == (5, 0)
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    stored = db.scalars(
        select(Enterprise.uscc).where(Enterprise.uscc.in_([str(r[0]) for r in rows[1:]]))
    ).all()
    assert sorted(stored) == sorted(str(r[0]) for r in rows[1:])


def test_a_plan_whose_months_excel_turned_into_dates_is_imported(
    db: Session, world: World, now: datetime
) -> None:
    # "2026-12" typed into an Excel cell becomes the date 2026-12-01 (shown "Dec-26").
    month = datetime(2026, 12, 1)  # noqa: DTZ001 (Excel's dates carry no time zone)
    rows: list[list[object]] = [
        PLAN_HEADER,
        [world.ent_a.uscc, "Alpha", month, "AQ-001;AQ-002", "联合检查"],
        [world.ent_b.uscc, "Beta", month, "AQ-003", None],
    ]
    batch = service.check_file(
        db,
        actor=world.admin,
        kind=ImportKind.monthly_plan,
        filename="计划.xlsx",
        data=excel_bytes(rows, date_format="mmm-yy"),
        now=now,
        agency_id=world.county.id,
    )
    assert batch.status == ImportStatus.validated, service.report(db, batch).errors
    assert service.report(db, batch).plans[0]["period"] == "2026-12"
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)
    entries = db.scalars(
        select(PlanEntry)
        .where(PlanEntry.agency_id == world.county.id, PlanEntry.month == "2026-12")
        .order_by(PlanEntry.id)
    ).all()
    assert [(e.enterprise_id, e.month, e.note) for e in entries] == [
        (world.ent_a.id, "2026-12", "联合检查"),
        (world.ent_b.id, "2026-12", ""),
    ]
