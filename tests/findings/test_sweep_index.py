"""The hazard sweep starts from its queue's rows due, read by the index on `due` (migration
0009), not from the major hazards: a sweep with nothing due is that one statement, whatever
the number of hazards settled long ago. The plan checked is PostgreSQL's generic plan (psycopg
prepares a statement run a few times on one connection, as the sweep's is)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tests.factories import World
from tests.findings.helpers import confirmed_visit, day_of, results
from webapp.clock import FixedClock
from webapp.findings import service

INDEX = "ix_hazard_sweep_queue_due"


def _sweep_statements(db: Session, clock: FixedClock) -> tuple[list[tuple[str, Any]], int]:
    """Run the sweep; return the statements it sent (not BEGIN/COMMIT/ROLLBACK) with their
    parameters, and how many flags it raised."""
    sent: list[tuple[str, Any]] = []

    def capture(conn: Connection, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            sent.append((statement, params))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        raised = service.sweep_overdue_hazards(db, now=clock.now())
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return sent, raised


def _plan(db: Session, statement: str, params: Any) -> str:
    db.rollback()
    conn = db.connection()
    if conn.dialect.name == "postgresql":
        # The generic plan, made without the parameters' values (EXPLAIN of the statement
        # itself would plan with them). Seq scans off so that a tiny table still shows
        # whether the index CAN be used.
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement)))
        numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", statement)
        conn.exec_driver_sql("PREPARE sweep_read AS " + numbered.replace("%%", "%"))
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        # The values as quoted literals: PostgreSQL casts each to its parameter's type.
        args = ", ".join("'" + str(params[n]).replace("'", "''") + "'" for n in names)
        rows = conn.exec_driver_sql(f"EXPLAIN EXECUTE sweep_read({args})").all()
        conn.exec_driver_sql("DEALLOCATE sweep_read")
    else:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
    db.rollback()
    return "\n".join(str(r[-1]) for r in rows)


def test_the_sweep_reads_its_queue_by_the_due_index(
    db: Session, world: World, clock: FixedClock
) -> None:
    visit = confirmed_visit(db, world, clock.now())
    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "major_hazard", "hazard", deadline=day_of(visit) + timedelta(3)),
        now=clock.now(),
    )
    clock.advance(days=5)
    sent, raised = _sweep_statements(db, clock)
    assert raised == 1  # the major hazard, not the plain one: the statement still judges
    statement, params = sent[0]
    assert "FROM hazard_sweep_queue" in statement
    assert INDEX in _plan(db, statement, params)

    # Nothing new: the queue's empty range, one statement, nothing written.
    sent, raised = _sweep_statements(db, clock)
    assert raised == 0
    assert len(sent) == 1, sent
    assert "FROM hazard_sweep_queue" in sent[0][0]
