"""The hazard sweep reads the major hazards past their deadline from the partial index
ix_item_findings_major_hazard_due (migration 0007), not by reading every finding: its
statement must say `outcome = 'major_hazard'` in the SQL itself: with a bound parameter
PostgreSQL's generic plan (psycopg prepares a statement run a few times on one connection, as
the sweep's is) cannot match the index's predicate. (SQLite can: it compares bound values.)"""

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

INDEX = "ix_item_findings_major_hazard_due"


def _sweep_statement(db: Session, clock: FixedClock) -> tuple[str, Any, int]:
    """Run the sweep; return its read statement as sent to the database, its parameters and
    how many flags it raised."""
    sent: list[tuple[str, Any]] = []

    def capture(conn: Connection, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM item_findings JOIN inspections" in statement:
            sent.append((statement, params))

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        raised = service.sweep_overdue_hazards(db, now=clock.now())
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(sent) == 1, sent
    return sent[0][0], sent[0][1], raised


def _plan(db: Session, statement: str, params: Any) -> str:
    db.rollback()
    conn = db.connection()
    if conn.dialect.name == "postgresql":
        # The plan PostgreSQL settles on for a statement prepared and run many times: the
        # generic plan, made without the parameters' values (EXPLAIN of the statement itself
        # would plan with them). Seq scans off so that a tiny table still shows whether the
        # index CAN be used.
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


def test_the_sweep_reads_major_hazards_by_the_partial_index(
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
    statement, params, raised = _sweep_statement(db, clock)
    assert raised == 1  # the major hazard, not the plain one: the statement still judges
    assert INDEX in _plan(db, statement, params)
    assert "'major_hazard'" in statement
