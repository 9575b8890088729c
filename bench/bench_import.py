"""Import rate: 10,000 enterprises from XLSX and from CSV (check + apply through the import
service), against a floor (the same rows by a bare executemany INSERT in one transaction),
and a county's monthly plan of 5,500 entries. The XLSX import is also shown against a floor
that reads the file first (python-calamine's call alone, then the same INSERT): reading an
XLSX file costs more than the bare INSERT of its rows. On SQLite (each run a fresh migrated database
with the app's own pragmas: WAL, synchronous=FULL) and on PostgreSQL (a throwaway cluster
from bench/pg.py, or BENCH_DATABASE_URL's; each run a fresh database cloned from a migrated
template; the floor uses psycopg's executemany on the same kind of connection).

`BENCH_IMPORT_ENGINES=sqlite` (or `postgresql`) runs one engine only; `BENCH_IMPORT_ROWS`
changes the number of enterprises (the plan takes 55 % of them); every import and floor is
run `BENCH_IMPORT_REPEAT` times (default 3), each on a fresh database, and the fastest run
of each is shown (a shared machine's load only ever slows a run down).

The imports run on one engine per database kind, pointed at each run's fresh database, after
an untimed warm-up import of each kind: a running app keeps its engine, whose statements its
first import compiled. The CSV import is also shown on a new engine (the first import after
the app starts: its statements compiled in the timed run)."""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

ENTERPRISES = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))
PLAN_ENTRIES = ENTERPRISES * 55 // 100
REPEAT = max(1, int(os.environ.get("BENCH_IMPORT_REPEAT", "3")))
ITEMS = 20
NOW = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)

HEADER = [
    "统一社会信用代码 / Credit code",
    "企业名称 / Name",
    "地址 / Address",
    "行业 / Industry",
    "企业类别 / Class",
    "风险等级 / Risk grade",
    "监管机构代码 / Agency code",
]
CLASSES = [("其他", "2"), ("危险化学品和冶金", "3"), ("煤矿", "B"), ("其他", "none")]


def _enterprise_rows(n: int) -> list[list[str]]:
    from webapp.enterprises import uscc

    rng = random.Random(20261116)  # noqa: S311 (test data)
    codes: dict[str, None] = {}
    while len(codes) < n:
        codes[uscc.generate(rng, division=f"3205{rng.randint(10, 99)}")] = None
    rows = []
    for i, code in enumerate(codes):
        klass, grade = CLASSES[i % len(CLASSES)]
        rows.append([code, f"企业{i:05d}有限公司", f"示例路{i}号", "制造业", klass, grade, "BENCH"])
    return rows


def _xlsx(rows: list[list[str]]) -> bytes:
    """The rows below the header as Excel and WPS save a sheet: every text in the
    workbook's shared-strings table, the cells holding its indexes (XlsxWriter writes
    them so; openpyxl writes every text inline, a larger sheet that reads slower)."""
    import xlsxwriter

    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = workbook.add_worksheet()
    for line, cells in enumerate([HEADER, *rows]):
        sheet.write_row(line, 0, cells)
    workbook.close()
    return out.getvalue()


def _csv(header: list[str], rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


# The shared engines (`Fresh.warm_engine`) and the database each one now connects to.
_WARM: dict[str, Any] = {}
_POINTED: dict[str, str] = {}


def _repoint(engine: Any, kind: str) -> None:
    """Each new connection of `engine` goes to the database `_POINTED[kind]` names then: the
    dialect's own connect arguments (query options, socket, SSL) kept, the database changed."""
    from sqlalchemy import event
    from sqlalchemy.engine import make_url

    @event.listens_for(engine, "do_connect")
    def _to_pointed(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        url = make_url(_POINTED[kind])
        if kind == "sqlite":
            cargs[0] = url.database  # pysqlite's first argument: the file
        else:
            cparams["dbname"] = url.database


def close_warm() -> None:
    """Dispose of the shared engines (their pools hold no connection between runs)."""
    for engine in _WARM.values():
        engine.dispose()
    _WARM.clear()
    _POINTED.clear()


class Fresh:
    """A copy of one migrated database, with an agency and an item list."""

    def __init__(self, template: Path, directory: Path, name: str) -> None:
        self.path = directory / f"{name}.sqlite3"
        shutil.copyfile(template, self.path)
        self.url = f"sqlite:///{self.path}"

    def engine(self) -> Any:
        """A new engine (nothing compiled yet)."""
        from webapp.db import make_engine

        return make_engine(self.url)

    def warm_engine(self) -> Any:
        """The engine every run on this kind of database shares, as a running app keeps
        one (statements compiled once serve every later import), now connecting to this
        run's database: its pool is emptied first, so no connection to another run's
        database is reused."""
        kind = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        _POINTED[kind] = self.url
        engine = _WARM.get(kind)
        if engine is None:
            from webapp.db import make_engine

            engine = _WARM[kind] = make_engine(self.url)
            _repoint(engine, kind)
        engine.dispose()
        return engine


class PgFresh(Fresh):
    """A PostgreSQL database cloned from the migrated template database."""

    def __init__(self, admin_url: str, template: str, name: str) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url
        from sqlalchemy.pool import NullPool

        admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        admin.dispose()
        self.url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _seed(url: str) -> None:
    """Two agencies and the item list, as the imports expect them."""
    from webapp.agencies.models import Agency
    from webapp.db import make_engine, make_sessionmaker
    from webapp.enums import AgencyLevel
    from webapp.items.models import InspectionItem

    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        session.add(
            Agency(code="BENCH", name="基准县应急管理局", level=AgencyLevel.county, created_at=NOW)
        )
        session.add(
            Agency(code="OTHER", name="邻县应急管理局", level=AgencyLevel.county, created_at=NOW)
        )
        for i in range(1, ITEMS + 1):
            session.add(
                InspectionItem(
                    code=f"AQ-{i:03d}",
                    title=f"检查事项{i}",
                    legal_basis=f"《安全生产法》第{i}条",
                    created_at=NOW,
                )
            )
        session.commit()
    if url.startswith("sqlite"):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()


def _template(directory: Path) -> Path:
    from webapp.__main__ import migrate

    path = directory / "template.sqlite3"
    migrate(f"sqlite:///{path}")
    _seed(f"sqlite:///{path}")
    return path


def _pg_template(admin_url: str) -> str:
    from bench.pg import fresh_database

    name = "bench_import_template"
    _seed(fresh_database(admin_url, name))
    return name


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


class Took:
    """Wall-clock and CPU seconds (this process's, where SQLite does its work too) since
    it was made. CPU time is what other jobs' load disturbs least."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def done(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _import(
    db: Fresh, kind: str, name: str, data: bytes, agency: str | None = None, *, cold: bool = False
) -> dict[str, Any]:
    """Check and apply one file on `db`: on the shared engine, or with `cold` on a new one."""
    from webapp.db import make_sessionmaker
    from webapp.enums import ImportKind
    from webapp.imports import service

    engine = db.engine() if cold else db.warm_engine()
    try:
        # Connected before the timer, as a running app's pool holds its connections open
        # (and as the floor connects before its timer).
        engine.connect().close()
        with make_sessionmaker(engine)() as session:
            agency_id = service.find_agency_id(session, agency) if agency else None
            took = Took()
            checked, batch = _timed(
                lambda: service.check_file(
                    session,
                    actor=None,
                    kind=ImportKind(kind),
                    filename=name,
                    data=data,
                    now=NOW,
                    agency_id=agency_id,
                )
            )
            assert batch.status.value == "validated", service.report(session, batch).errors[:3]
            applied, done = _timed(
                lambda: service.apply_batch(session, actor=None, batch_id=batch.id, now=NOW)
            )
            assert done.status.value == "applied"
            return {
                "rows": batch.total_rows,
                "check": checked,
                "apply": applied,
                "cpu": took.done()[1],
                "added": batch.added,
            }
    finally:
        engine.dispose()


def _stamp(sqlite: bool) -> Any:
    """The creation time as the import stores it: on SQLite the text SQLAlchemy writes for
    a UTC datetime (given as a datetime, sqlite3's own adapter would convert it once per
    row, in Python, and store it without the microseconds: not the import's rows)."""
    return NOW.replace(tzinfo=None).isoformat(" ", timespec="microseconds") if sqlite else NOW


def _calamine_rows(xlsx: bytes) -> list[list[str]]:
    """The file's rows below its header by python-calamine's call alone (no pre-scan, no
    check): the least a reader of this file does."""
    from python_calamine import CalamineWorkbook

    workbook = CalamineWorkbook.from_filelike(io.BytesIO(xlsx))
    grid = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
    workbook.close()
    # Every cell of the bench's file is text (the floor compares them with its rows).
    return cast("list[list[str]]", grid[1:])


def _floor_enterprises(
    db: Fresh, rows: list[list[str]], xlsx: bytes | None = None
) -> tuple[float, float]:
    """The same rows by one executemany INSERT in one transaction: what SQLite itself takes
    (the connection has the app's pragmas). With `xlsx`: the rows are first read from that
    file by python-calamine's call (timed; the tuples are built from what it read, untimed
    as without it): the bare rate of an XLSX file."""
    from webapp.imports import service

    classes = {"其他": "other", "危险化学品和冶金": "hazchem_metallurgy", "煤矿": "coal_mine"}
    read_wall = read_cpu = 0.0
    if xlsx is not None:
        with service._bulk():  # the collector paused, as the import reads
            reading = Took()
            read = _calamine_rows(xlsx)
            read_wall, read_cpu = reading.done()
        assert read == rows, "the XLSX file does not hold the floor's rows"
        rows = read
    engine = db.engine()
    sqlite = db.url.startswith("sqlite")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT id FROM agencies WHERE code='BENCH'")
        agency_id = cur.fetchone()[0]
        stamp = _stamp(sqlite)
        values = [
            (code, name, address, industry, classes[klass], grade, agency_id, stamp)
            for code, name, address, industry, klass, grade, _ in rows
        ]
        mark = "?" if sqlite else "%s"
        took = Took()
        if sqlite:
            cur.execute("BEGIN IMMEDIATE")
        marks = ", ".join([mark] * 8)
        cur.executemany(
            "INSERT INTO enterprises (uscc, name, address, industry, enterprise_class, "  # noqa: S608
            f"risk_grade, agency_id, created_at) VALUES ({marks})",
            values,
        )
        if sqlite:
            cur.execute("COMMIT")
        else:
            raw.commit()
        wall, cpu = took.done()
        return wall + read_wall, cpu + read_cpu
    finally:
        raw.close()
        engine.dispose()


def _floor_plan(db: Fresh, plan_rows: list[list[str]]) -> tuple[float, float]:
    """A plan's entries and their items by bare INSERTs in one transaction: the plan, then
    the entries by one executemany with their ids taken as the import takes them (the
    sequence on PostgreSQL, after the largest on SQLite), then the links by one more."""
    engine = db.engine()
    sqlite = db.url.startswith("sqlite")
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        mark = "?" if sqlite else "%s"
        cur.execute("SELECT uscc, id FROM enterprises")
        ents = dict(cur.fetchall())
        cur.execute("SELECT code, id FROM inspection_items")
        items = dict(cur.fetchall())
        cur.execute("SELECT id FROM agencies WHERE code='BENCH'")
        agency_id = cur.fetchone()[0]
        stamp = _stamp(sqlite)
        took = Took()
        if sqlite:
            cur.execute("BEGIN IMMEDIATE")
        cur.execute(
            "INSERT INTO plans (agency_id, kind, year, month, title, created_at) "  # noqa: S608
            f"VALUES ({mark}, 'monthly', 2026, 12, 'floor', {mark})"
            + ("" if sqlite else " RETURNING id"),
            (agency_id, stamp),
        )
        plan_id = cur.lastrowid if sqlite else cur.fetchone()[0]
        n = len(plan_rows)
        if sqlite:
            cur.execute("SELECT coalesce(max(id), 0) FROM plan_entries")
            top = int(cur.fetchone()[0])
            ids = list(range(top + 1, top + 1 + n))
        else:
            cur.execute(
                "SELECT nextval(pg_get_serial_sequence('plan_entries', 'id')) "
                "FROM generate_series(1, %s)",
                (n,),
            )
            ids = sorted(int(i) for (i,) in cur.fetchall())
        entries = []
        links = []
        for entry_id, (code, _, month, item_codes) in zip(ids, plan_rows, strict=True):
            entries.append((entry_id, plan_id, agency_id, ents[code], month, "", stamp))
            links += [(entry_id, items[c]) for c in item_codes.split(";")]
        marks = ", ".join([mark] * 7)
        cur.executemany(
            "INSERT INTO plan_entries (id, plan_id, agency_id, enterprise_id, month, note, "  # noqa: S608
            f"created_at) VALUES ({marks})",
            entries,
        )
        cur.executemany(
            f"INSERT INTO plan_entry_items (plan_entry_id, item_id) VALUES ({mark}, {mark})",  # noqa: S608
            links,
        )
        if sqlite:
            cur.execute("COMMIT")
        else:
            raw.commit()
        return took.done()
    finally:
        raw.close()
        engine.dispose()


def main() -> None:
    os.environ.setdefault("DEMO_MODE", "true")  # settings without a secret: nothing is served
    from webapp.config import get_settings

    get_settings.cache_clear()
    # What a running app has loaded already (a plan import titles its new plans in the
    # installation's language): not timed as part of an import.
    from webapp.web import translations

    translations(get_settings().default_locale)
    engines = os.environ.get("BENCH_IMPORT_ENGINES", "sqlite,postgresql").split(",")
    directory = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        if "sqlite" in engines:
            print("SQLite")
            template = _template(directory)
            run(lambda name: Fresh(template, directory, name))
        if "postgresql" in engines:
            from bench import pg

            if not pg.available():
                print("\nPostgreSQL: not installed (make pg-deps), skipped")
                return
            with pg.cluster() as admin_url:
                print("\nPostgreSQL")
                pg_template = _pg_template(admin_url)
                run(lambda name: PgFresh(admin_url, pg_template, f"bench_import_{name}"))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _xlsx_read_alone(xlsx: bytes) -> tuple[float, float]:
    """µs a row, the fastest of REPEAT: the import's whole read of the XLSX file (the
    pre-scan, python-calamine, the cells as text) and python-calamine's call alone (what
    no check of ours can go below)."""
    from webapp.imports import readers, service

    with service._bulk():  # the collector paused, as the import reads
        read = min(_timed(lambda: readers.read_sheet(xlsx, "e.xlsx"))[0] for _ in range(REPEAT))
        alone = min(_timed(lambda: _calamine_rows(xlsx))[0] for _ in range(REPEAT))
    return read / ENTERPRISES * 1e6, alone / ENTERPRISES * 1e6


def _best(runs: list[dict[str, Any]], added: int) -> dict[str, Any]:
    """The fastest run, each having added `added` rows (a run on a database that already
    held them would time another import)."""
    assert all(r["added"] == added for r in runs), [r["added"] for r in runs]
    return min(runs, key=lambda r: r["check"] + r["apply"])


def run(fresh: Callable[[str], Fresh]) -> list[tuple[str, float, float]]:
    """Every import against its floor, printed; (name, rows/s, floor rows/s) for each."""
    try:
        return _run(fresh)
    finally:
        close_warm()


def _run(fresh: Callable[[str], Fresh]) -> list[tuple[str, float, float]]:
    rows = _enterprise_rows(ENTERPRISES)
    xlsx, csv_data = _xlsx(rows), _csv(HEADER, rows)
    sizes = f"XLSX {len(xlsx) / 1e6:.1f} MB, CSV {len(csv_data) / 1e6:.1f} MB"
    print(f"{ENTERPRISES} enterprises: {sizes}; the fastest of {REPEAT} runs of each")
    results: list[tuple[str, dict[str, Any], list[tuple[float, float]]]] = []

    rng = random.Random(5497)  # noqa: S311 (test data)
    plan_rows = [
        [
            row[0],
            row[1],
            "2026-12",
            ";".join(sorted(rng.sample([f"AQ-{i:03d}" for i in range(1, ITEMS + 1)], 3))),
        ]
        for row in rows[:PLAN_ENTRIES]
    ]
    plan_csv = _csv(["统一社会信用代码", "企业名称", "检查月份", "检查事项编码"], plan_rows)
    # Untimed: what a running app has done before (its statements compiled).
    warmup = fresh("warmup")
    _import(warmup, "enterprises", "e.xlsx", xlsx)
    _import(warmup, "monthly_plan", "plan.csv", plan_csv, "BENCH")

    floors = [_floor_enterprises(fresh(f"floor{i}"), rows) for i in range(REPEAT)]
    xlsx_floors = [_floor_enterprises(fresh(f"xlsx_floor{i}"), rows, xlsx) for i in range(REPEAT)]
    xlsx_dbs = [fresh(f"xlsx{i}") for i in range(REPEAT)]
    xlsx_runs = [_import(db, "enterprises", "e.xlsx", xlsx) for db in xlsx_dbs]
    results.append(("enterprises, XLSX", _best(xlsx_runs, ENTERPRISES), floors))
    csv_runs = [_import(fresh(f"csv{i}"), "enterprises", "e.csv", csv_data) for i in range(REPEAT)]
    results.append(("enterprises, CSV", _best(csv_runs, ENTERPRISES), floors))
    # Re-importing the same file: the check finds nothing to change (no apply needed).
    from webapp.db import make_sessionmaker
    from webapp.enums import ImportKind
    from webapp.imports import service

    again_times = []
    for db in xlsx_dbs:
        engine = db.warm_engine()
        engine.connect().close()  # as for the imports: connected before the timer
        with make_sessionmaker(engine)() as session:
            again_s, again = _timed(
                lambda: service.check_file(
                    session,
                    actor=None,
                    kind=ImportKind.enterprises,
                    filename="e.xlsx",
                    data=xlsx,
                    now=NOW,
                )
            )
            assert (again.added, again.changed) == (0, 0)
            again_times.append(again_s)
        engine.dispose()
    again_s = min(again_times)

    plan_floors = []
    for i in range(REPEAT):
        plan_floor_db = fresh(f"plan_floor{i}")
        _import(plan_floor_db, "enterprises", "e.csv", csv_data)
        plan_floors.append(_floor_plan(plan_floor_db, plan_rows))
    plan_runs = [_import(db, "monthly_plan", "plan.csv", plan_csv, "BENCH") for db in xlsx_dbs]
    results.append(("monthly plan, CSV", _best(plan_runs, PLAN_ENTRIES), plan_floors))
    cold_runs = [
        _import(fresh(f"cold{i}"), "enterprises", "e.csv", csv_data, cold=True)
        for i in range(REPEAT)
    ]
    results.append(("CSV on a new engine", _best(cold_runs, ENTERPRISES), floors))

    print()
    print(
        f"{'import':<20} {'rows':>6} {'check s':>8} {'apply s':>8} {'total s':>8} "
        f"{'rows/s':>8} {'floor r/s':>10} {'imp/floor':>9} {'cpu ratio':>9}"
    )
    rates: list[tuple[str, float, float]] = []
    for name, r, floor_runs in results:
        total = r["check"] + r["apply"]
        rate = r["rows"] / total
        floor_rate = r["rows"] / min(wall for wall, _ in floor_runs)
        cpu_ratio = r["cpu"] / min(cpu for _, cpu in floor_runs)
        rates.append((name, rate, floor_rate))
        print(
            f"{name:<20} {r['rows']:>6} {r['check']:>8.2f} {r['apply']:>8.2f} {total:>8.2f} "
            f"{rate:>8.0f} {floor_rate:>10.0f} {floor_rate / rate:>8.1f}x {cpu_ratio:>8.1f}x"
        )
    print(
        f"{'re-import, XLSX':<20} {ENTERPRISES:>6} {again_s:>8.2f} {'-':>8} {again_s:>8.2f} "
        f"{ENTERPRISES / again_s:>8.0f} {'':>10} {'':>9}  (0 added, 0 changed)"
    )
    xlsx_import = results[0][1]
    xlsx_floor = min(wall for wall, _ in xlsx_floors)
    xlsx_ratio = (xlsx_import["check"] + xlsx_import["apply"]) / xlsx_floor
    xlsx_cpu = xlsx_import["cpu"] / min(cpu for _, cpu in xlsx_floors)
    print(
        f"enterprises, XLSX against a floor that reads the file too (python-calamine's call, "
        f"then the same executemany): {xlsx_ratio:.1f}x (cpu {xlsx_cpu:.1f}x; floor "
        f"{ENTERPRISES / xlsx_floor:.0f} rows/s)"
    )
    floor_us = min(wall for wall, _ in floors) / ENTERPRISES * 1e6
    read_us, calamine_us = _xlsx_read_alone(xlsx)
    print(
        f"XLSX read alone: {read_us:.1f} us/row (python-calamine's call {calamine_us:.1f}), "
        f"the enterprises' floor {floor_us:.1f} us/row"
    )
    print(
        "\nfloor: the same rows by bare executemany INSERTs in one transaction (the plan's "
        "entries with their ids, as the import takes them); imp/floor: the import's time "
        "(read, check every row, diff, store the batch, apply with its audit event) over "
        "the floor's; cpu ratio: the same with this process's CPU time (the fastest runs'; on "
        "SQLite all the work, on PostgreSQL the client's share only). The imports run on one "
        "engine, as a running app does (its statements compiled by an untimed import first); "
        "'on a new engine': the first import after the app starts."
    )
    return rates
