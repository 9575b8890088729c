"""Evidence tables refuse UPDATE and DELETE in the database itself, for every role."""

from __future__ import annotations

import importlib.util
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tests.dbs import triggers
from tests.factories import World, make_flag, make_scan
from webapp.audit import service as audit

_MIGRATION = (
    Path(__file__).resolve().parents[2]
    / "alembic/versions/20261201_0003_sign_in_attempts_append_only_evidence.py"
)


def _evidence_tables() -> tuple[str, ...]:
    spec = importlib.util.spec_from_file_location("migration_0003", _MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tables: tuple[str, ...] = module.EVIDENCE_TABLES
    return tables


EVIDENCE_TABLES = _evidence_tables()


def test_every_evidence_table_has_both_guards(db: Session) -> None:
    found = set(triggers(db))
    for table in EVIDENCE_TABLES:
        if db.get_bind().dialect.name == "postgresql":
            # One row trigger BEFORE UPDATE OR DELETE calling refuse_evidence_change().
            assert (f"{table}_append_only", table) in found, table
        else:
            assert (f"{table}_no_update", table) in found, table
            assert (f"{table}_no_delete", table) in found, table


def test_scans_flags_and_audit_rows_cannot_be_changed_or_removed(
    db: Session, world: World, now: datetime
) -> None:
    scan = make_scan(db, visit=None, user=world.manager_a, now=now)
    flag = make_flag(db, kind="refused_scan", agency=world.county, now=now, scan=scan)
    audit.record(db, actor_id=None, action="t", object_type="t", object_id=1, now=now)
    db.commit()
    for statement, row_id in (
        ("UPDATE scans SET reason_code = 'x' WHERE id = :id", scan.id),
        ("DELETE FROM scans WHERE id = :id", scan.id),
        ("UPDATE flags SET severity = 'info' WHERE id = :id", flag.id),
        ("DELETE FROM flags WHERE id = :id", flag.id),
        ("UPDATE audit_events SET action = 'x' WHERE id > :id", 0),
        ("DELETE FROM audit_events WHERE id > :id", 0),
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement), {"id": row_id})
        db.rollback()
    assert db.scalar(text("SELECT count(*) FROM scans")) == 1
    assert db.scalar(text("SELECT count(*) FROM flags")) == 1
