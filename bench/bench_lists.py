"""The pages that grow with the data, at province size on PostgreSQL: the flag list's first
page (and filtered, and the next page), the monthly report (a province's and a city's), plan
coverage, enterprise search, an enterprise's year of visits, and the hazard sweep with nothing
new (every app worker runs it every few minutes). Each beside its floor: the
bare SQL statement(s) returning the same rows, executed on the same connection in the same
run (median of several runs after a warm-up). The bench also checks that the service and its
floor return the same rows. The monthly report's and the flag list's floor is the SQL the page
ran, recorded and replayed bare (the chart's months before the previous one come from its
cache: the floor reads the cache as the page does, not the months' rows; a flag row shows its
agency, enterprise, visit and resolutions); the flag list is also shown against its table
alone (the flags' own columns, no related rows).

    make bench BENCH=lists                  # province: 100,000 enterprises, 1,000,000 visits
    BENCH_SHAPE=city make bench BENCH=lists # a city's year: quick

Building the province set takes minutes, so it is built once and reused: the database
`bench_<shape>` in a persistent cluster under `.bench/pg` (port `BENCH_PG_PORT`, default
55490; started if not running, left running: `tools/pgcluster stop .bench/pg` to stop it,
`rm -rf .bench` to forget the data), or in the cluster of `BENCH_DATABASE_URL` if set. The
generator's marker row (shape, seed, version) says whether the data can be reused; a reused
database is migrated to head first (new indexes are built on the existing data).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

# The settings refuse to load without a key; the bench touches no secret.
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijkl")

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    distinct,
    event,
    exists,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bench import datagen
from bench.datagen import Shape
from webapp.__main__ import migrate
from webapp.agencies.models import Agency
from webapp.auth.models import User
from webapp.db import UTCDateTime, among, make_engine, make_sessionmaker
from webapp.enterprises import service as enterprises
from webapp.enterprises.models import Enterprise
from webapp.enums import FlagKind, Role, VisitStatus
from webapp.findings import service as findings
from webapp.supervision import reports
from webapp.supervision import service as supervision
from webapp.supervision.models import Flag, FlagResolution, ReportVisitUnit
from webapp.supervision.service import FlagState, month_bounds
from webapp.visits import service as visits
from webapp.visits.models import Visit
from webapp.web import to_local

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / ".bench" / "pg"
REPEAT = 7


@dataclass(frozen=True)
class Figure:
    label: str
    ms: float  # the service (what the page calls)
    floor_ms: float  # the bare statement(s) returning the same rows
    rows: int

    @property
    def ratio(self) -> float:
        return self.ms / self.floor_ms if self.floor_ms else 0.0


def _time_both(
    service: Callable[[], Any], floor: Callable[[], Any], *, repeat: int
) -> tuple[float, Any, float, Any]:
    """The median wall times of `service` and of its `floor` in ms, run in turn (after one
    warm-up run of each) so that both see the same load from other work; their last results.
    (Timed one after the other, a floor run while other jobs peaked came out slower than its
    page.)"""
    got, bare = service(), floor()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for call, spent in ((service, times[0]), (floor, times[1])):
            started = time.perf_counter()
            result = call()
            spent.append((time.perf_counter() - started) * 1000)
            if call is service:
                got = result
            else:
                bare = result
    return statistics.median(times[0]), got, statistics.median(times[1]), bare


def _user(session: Session, username: str, role: Role, agency_id: int) -> User:
    """A supervisor of `agency_id` (made once; users are not evidence)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(
            username=username,
            display_name=username,
            password_hash=datagen.NO_SIGN_IN,
            role=role,
            agency_id=agency_id,
            is_active=True,
            created_at=datetime.now().astimezone(),
        )
        session.add(user)
        session.commit()
    return user


def _flag_floor(
    ids: set[int] | None,
    *,
    kind: FlagKind | None,
    state: FlagState,
    limit: int,
    after: Any,
    dialect: str,
) -> Any:
    """The flag list's rows, bare: the same filters, order and limit, no related rows."""
    query = select(Flag.__table__)
    if ids is not None:
        query = query.where(among(Flag.agency_id, ids, dialect))  # as the page sends it
    if kind is not None:
        query = query.where(Flag.kind == kind)
    resolved = exists().where(FlagResolution.flag_id == Flag.id)
    if state == FlagState.open:
        query = query.where(~resolved)
    elif state == FlagState.resolved:
        query = query.where(resolved)
    if after is not None:
        at, row_id = after
        query = query.where(or_(Flag.raised_at < at, and_(Flag.raised_at == at, Flag.id < row_id)))
    return query.order_by(Flag.raised_at.desc(), Flag.id.desc()).limit(limit + 1)


class Replay:
    """SQL statements with their parameters as one call sent them to the database."""

    def __init__(self, statements: list[tuple[str, Any]]) -> None:
        self.statements = statements

    def __call__(self, connection: Connection) -> list[Any]:
        """Run them again, bare (no statement building, no Python objects), rows fetched."""
        rows = []
        for statement, parameters in self.statements:
            result = connection.exec_driver_sql(statement, parameters)
            rows.append(result.all() if result.returns_rows else None)
        return rows


SKIPPED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


def recorded(session: Session, call: Callable[[], Any]) -> Replay:
    """The SQL `call` runs (on any connection of the session's engine: the chart cache reads
    in a transaction of its own), to replay bare as the page's floor: the same statements,
    the same parameters, the same rows. Refuses a call that writes (run it once first: the
    chart cache fills on the first call)."""
    engine = session.get_bind().engine
    statements: list[tuple[str, Any]] = []

    def listen(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, _many: bool
    ) -> None:
        if not statement.lstrip().upper().startswith(SKIPPED):
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    writes = [
        s for s, _ in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert not writes, writes
    return Replay(statements)


def _inspections(connection: Connection, units: reports.Units, month: str) -> int:
    """The month's inspections of the report's roots, counted directly (the page's total)."""
    r = ReportVisitUnit
    roots = [units.root.id] if units.root is not None else [u.agency_id for u in units.units]
    return int(
        connection.execute(
            select(func.count(distinct(r.visit_id))).where(
                r.month == month, r.tree == true(), r.inspection > 0, r.agency_id.in_(roots)
            )
        ).scalar_one()
    )


def measure(url: str, shape: Shape, *, repeat: int = REPEAT) -> list[Figure]:
    """Every figure of this bench on the database at `url` (generated with `shape`)."""
    engine = make_engine(url)
    figures: list[Figure] = []
    try:
        with make_sessionmaker(engine)() as session:
            figures += _measure(session, shape, repeat)
        figures.append(_sweep_figure(engine, shape, repeat))
    finally:
        engine.dispose()
    return figures


def _measure(session: Session, shape: Shape, repeat: int) -> list[Figure]:
    month = shape.months[-1]
    start, end = month_bounds(month)
    now = end + timedelta(days=3)
    root = session.scalar(select(Agency).where(Agency.parent_id.is_(None)).order_by(Agency.id))
    assert root is not None
    city = session.scalar(select(Agency).where(Agency.parent_id == root.id).order_by(Agency.id))
    assert city is not None
    boss = _user(session, "bench-supervisor-root", Role.supervisor, root.id)
    city_boss = _user(session, "bench-supervisor-city", Role.supervisor, city.id)
    connection = session.connection()
    out: list[Figure] = []

    def compare(label: str, service: Callable[[], list[Any]], floor: Any) -> None:
        floors = floor if isinstance(floor, list) else [floor]
        ms, got, floor_ms, bare = _time_both(
            service, lambda: [connection.execute(f).all() for f in floors], repeat=repeat
        )
        expected = [r[0] for r in bare[0]]
        assert got == expected[: len(got)], (label, got[:5], expected[:5])
        assert len(got) >= min(len(expected), 1), (label, got[:5], expected[:5])
        out.append(Figure(label, ms, floor_ms, len(got)))
        session.expire_all()

    def compare_replayed(label: str, service: Callable[[], list[Any]], bare: Any) -> None:
        """A page against the SQL it runs, replayed bare (`recorded`: the scope, the rows with
        what they show, their resolutions), and against `bare`, the rows' own table alone."""
        replay = recorded(session, service)
        ms, got, floor_ms, _ = _time_both(service, partial(replay, connection), repeat=repeat)
        expected = [r[0] for r in connection.execute(bare).all()]
        assert got == expected[: len(got)], (label, got[:5], expected[:5])
        assert len(got) >= min(len(expected), 1), (label, got[:5], expected[:5])
        out.append(Figure(label, ms, floor_ms, len(got)))
        alone_ms, _, bare_ms, _ = _time_both(
            service, lambda: connection.execute(bare).all(), repeat=repeat
        )
        out.append(Figure("  the same, against its table alone", alone_ms, bare_ms, len(got)))
        session.expire_all()

    # The flag list: first page, filtered, the next page.
    limit = supervision.PAGE_SIZE
    dialect = session.get_bind().dialect.name
    for label, actor, kind, state in (
        ("flags, first page (root, open)", boss, None, FlagState.open),
        ("flags, first page (root, all)", boss, None, FlagState.all),
        (
            "flags, first page (root, refused scans)",
            boss,
            FlagKind.refused_scan,
            FlagState.open,
        ),
        ("flags, first page (root, resolved)", boss, None, FlagState.resolved),
        ("flags, first page (a city, open)", city_boss, None, FlagState.open),
    ):
        ids = supervision.supervised_agency_ids(session, actor=actor)

        def page(
            actor: User = actor, kind: FlagKind | None = kind, state: FlagState = state
        ) -> list[Any]:
            found = supervision.list_flags(
                session, actor=actor, kind=kind, state=state, limit=limit
            )
            return [row.flag.id for row in found.items]

        compare_replayed(
            label,
            page,
            _flag_floor(ids, kind=kind, state=state, limit=limit, after=None, dialect=dialect),
        )
    first = supervision.list_flags(session, actor=boss, state=FlagState.all, limit=limit)
    if first.next_cursor:
        cursor = first.next_cursor
        after = supervision.decode_cursor(cursor)

        def second() -> list[Any]:
            found = supervision.list_flags(
                session, actor=boss, state=FlagState.all, cursor=cursor, limit=limit
            )
            return [row.flag.id for row in found.items]

        ids = supervision.supervised_agency_ids(session, actor=boss)
        compare_replayed(
            "flags, second page (root, all)",
            second,
            _flag_floor(
                ids, kind=None, state=FlagState.all, limit=limit, after=after, dialect=dialect
            ),
        )

    # The monthly report (rows, total, 12-month chart) against the SQL it runs, replayed bare
    # (`recorded`): the summary statements, the chart cache's reads and its live months.
    # Plan coverage against its GROUP BY statement, with the planner settings the service
    # uses (for this transaction).
    reports.for_aggregates(session)
    # The floors run on `connection`, which may not be in the session's transaction any
    # more: give it the same settings (JIT alone added ~0.4 s to the chart's floor).
    postgresql = connection.dialect.name == "postgresql"
    if postgresql:
        connection.execute(text("SET jit = off"))
        connection.execute(text("SET random_page_cost = 1.1"))
    for label, actor in (("root", boss), ("a city", city_boss)):
        units = reports.report_units(session, actor=actor)

        def report(actor: User = actor) -> list[Any]:
            done = reports.monthly_report(session, actor=actor, month=month, now=now)
            return [done.total.inspections]

        report()  # the first view fills the chart cache: record a later one
        replay = recorded(session, report)
        ms, got, floor_ms, _ = _time_both(report, partial(replay, connection), repeat=repeat)
        assert got == [_inspections(connection, units, month)], (label, got)
        out.append(Figure(f"monthly report + chart ({label})", ms, floor_ms, len(got)))
        session.expire_all()
        # Plan coverage against its statement: the same SQL and parameters, its rows (one
        # per agency) fetched; the page also reads the units and sums the rows per unit.
        coverage_stmt = reports.coverage_statement(dialect)
        coverage_params = reports.coverage_params(month, units.all_ids)

        def coverage(actor: User = actor) -> reports.PlanCoverage:
            return reports.plan_coverage(session, actor=actor, month=month, now=now)

        def coverage_floor(
            statement: Any = coverage_stmt, params: dict[str, Any] = coverage_params
        ) -> list[Any]:
            return list(connection.execute(statement, params).all())

        ms, shown, floor_ms, bare = _time_both(coverage, coverage_floor, repeat=repeat)
        assert shown.total.planned == sum(row.planned for row in bare), label
        assert shown.total.planned > 0, label
        out.append(Figure(f"plan coverage ({label})", ms, floor_ms, len(shown.rows)))
        session.expire_all()

    if postgresql:
        connection.execute(text("RESET jit"))
        connection.execute(text("RESET random_page_cost"))

    # Enterprise search: a name substring, a credit-code prefix.
    sample = session.scalar(select(Enterprise).order_by(Enterprise.id).offset(len(shape.months)))
    assert sample is not None
    for label, q in (
        ("enterprise search, name substring", sample.name[2:6]),
        ("enterprise search, credit-code prefix", sample.uscc[:8]),
    ):

        def search(q: str = q) -> list[Any]:
            return [e.id for e in enterprises.search_enterprises(session, actor=boss, q=q)]

        compare(label, search, enterprises.search_statement(q, limit=20))

    # An enterprise's year of visits (what the registration form and the rules read).
    busiest = session.execute(
        select(Visit.enterprise_id)
        .group_by(Visit.enterprise_id)
        .order_by(text("count(*) DESC"), Visit.enterprise_id)
        .limit(1)
    ).scalar_one()
    enterprise = session.get(Enterprise, busiest)
    assert enterprise is not None
    statuses = (VisitStatus.registered, VisitStatus.confirmed)
    year_start = datetime.fromisoformat(f"{month[:4]}-01-01T00:00:00+08:00")

    def history() -> list[Any]:
        facts = visits.enterprise_facts(
            session, enterprise=enterprise, window_start=start, now=now, statuses=statuses
        )
        return [f.visit_id for f in facts.others]

    compare_replayed(
        "an enterprise's year of visits",
        history,
        select(Visit.id)
        .where(
            Visit.enterprise_id == enterprise.id,
            Visit.window_start >= year_start,
            Visit.window_start < year_start.replace(year=year_start.year + 1),
            Visit.status.in_(statuses),
        )
        .order_by(Visit.window_start, Visit.id),
    )
    return out


# The flags a first sweep raises, as the bench data has never been swept: one per current
# major hazard queued and due (a superset of the overdue ones: for the bench's state only).
FIRST_SWEEP_FLAGS = """
INSERT INTO flags (kind, severity, dedupe_key, agency_id, enterprise_id, visit_id, detail,
                   raised_at)
SELECT DISTINCT 'major_hazard_overdue', 'serious',
  'hazard:' || i.visit_id || ':' || f.item_id || ':' || CAST(f.rectify_by AS VARCHAR),
  v.agency_id, v.enterprise_id, v.id, '{}', :at
FROM hazard_sweep_queue q JOIN inspections i ON i.visit_id = q.visit_id
JOIN item_findings f ON f.inspection_id = i.id AND f.item_id = q.item_id
JOIN visits v ON v.id = i.visit_id
WHERE (q.due IS NULL OR q.due < :today) AND f.outcome = 'major_hazard'
  AND i.version = (SELECT max(version) FROM inspections WHERE visit_id = i.visit_id)
"""


def _sweep_figure(engine: Engine, shape: Shape, repeat: int) -> Figure:
    """The hazard sweep with nothing new (what every app worker runs every few minutes)
    against the SQL it runs, replayed bare. In ONE transaction rolled back at the end (the
    bench data stays as generated): the flags a first sweep would raise, bulk-inserted, and
    that first sweep (which drops the hazards it judged from its queue), then the sweep."""
    now = month_bounds(shape.months[-1])[1] + timedelta(days=3)
    with engine.connect() as connection:
        outer = connection.begin()
        try:
            connection.execute(
                text(FIRST_SWEEP_FLAGS).bindparams(bindparam("at", type_=UTCDateTime())),
                {"today": to_local(now).date(), "at": now},
            )
            session = Session(bind=connection, join_transaction_mode="create_savepoint")
            findings.sweep_overdue_hazards(session, now=now)

            def sweep() -> list[Any]:
                return [findings.sweep_overdue_hazards(session, now=now)]

            replay = recorded(session, sweep)
            ms, got, floor_ms, _ = _time_both(sweep, partial(replay, connection), repeat=repeat)
            assert got == [0], got
            return Figure("hazard sweep (nothing new)", ms, floor_ms, 0)
        finally:
            outer.rollback()


def print_figures(title: str, figures: list[Figure]) -> None:
    print(f"\n{title}")
    print(f"  {'':<52} {'service':>10} {'floor':>10} {'ratio':>7} {'rows':>6}")
    for f in figures:
        print(
            f"  {f.label:<52} {f.ms:8.1f} ms {f.floor_ms:7.1f} ms {f.ratio:6.2f}x {f.rows:>6}",
            flush=True,
        )


# --- the database: built once, reused -----------------------------------------------------------


def _cluster_url() -> str:
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        return given
    port = os.environ.get("BENCH_PG_PORT", "55490")
    BENCH_DIR.parent.mkdir(parents=True, exist_ok=True)
    BENCH_DIR.parent.chmod(0o755)
    pid = BENCH_DIR / "postmaster.pid"
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    if not pid.exists():
        url = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
            [str(ROOT / "tools" / "pgcluster"), "start", str(BENCH_DIR), port],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    return url


def database(admin_url: str, shape: Shape) -> str:
    """The URL of a database holding `shape`: reused when its marker matches, else built."""
    from sqlalchemy import create_engine

    from bench.pg import fresh_database

    name = f"bench_{shape.name.split()[0]}"
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    admin = create_engine(admin_url, poolclass=NullPool)
    with admin.connect() as conn:
        known = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
    admin.dispose()
    if known:
        engine = make_engine(url)
        with make_sessionmaker(engine)() as session:
            reusable = datagen.holds(session, shape)
        engine.dispose()
        if reusable:
            print(
                f"reusing {name} ({shape.name}, seed {shape.seed}); migrating to head", flush=True
            )
            migrate(url)
            return url
    url = fresh_database(admin_url, name)
    build(url, shape)
    return url


def build(url: str, shape: Shape) -> None:
    end = month_bounds(shape.months[-1])[1]
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        print(f"building {shape.name} (seed {shape.seed}) ...", flush=True)
        # (generate rebuilds the report summary from the rows it wrote)
        done = datagen.generate(
            session, shape, now=end + timedelta(days=3), progress=lambda s: print(s, flush=True)
        )
        print(
            f"built: {done.rows:,} rows in {done.seconds:.0f} s "
            f"({done.rows / done.seconds:,.0f} rows/s)"
        )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    engine.dispose()


def main() -> None:
    from webapp.config import get_settings

    get_settings.cache_clear()
    shape = datagen.SHAPES[os.environ.get("BENCH_SHAPE", "province")]
    url = database(_cluster_url(), shape)
    print_figures(f"PostgreSQL, {shape.name}", measure(url, shape))
    print(
        "\nservice: the function the page calls (rows, related rows, Python objects); floor: "
        "the bare SQL statement(s) returning the same rows, on the same connection (the "
        f"monthly report: the SQL it ran, replayed); the median of {REPEAT} runs of each, "
        "taken in turn, after a warm-up."
    )


if __name__ == "__main__":
    main()
