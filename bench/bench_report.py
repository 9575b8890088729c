"""The monthly report's time (and plan coverage's) on a county-sized month (5,500
enterprises, 1,500 visits) and a city-sized year (15,000 visits), each beside its floor:
the statements that return the same figures (the report reads the summary tables of
webapp/supervision/summary.py: rows, total, chart): for the report, the SQL it ran,
recorded and replayed bare.

`make bench BENCH=report`. Each database is a temporary SQLite file, migrated like a real
one and filled by bench.datagen in bulk."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# The settings refuse to load without a key; the bench touches no secret.
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijkl")

from bench.datagen import CITY_YEAR, COUNTY_MONTH, Generated, Shape, generate
from webapp.__main__ import migrate
from webapp.auth.models import User
from webapp.config import get_settings
from webapp.db import make_engine, make_sessionmaker
from webapp.supervision import reports
from webapp.supervision.service import month_bounds


def _time(call: Callable[[], Any], *, repeat: int) -> tuple[float, Any]:
    """The median wall time of `call` in milliseconds (after one warm-up run), and its
    last result."""
    result = call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def _line(label: str, ms: float, floor: float | None = None) -> None:
    ratio = f"  ({ms / floor:.1f}x the floor)" if floor else ""
    print(f"  {label:<52} {ms:9.1f} ms{ratio}", flush=True)


def _build(tmp: Path, shape: Shape, now: datetime) -> tuple[Any, Generated]:
    url = f"sqlite:///{tmp / shape.name.replace(' ', '-')}.sqlite3"
    migrate(url)
    engine = make_engine(url)
    started = time.perf_counter()
    with make_sessionmaker(engine)() as session:
        generated = generate(session, shape, now=now)  # the summary rebuilt by it
    seconds = time.perf_counter() - started
    counts = generated.counts
    print(
        f"\n{shape.name}: {counts['enterprises']:,} enterprises, {counts['visits']:,} visits, "
        f"{counts['scans']:,} scans, {counts['flags']:,} flags, "
        f"{counts['item_findings']:,} findings; {generated.rows:,} rows generated in "
        f"{seconds:.1f} s ({generated.rows / seconds:,.0f} rows/s)",
        flush=True,
    )
    return engine, generated


def _floor(session: Any, statement: Any, *, repeat: int) -> float:
    """The bare statement: compiled once, executed on the connection, rows fetched."""
    connection = session.connection()
    ms, _rows = _time(lambda: connection.execute(statement).all(), repeat=repeat)
    return ms


def _report_floor(session: Any, actor: User, month: str, now: datetime, *, repeat: int) -> float:
    """The SQL the monthly report runs (rows, total, chart), recorded and replayed bare."""
    from bench.bench_lists import recorded

    replay = recorded(
        session, lambda: reports.monthly_report(session, actor=actor, month=month, now=now)
    )
    connection = session.connection()
    ms, _rows = _time(lambda: replay(connection), repeat=repeat)
    return ms


def county_month(tmp: Path, shape: Shape = COUNTY_MONTH) -> None:
    month = shape.months[0]
    _, end = month_bounds(month)
    now = end + timedelta(days=3)
    engine, generated = _build(tmp, shape, now)
    with make_sessionmaker(engine)() as session:
        actor = session.get(User, generated.supervisor_id)
        assert actor is not None
        report_ms, report = _time(
            lambda: reports.monthly_report(session, actor=actor, month=month, now=now), repeat=5
        )
        units = reports.report_units(session, actor=actor)
        floor_ms = _report_floor(session, actor, month, now, repeat=5)
        coverage_ms, coverage = _time(
            lambda: reports.plan_coverage(session, actor=actor, month=month, now=now), repeat=5
        )
        coverage_floor = _floor(
            session,
            reports.coverage_unit_statement(
                units=units, month=month, dialect=session.get_bind().dialect.name
            ),
            repeat=5,
        )
        total = report.total
        print(
            f"  report {month}: {len(report.rows)} units, {total.inspections:,} inspections, "
            f"{total.hazards:,} hazards, {total.cases:,} cases; coverage: "
            f"{coverage.total.planned:,} planned, {coverage.total.done:,} done, "
            f"{coverage.total.missed:,} missed"
        )
        _line("floor: the report's statements (summary tables)", floor_ms)
        _line("monthly report (rows, total, 12-month chart)", report_ms, floor_ms)
        _line("floor: the coverage GROUP BY statement", coverage_floor)
        _line("plan coverage", coverage_ms, coverage_floor)
    engine.dispose()


def city_year(tmp: Path, shape: Shape = CITY_YEAR) -> None:
    _, end = month_bounds(shape.months[-1])
    now = end + timedelta(days=3)
    engine, generated = _build(tmp, shape, now)
    with make_sessionmaker(engine)() as session:
        actor = session.get(User, generated.supervisor_id)
        assert actor is not None

        def twelve() -> list[reports.MonthlyReport]:
            return [
                reports.monthly_report(session, actor=actor, month=m, now=now) for m in shape.months
            ]

        twelve_ms, monthly = _time(twelve, repeat=3)
        units = reports.report_units(session, actor=actor)
        month_floors = [
            _report_floor(session, actor, month, now, repeat=3) for month in shape.months
        ]
        month_floor = sum(month_floors) / len(month_floors)
        start, _ = month_bounds(shape.months[0])
        year_ms, (_rows, year_total) = _time(
            lambda: reports.unit_figures(session, units=units, start=start, end=end, now=now),
            repeat=3,
        )
        statement = reports.unit_statement(session, units=units, start=start, end=end, now=now)
        floor_ms = _floor(session, statement, repeat=3)
        december = monthly[-1]
        print(
            f"  year: {len(units.units)} units, {year_total.inspections:,} inspections, "
            f"{year_total.hazards:,} hazards, {year_total.cases:,} cases; "
            f"{shape.months[-1]}: {december.total.inspections:,} inspections"
        )
        _line("floor: one month's statements, summary tables (average)", month_floor)
        _line("one monthly report (with its 12-month chart), average", twelve_ms / 12, month_floor)
        _line("12 monthly reports", twelve_ms)
        _line("floor: the year's GROUP BY statement", floor_ms)
        _line("the year in one aggregate (rows and total)", year_ms, floor_ms)
    engine.dispose()


def main() -> None:
    get_settings.cache_clear()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        county_month(Path(tmp))
        city_year(Path(tmp))
    print(f"\n  (report bench: {time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
