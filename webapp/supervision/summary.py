"""The monthly report's summary tables, derived from the records: queued by the transaction
that writes a record, brought up to date before they are read.

`agency_closure` (every ancestor of every agency) and `report_visit_units` (what one visit
adds to one report unit in one month: see the model) are DERIVED: not evidence, updated and
deleted freely, never audited, rebuildable from the records at any time:

    python -m webapp reports rebuild   # recompute everything (also after changing TIMEZONE)
    python -m webapp reports check     # recompute and compare; non-zero exit on differences

How they stay current: a session `after_flush` hook collects the visits whose rows may have
changed (new, changed or deleted visits, team members, inspection records, item findings,
rectifications, inspectors moved to another agency), a `do_orm_execute` hook does the same for
Core statements run through a session on those tables (`insert(visit_items)`,
`update(Inspector)`), and at commit (`before_commit`, after the last flush) their ids go into
`report_summary_queue`, in the writing transaction: what it wrote and what it queued commit or
roll back together. `catch_up` recomputes the queued visits' rows with the same set-based
statement the rebuild uses, many visits at a time, and deletes them from the queue: the report
pages call it before they read, `reports check` too, and the background sweep drains the queue
between page views. (Recomputing in the writing transaction itself cost a confirmation, the
busiest write, a quarter of its database work.) Statements executed on `session.connection()`
directly pass no hook: code writing those tables must go through `session.execute`, or say
what it changed with `mark_written` (the test guard in tests/supervision/summary_guard.py
catches a miss). A new agency gets its closure rows; an agency moved under another parent
rebuilds both.
Bulk loaders that bypass the session (bench.datagen's COPY) call `rebuild` afterwards, and
set `session.info[SKIP] = True` meanwhile.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Delete,
    Insert,
    Integer,
    String,
    Update,
    and_,
    bindparam,
    case,
    delete,
    event,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.sql.elements import BindParameter

from webapp.agencies.models import Agency, Inspector
from webapp.db import among_param, begin_write, in_write_transaction
from webapp.enums import FindingOutcome, VisitStatus
from webapp.findings.models import Inspection, ItemFinding, Rectification
from webapp.supervision.models import (
    AgencyClosure,
    ReportChartCache,
    ReportMonthVersion,
    ReportSummaryQueue,
    ReportVisitUnit,
)
from webapp.visits.models import Visit, VisitInspector, visit_items

SKIP = "report_summary_skip"  # session.info key: a bulk loader rebuilds afterwards
_BATCH = 500  # visit ids per statement when refreshing many


# --- agency closure ---------------------------------------------------------------------------


def closure_pairs(parents: dict[int, int | None]) -> list[tuple[int, int]]:
    """(ancestor, agency) for every agency and each of its ancestors, itself included."""
    pairs = []
    for agency in parents:
        seen: set[int] = set()
        node: int | None = agency
        while node is not None and node not in seen:  # a cycle cannot be stored, but be safe
            seen.add(node)
            pairs.append((node, agency))
            node = parents.get(node)
    return pairs


def rebuild_closure(session: Session) -> None:
    parents = {a: p for a, p in session.execute(select(Agency.id, Agency.parent_id))}
    connection = session.connection()
    connection.execute(delete(AgencyClosure))
    pairs = closure_pairs(parents)
    if pairs:
        connection.execute(
            insert(AgencyClosure), [{"ancestor_id": a, "agency_id": b} for a, b in pairs]
        )


def _add_agencies(session: Session, agencies: Sequence[Agency]) -> None:
    """Closure rows for new agencies (their parents' rows exist, or come in the same batch)."""
    connection = session.connection()
    for agency in sorted(agencies, key=lambda a: a.id):
        ancestors = [agency.id]
        if agency.parent_id is not None:
            ancestors += list(
                connection.execute(
                    select(AgencyClosure.ancestor_id).where(
                        AgencyClosure.agency_id == agency.parent_id
                    )
                ).scalars()
            )
        connection.execute(
            insert(AgencyClosure), [{"ancestor_id": a, "agency_id": agency.id} for a in ancestors]
        )


# --- the per-visit rows -----------------------------------------------------------------------


def _months_between(first: datetime, last: datetime) -> list[str]:
    from webapp.web import tz

    a, b = first.astimezone(tz()), last.astimezone(tz())
    months = []
    year, mon = a.year, a.month
    while (year, mon) <= (b.year, b.month):
        months.append(f"{year:04d}-{mon:02d}")
        year, mon = year + (mon == 12), mon % 12 + 1
    return months


def month_of(at: Any, months: Sequence[str]) -> ColumnElement[Any]:
    """The local month (YYYY-MM) of a stored UTC time, in SQL on both engines: a CASE over
    the months' bounds (Settings.timezone), the same bounds the reference statements use."""
    from webapp.supervision.service import month_bounds

    whens = []
    for m in months:
        start, end = month_bounds(m)
        whens.append((and_(at >= start, at < end), literal(m)))
    return case(*whens, else_=literal(""))


def rows_statement(
    session: Session,
    visit_filter: ColumnElement[bool],
    months: Sequence[str],
    month: ColumnElement[Any] | None = None,
) -> Any:
    """SELECT of the summary rows of the visits matching `visit_filter` (a clause on Visit),
    their month computed in SQL over `months`, or `month` given (all in that one month)."""
    from webapp.supervision.reports import HAZARDS, _covering_agency, _on_time, _record_join
    from webapp.supervision.service import month_bounds

    one, zero = literal(1), literal(0)
    confirmed = Visit.status == VisitStatus.confirmed
    columns = ("visit_id", "agency_id", "part", "reg", "hz", "mj", "ot")

    def labelled(*values: Any) -> list[Any]:
        return [v.label(n) for v, n in zip(values, columns, strict=True)]

    own = select(
        *labelled(
            Visit.id, Visit.agency_id, case((confirmed, one), else_=zero), one, zero, zero, zero
        )
    ).where(visit_filter)
    team = (
        select(*labelled(VisitInspector.visit_id, Inspector.agency_id, one, zero, zero, zero, zero))
        .join(Inspector, Inspector.id == VisitInspector.inspector_id)
        .join(Visit, Visit.id == VisitInspector.visit_id)
        .where(visit_filter, confirmed)
    )
    items = (
        select(
            *labelled(visit_items.c.visit_id, visit_items.c.agency_id, one, zero, zero, zero, zero)
        )
        .join(Visit, Visit.id == visit_items.c.visit_id)
        .where(visit_filter, confirmed, visit_items.c.agency_id.is_not(None))
    )
    is_hazard = ItemFinding.outcome.in_(HAZARDS)
    first_start = month_bounds(months[0])[0] if months else datetime.now(UTC)
    findings = (
        select(
            *labelled(
                Visit.id,
                _covering_agency(),
                zero,
                zero,
                case((is_hazard, one), else_=zero),
                case((ItemFinding.outcome == FindingOutcome.major_hazard, one), else_=zero),
                case((and_(is_hazard, _on_time(session, first_start)), one), else_=zero),
            )
        )
        .select_from(Visit)
        .join(Inspection, _record_join())
        .join(ItemFinding, ItemFinding.inspection_id == Inspection.id)
        .where(visit_filter, confirmed)
    )
    involved = union_all(own, team, items, findings).subquery("involved")
    per_agency = (
        select(
            involved.c.visit_id,
            involved.c.agency_id,
            func.max(involved.c.part).label("part"),
            func.max(involved.c.reg).label("reg"),
            func.sum(involved.c.hz).label("hz"),
            func.sum(involved.c.mj).label("mj"),
            func.sum(involved.c.ot).label("ot"),
        )
        .group_by(involved.c.visit_id, involved.c.agency_id)
        .cte("per_agency")
    )
    pa = per_agency.c
    scoped = union_all(
        select(
            pa.visit_id,
            pa.agency_id.label("unit"),
            false().label("tree"),
            pa.part,
            pa.reg,
            pa.hz,
            pa.mj,
            pa.ot,
        ),
        select(
            pa.visit_id,
            AgencyClosure.ancestor_id.label("unit"),
            true().label("tree"),
            pa.part,
            pa.reg,
            pa.hz,
            pa.mj,
            pa.ot,
        ).join(AgencyClosure, AgencyClosure.agency_id == pa.agency_id),
    ).subquery("scoped")
    s = scoped.c
    part = func.max(s.part)
    case_int = case((Inspection.case_opened, one), else_=zero)
    cases = func.max(s.reg * case_int)
    fines = func.max(s.reg * func.coalesce(Inspection.fine_fen, 0))
    return (
        select(
            s.unit.label("agency_id"),
            s.tree,
            (
                month
                if month is not None
                else func.max(month_of(Visit.window_start, months))
                if months
                else literal("")
            ).label("month"),
            s.visit_id,
            func.max(Visit.enterprise_id).label("enterprise_id"),
            part.label("inspection"),
            func.max(case((Visit.plan_entry_id.is_(None), s.part), else_=zero)).label("extra"),
            func.coalesce(cases, 0).label("cases"),
            func.coalesce(fines, 0).label("fines_fen"),
            func.sum(s.hz).label("hazards"),
            func.sum(s.mj).label("major_hazards"),
            func.sum(s.ot).label("rectified_on_time"),
        )
        .select_from(scoped)
        .join(Visit, Visit.id == s.visit_id)
        .outerjoin(Inspection, _record_join())
        .group_by(s.unit, s.tree, s.visit_id)
        .having(or_(part > 0, func.coalesce(cases, 0) > 0, func.coalesce(fines, 0) > 0))
        # Written in the order the report reads them: a unit's month lies in a few pages
        # (PostgreSQL, province: a month of the root's rows in ~300 pages, not 18,000).
        .order_by(s.unit, s.tree, func.max(Visit.window_start), s.visit_id)
    )


ROW_COLUMNS = (
    "agency_id",
    "tree",
    "month",
    "visit_id",
    "enterprise_id",
    "inspection",
    "extra",
    "cases",
    "fines_fen",
    "hazards",
    "major_hazards",
    "rectified_on_time",
)


def _fill(session: Session, visit_filter: ColumnElement[bool]) -> None:
    connection = session.connection()
    first, last = connection.execute(
        select(func.min(Visit.window_start), func.max(Visit.window_start)).where(visit_filter)
    ).one()
    if first is None:
        return
    from webapp.db import UTCDateTime

    # min()/max() bypass the column type on SQLite: convert like the column does.
    kind = UTCDateTime()
    dialect = connection.dialect
    low = kind.process_result_value(_as_datetime(first), dialect)
    high = kind.process_result_value(_as_datetime(last), dialect)
    assert low is not None
    assert high is not None
    months = _months_between(low, high)
    connection.execute(
        insert(ReportVisitUnit).from_select(
            list(ROW_COLUMNS), rows_statement(session, visit_filter, months)
        )
    )


def _as_datetime(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


_REFRESH: dict[tuple[str, str, bool], Any] = {}


def _refresh_statement(session: Session, *, single: bool = False) -> Any:
    """The INSERT ... SELECT for a list of visits of one month (binds `visit_ids` and
    `month`, the local month computed in Python), built once per process: building and
    compiling it took longer than running it (tens of ms against under one). `single`
    (SQLite): for one visit, `visit_ids` bound to its id."""
    from webapp.config import get_settings

    dialect = session.connection().dialect.name
    key = (dialect, get_settings().timezone, single)
    if key not in _REFRESH:
        if single and dialect != "postgresql":
            # An expanding IN is rendered again at each run: for this statement's size that
            # cost more than SQLite's running it.
            chosen = Visit.id == bindparam("visit_ids", type_=Integer)
        else:
            # On PostgreSQL `= ANY(array)`: one SQL text for any number of visits, so psycopg
            # prepares it on the server after a few runs and PostgreSQL stops planning it.
            chosen = among_param(Visit.id, "visit_ids", dialect)
        _REFRESH[key] = insert(ReportVisitUnit).from_select(
            list(ROW_COLUMNS),
            rows_statement(session, chosen, [], month=bindparam("month", type_=String)),
        )
    return _REFRESH[key]


def _months_of(session: Session, ids: Sequence[int]) -> dict[str, list[int]]:
    """The visits' local months (of their window start); a visit no longer there has none."""
    from webapp.supervision.service import current_month as month_of_time

    months: dict[str, list[int]] = {}
    for visit_id, start in session.connection().execute(
        select(Visit.id, Visit.window_start).where(Visit.id.in_(ids))
    ):
        months.setdefault(month_of_time(start), []).append(visit_id)
    return months


_DELETE_ROWS = (
    delete(ReportVisitUnit)
    .where(ReportVisitUnit.visit_id.in_(bindparam("visit_ids", expanding=True)))
    .returning(ReportVisitUnit.month)
)
_DELETE_ONE = (
    delete(ReportVisitUnit)
    .where(ReportVisitUnit.visit_id == bindparam("visit_id"))
    .returning(ReportVisitUnit.month)
)


def refresh_visits(session: Session, visit_ids: Iterable[int]) -> None:
    """Recompute the summary rows of these visits (in the session's transaction)."""
    ids = sorted(set(visit_ids))
    connection = session.connection()
    changed: set[str] = set()  # the months whose rows this refresh may change
    if len(ids) == 1 and connection.dialect.name == "sqlite":
        # One visit (a catch-up soon after one write): without an expanding IN (SQLite).
        months = _months_of(session, ids)
        changed.update(connection.execute(_DELETE_ONE, {"visit_id": ids[0]}).scalars())
        statement = _refresh_statement(session, single=True)
        for month in months:
            connection.execute(statement, {"visit_ids": ids[0], "month": month})
        ids = []
        changed.update(months)
    statement = _refresh_statement(session)
    for i in range(0, len(ids), _BATCH):
        batch = ids[i : i + _BATCH]
        months = _months_of(session, batch)  # a visit deleted meanwhile has none: no rows
        changed.update(connection.execute(_DELETE_ROWS, {"visit_ids": batch}).scalars())
        for month, of_month in months.items():
            connection.execute(statement, {"visit_ids": of_month, "month": month})
        changed.update(months)
    bump_months(session, [m for m in changed if m and m < current_month()])


# --- the chart cache's versions (read by reports.summary_month_series) ------------------------
# `report_chart_cache` holds the chart's figures of months before the previous one, each
# valid while `report_month_versions` still has the version it was computed at. Whoever
# recomputes rows (`refresh_visits`: a catch-up, a bulk write) bumps the version of every
# month before the current one (wall clock, Settings.timezone) whose rows it changes, in the
# same transaction; the reader reads the version BEFORE the rows it computes from, so rows
# changed meanwhile leave the new cache row behind.
# The reader only caches months before the previous one of its own clock: a clock a few
# minutes apart across a month's boundary cannot make a cached month one writers skip.
# `EPOCH` (a month key no month has): bumped by a rebuild, part of every cache row's scope.

EPOCH = "*"


def current_month() -> str:
    """The wall clock's local month (YYYY-MM, Settings.timezone)."""
    from webapp.supervision import service

    return service.current_month(datetime.now(UTC))


def dialect_insert(dialect: str, table: Any) -> Any:
    """INSERT with ON CONFLICT clauses (PostgreSQL's or SQLite's, the same SQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def bump_months(session: Session, months: Iterable[str]) -> None:
    """+1 on each month's version (in the caller's transaction; sorted: no deadlock)."""
    chosen = sorted(set(months))
    if not chosen:
        return
    statement = dialect_insert(session.connection().dialect.name, ReportMonthVersion).values(
        [{"month": m, "version": 1} for m in chosen]
    )
    statement = statement.on_conflict_do_update(
        index_elements=[ReportMonthVersion.month],
        set_={"version": ReportMonthVersion.version + 1},
    )
    session.connection().execute(statement)


def clear_chart_cache(session: Session) -> None:
    """Invalidate every cached chart month (a rebuild): bump the epoch, drop the rows."""
    bump_months(session, [EPOCH])
    session.connection().execute(delete(ReportChartCache))


def rebuild(session: Session, *, truncate: bool = True, chart_cache: bool = True) -> None:
    """Recompute both tables from the records (set-based; the caller commits). On
    PostgreSQL the table is truncated first (no dead rows left between the new ones).
    The chart cache is invalidated too (`chart_cache` false: before migration 0006)."""
    rebuild_closure(session)
    if chart_cache:
        clear_chart_cache(session)
    connection = session.connection()
    if truncate and connection.dialect.name == "postgresql":
        connection.execute(text("TRUNCATE report_visit_units"))
    else:
        connection.execute(delete(ReportVisitUnit))
    _fill(session, true())


# --- check ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    table: str
    row: tuple[Any, ...]
    stored: bool  # True: stored but not recomputed; False: recomputed but missing


def differences(session: Session, limit: int = 50) -> list[Difference]:
    """Stored rows that a rebuild would not produce, and rows it would produce that are not
    stored (the check: rebuilds inside a savepoint and compares, then rolls back)."""

    def snapshot() -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
        closure = {
            tuple(r)
            for r in session.execute(select(AgencyClosure.ancestor_id, AgencyClosure.agency_id))
        }
        rows = set(
            tuple(r)
            for r in session.execute(select(*[ReportVisitUnit.__table__.c[n] for n in ROW_COLUMNS]))
        )
        return closure, rows

    catch_up(session)
    session.flush()
    before = snapshot()
    nested = session.begin_nested()
    session.info[SKIP] = True
    try:
        rebuild(session, truncate=False, chart_cache=False)
        after = snapshot()
    finally:
        nested.rollback()
        session.info.pop(SKIP, None)
    found: list[Difference] = []
    for name, old, new in (
        ("agency_closure", before[0], after[0]),
        ("report_visit_units", before[1], after[1]),
    ):
        found += [Difference(name, r, True) for r in sorted(old - new, key=repr)]
        found += [Difference(name, r, False) for r in sorted(new - old, key=repr)]
    return found[:limit] if limit else found


# --- keeping them current ---------------------------------------------------------------------


_PENDING = "report_summary_pending"


def _visit_ids_of(session: Session, objects: Iterable[Any]) -> set[int]:
    visits: set[int] = set()
    inspections: set[int] = set()
    findings: set[int] = set()
    inspectors: set[int] = set()
    for obj in objects:
        if isinstance(obj, Visit):
            visits.add(obj.id)
        elif isinstance(obj, VisitInspector | Inspection):
            visits.add(obj.visit_id)
        elif isinstance(obj, ItemFinding):
            inspections.add(obj.inspection_id)
        elif isinstance(obj, Rectification):
            findings.add(obj.item_finding_id)
        elif isinstance(obj, Inspector):
            inspectors.add(obj.id)
    connection = session.connection()
    if findings:
        inspections |= set(
            connection.execute(
                select(ItemFinding.inspection_id).where(ItemFinding.id.in_(findings))
            ).scalars()
        )
    if inspections:
        visits |= set(
            connection.execute(
                select(Inspection.visit_id).where(Inspection.id.in_(inspections))
            ).scalars()
        )
    if inspectors:
        visits |= set(
            connection.execute(
                select(VisitInspector.visit_id).where(VisitInspector.inspector_id.in_(inspectors))
            ).scalars()
        )
    return visits


def _moved(obj: Any, attribute: str) -> bool:
    from sqlalchemy import inspect as sa_inspect

    history = sa_inspect(obj).attrs[attribute].history
    return bool(history.deleted)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if session.info.get(SKIP):
        return
    new = list(session.new)
    dirty = [o for o in session.dirty if session.is_modified(o, include_collections=False)]
    deleted = list(session.deleted)
    new_agencies = [o for o in new if isinstance(o, Agency)]
    if any(isinstance(o, Agency) and _moved(o, "parent_id") for o in dirty) or any(
        isinstance(o, Agency) for o in deleted
    ):
        rebuild(session)
        return
    if new_agencies:
        _add_agencies(session, new_agencies)
    moved_inspectors = [o for o in dirty if isinstance(o, Inspector) and _moved(o, "agency_id")]
    watched = [
        o
        for o in (*new, *dirty, *deleted)
        if isinstance(o, Visit | VisitInspector | Inspection | ItemFinding | Rectification)
    ]
    ids = _visit_ids_of(session, [*watched, *moved_inspectors])
    if ids:
        _defer(session, ids)


def _defer(session: Session, visit_ids: Iterable[int]) -> None:
    """Remember visits to queue at commit: one transaction flushes several times (a
    registration: the visit, its team, its items), the queue gets each visit once."""
    pending: set[int] = session.info.setdefault(_PENDING, set())
    pending.update(visit_ids)


def mark_written(session: Session, visit_id: int) -> None:
    """A visit changed by a plain statement on the session's connection, which the hooks do
    not see (a confirmation): queue it at commit."""
    _defer(session, [visit_id])


_QUEUE = insert(ReportSummaryQueue)
# A write that touches more visits than this recomputes them itself, as before the queue:
# a bulk change (an inspector moved with all the visits of their teams) should not hand its
# cost to the next page view.
INLINE_AT = 200


@event.listens_for(Session, "before_commit", insert=True)
def _before_commit(session: Session) -> None:
    """Queue the visits the transaction wrote, in it, after its last flush (many: recompute
    them here). First of the commit hooks (`insert=True`): the audit log's append, which
    holds PostgreSQL's chain lock until the commit, comes after it."""
    if session.info.get(SKIP):
        return
    if session.new or session.dirty or session.deleted:
        session.flush()  # before_commit runs before commit's own flush: its marks count too
    ids = session.info.pop(_PENDING, None)
    if not ids:
        return
    if len(ids) > INLINE_AT:
        refresh_visits(session, ids)
        return
    rows = [{"visit_id": i} for i in sorted(ids)]
    session.connection().execute(_QUEUE, rows[0] if len(rows) == 1 else rows)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    # What the rolled-back writes marked is gone with them. (A savepoint's rollback keeps the
    # marks: recomputing a visit whose rows did not change costs time, never correctness.)
    session.info.pop(_PENDING, None)


# --- catching up ------------------------------------------------------------------------------

_ANY_QUEUED = select(ReportSummaryQueue.id).limit(1)
# The oldest queued rows, at most `n`: a catch-up goes batch by batch, each batch its own
# transaction when it may commit, so no page holds the write turn (SQLite) or the lock below
# for long after a burst of writes.
_TAKE_QUEUED = (
    delete(ReportSummaryQueue)
    .where(
        ReportSummaryQueue.id.in_(
            select(ReportSummaryQueue.id)
            .order_by(ReportSummaryQueue.id)
            .limit(bindparam("n", type_=Integer))
            .scalar_subquery()
        )
    )
    .returning(ReportSummaryQueue.visit_id)
)
# PostgreSQL: one catch-up at a time (writers only insert into the queue, never wait on it).
# Two recomputing one visit in parallel (two queue rows of it) would collide on its rows.
# The second's DELETE of the oldest queue rows would also wait on the first's rows, which it
# sees until the first commits; the lock says so outright, and holds for any batch size.
_CATCH_UP_LOCK = text("SELECT pg_advisory_xact_lock(7410002)")


def catch_up(session: Session) -> int:
    """Recompute the rows of every queued visit and empty the queue, so the summary read
    next is current. Outside a transaction or inside a read transaction (a page's read) it
    works in transactions of its own, `_BATCH` visits each (under SQLite's write turn; a read
    transaction is ended first), and the caller's reads begin after it; inside a write
    transaction (`begin_write`) it recomputes in that transaction (the caller commits).
    Returns the visits recomputed. With nothing queued it costs one read (and leaves that
    read transaction open). Refuses to run over changes the session has not flushed outside
    a write transaction: its commit would write them."""
    writing = in_write_transaction(session)
    if not writing and (session.new or session.dirty or session.deleted):
        raise RuntimeError("summary.catch_up with pending changes outside a write transaction")
    # The session's connection, not session.execute: no autoflush.
    if session.connection().execute(_ANY_QUEUED).first() is None:
        return 0
    done = 0
    while True:
        if not writing:
            session.commit()  # ends the read (or the last batch)
            begin_write(session)
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(_CATCH_UP_LOCK)
        ids = set(connection.execute(_TAKE_QUEUED, {"n": _BATCH}).scalars())
        refresh_visits(session, ids)
        done += len(ids)
        if not ids or connection.execute(_ANY_QUEUED).first() is None:
            break
    if not writing:
        session.commit()
    return done


def _bound_ids(statement: Update, rows: list[Any]) -> set[int] | None:
    """The ids an UPDATE ... WHERE id = <value or bind parameter> targets (an executemany
    gives one row of parameters per id, as the spreadsheet import does)."""
    where = statement.whereclause
    left, right = getattr(where, "left", None), getattr(where, "right", None)
    if getattr(left, "key", None) != "id" or not isinstance(right, BindParameter):
        return None
    if right.value is not None and not any(right.key in r for r in rows if hasattr(r, "get")):
        return {int(right.value)}
    return {int(r[right.key]) for r in rows if hasattr(r, "get") and right.key in r}


_WATCHED_TABLES = {
    "visits": "id",
    "visit_inspectors": "visit_id",
    "visit_items": "visit_id",
    "inspections": "visit_id",
}


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> Any:
    """Core/ORM-enabled INSERT, UPDATE and DELETE on the tables the rows derive from."""
    session = state.session
    statement = state.statement
    if session.info.get(SKIP) or not isinstance(statement, Insert | Update | Delete):
        return None
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    params: Any = state.parameters
    rows: list[Any] = params if isinstance(params, list) else [params or {}]
    if name == "inspectors" and isinstance(statement, Update):
        changed = {getattr(k, "key", k) for k in (statement._values or {})}
        if "agency_id" not in changed:
            return None
        connection = session.connection()
        targets = _bound_ids(statement, rows)
        if targets is None:  # a WHERE clause other than `id = <value>`: evaluate it
            query = select(Inspector.id)
            if statement.whereclause is not None:
                query = query.where(statement.whereclause)
            targets = set(connection.execute(query, rows[0] if rows else {}).scalars())
        result = state.invoke_statement()
        moved = set(
            connection.execute(
                select(VisitInspector.visit_id).where(VisitInspector.inspector_id.in_(targets))
            ).scalars()
        )
        _defer(session, moved)
        return result
    if name == "agencies":
        result = state.invoke_statement()
        rebuild(session)
        return result
    if name not in _WATCHED_TABLES or table is None:
        return None
    column = table.c[_WATCHED_TABLES[name]]
    ids: set[int] = set()
    if isinstance(statement, Insert):
        for row in rows:
            value = row.get(column.key) if hasattr(row, "get") else None
            if isinstance(value, int):
                ids.add(value)
        for key, given in (statement._values or {}).items():  # insert(...).values(...)
            value = getattr(given, "value", given)
            if getattr(key, "key", key) == column.key and isinstance(value, int):
                ids.add(value)
        result = state.invoke_statement()
    else:
        query = select(column)
        if statement.whereclause is not None:
            query = query.where(statement.whereclause)
        for row in rows:  # an executemany: the WHERE clause once per row of parameters
            found = session.connection().execute(query, row if hasattr(row, "get") else {})
            ids |= {i for i in found.scalars() if i is not None}
        result = state.invoke_statement()
    if ids:
        _defer(session, ids)
    return result


def run_command(session: Session, action: str) -> int:
    """`python -m webapp reports rebuild|check`."""
    if action == "rebuild":
        from webapp.db import begin_write

        begin_write(session)
        rebuild(session)
        session.commit()
        count = session.scalar(select(func.count()).select_from(ReportVisitUnit))
        print(f"report summary rebuilt: {count} rows")
        return 0
    found = differences(session, limit=0)
    session.rollback()
    if not found:
        print("report summary matches the records")
        return 0
    for difference in found[:50]:
        where = "stored, not recomputed" if difference.stored else "recomputed, not stored"
        print(f"{difference.table}: {where}: {difference.row}", file=sys.stderr)
    print(
        f"report summary differs from the records in {len(found)} row(s): "
        "run `python -m webapp reports rebuild`",
        file=sys.stderr,
    )
    return 1
