"""An import costs a number of SQL statements that does not grow with its rows: lookups are
loaded once per table, new rows go in by executemany, changed rows are updated and audited
in bulk. (Statements are counted at the driver: `before_cursor_execute`.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World
from tests.imports.helpers import ENTERPRISE_HEADER, codes, csv_bytes
from tests.statements import statements
from webapp.audit.models import AuditEvent
from webapp.audit.service import verify_chain
from webapp.enums import ImportKind, ImportStatus
from webapp.imports import service
from webapp.plans.models import PlanEntry

PLAN_HEADER = ["统一社会信用代码", "企业名称", "检查月份", "检查事项编码", "备注"]


def _statements(db: Session, world: World, call: Callable[[], Any]) -> int:
    """How many statements `call` (a check and an apply) sends."""
    db.commit()  # each call starts outside a transaction
    db.expire_all()
    with statements(db) as seen:
        call()
    return len(seen)


def _import(
    db: Session,
    world: World,
    now: datetime,
    kind: ImportKind,
    rows: list[list[str]],
    header: list[str],
    agency_id: int | None = None,
) -> None:
    batch = service.check_file(
        db,
        actor=world.admin,
        kind=kind,
        filename="f.csv",
        data=csv_bytes([header, *rows]),
        now=now,
        agency_id=agency_id,
    )
    assert batch.status == ImportStatus.validated, service.report(db, batch).errors
    service.apply_batch(db, actor=world.admin, batch_id=batch.id, now=now)


def _enterprise_rows(code_list: list[str], agency: str, name: str) -> list[list[str]]:
    return [
        [c, f"{name}{i}有限公司", f"示例路{i}号", "其他", "2", agency]
        for i, c in enumerate(code_list)
    ]


def _costs(db: Session, world: World, now: datetime, n: int) -> dict[str, int]:
    """Statements of: adding n enterprises, changing them all, a plan of n new entries,
    changing the items of all n entries."""
    agency = world.county.code
    code_list = codes(n)
    costs = {}
    costs["add"] = _statements(
        db,
        world,
        lambda: _import(
            db,
            world,
            now,
            ImportKind.enterprises,
            _enterprise_rows(code_list, agency, "甲"),
            ENTERPRISE_HEADER,
        ),
    )
    costs["change"] = _statements(
        db,
        world,
        lambda: _import(
            db,
            world,
            now,
            ImportKind.enterprises,
            _enterprise_rows(code_list, agency, "乙"),
            ENTERPRISE_HEADER,
        ),
    )
    plan = [[c, "", "2026-12", "AQ-001;AQ-002", ""] for c in code_list]
    costs["plan"] = _statements(
        db,
        world,
        lambda: _import(
            db, world, now, ImportKind.monthly_plan, plan, PLAN_HEADER, world.county.id
        ),
    )
    replanned = [[c, "", "2026-12", "AQ-003", "改"] for c in code_list]
    costs["replan"] = _statements(
        db,
        world,
        lambda: _import(
            db, world, now, ImportKind.monthly_plan, replanned, PLAN_HEADER, world.county.id
        ),
    )
    return costs


def test_statements_do_not_grow_with_the_rows(db: Session, world: World, now: datetime) -> None:
    _costs(db, world, now, 1)  # creates the month's plan (a few statements, once)
    events_before = db.scalar(select(func.count()).select_from(AuditEvent)) or 0
    # More changed rows than the audit log appends in one SQL statement (20) in both runs,
    # so both take its bulk path: what is compared is how the import grows.
    few = _costs(db, world, now, 25)
    many = _costs(db, world, now, 60)
    assert many == few
    # What was written is what the rows said: every change audited, the chain intact.
    changed = db.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action.in_(["enterprise.updated", "plan_entry.changed"]))
    )
    assert changed == 2 * (1 + 25 + 60)
    assert (db.scalar(select(func.count()).select_from(AuditEvent)) or 0) > events_before
    assert verify_chain(db).ok
    notes = set(db.scalars(select(PlanEntry.note).where(PlanEntry.month == "2026-12")))
    assert notes == {"改"}


def test_the_garbage_collector_is_paused_only_while_an_import_runs(
    db: Session, world: World, now: datetime
) -> None:
    import gc

    seen: list[bool] = []
    rows = _enterprise_rows(codes(3), world.county.code, "丙")
    assert gc.isenabled()
    batch = service.check_file(
        db,
        actor=world.admin,
        kind=ImportKind.enterprises,
        filename="f.csv",
        data=csv_bytes([ENTERPRISE_HEADER, *rows]),
        now=now,
    )
    assert gc.isenabled()
    service.apply_batch(
        db,
        actor=world.admin,
        batch_id=batch.id,
        now=now,
        progress=lambda done, total: seen.append(gc.isenabled()),
    )
    assert seen == [False]
    assert gc.isenabled()
