"""Each benchmark's code path on a tiny data set, so the benchmarks cannot rot: they run,
print their figures, and the service returns the same rows as its bare floor."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench import bench_lists, datagen
from tests.dbs import Databases
from webapp.db import make_engine, make_sessionmaker

NOW = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)


def test_lists_bench_measures_every_page_against_its_floor(
    databases: Databases, tmp_path: Path, capsys: object
) -> None:
    shape = datagen.tiny(months=3, seed=21)
    url = databases.new(tmp_path, stem="lists")
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        datagen.generate(session, shape, now=NOW)
    engine.dispose()
    figures = bench_lists.measure(url, shape, repeat=1)
    labels = [f.label for f in figures]
    for wanted in (
        "flags, first page (root, open)",
        "flags, first page (a city, open)",
        "monthly report + chart (root)",
        "plan coverage (a city)",
        "enterprise search, credit-code prefix",
        "an enterprise's year of visits",
    ):
        assert wanted in labels
    by_label = {f.label: f for f in figures}
    assert by_label["flags, first page (root, all)"].rows > 0
    assert by_label["enterprise search, credit-code prefix"].rows >= 1
    assert all(f.ms > 0 and f.floor_ms > 0 for f in figures)
    bench_lists.print_figures("tiny", figures)
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "monthly report + chart (a city)" in out
    assert "x " in out


def test_report_bench_runs_on_tiny_shapes(tmp_path: Path, capsys: object) -> None:
    """bench_report's county-month and city-year paths (SQLite files, as in `make bench`)."""
    from bench import bench_report
    from webapp.config import get_settings

    get_settings.cache_clear()
    bench_report.county_month(tmp_path, datagen.tiny(months=1, seed=31))
    tiny_year = datagen.tiny(months=3, seed=32)
    tiny_year.name = "tiny year"
    bench_report.city_year(tmp_path, tiny_year)
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "floor: the report's statements (summary tables)" in out
    assert "the year in one aggregate (rows and total)" in out
    assert "x the floor" in out


def test_import_bench_runs_on_the_test_engine(
    databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: object
) -> None:
    """bench_import's run() with 200 enterprises: every import applied, rates printed."""
    from bench import bench_import
    from tests.dbs import ON_POSTGRESQL, TEST_DATABASE_URL

    monkeypatch.setattr(bench_import, "ENTERPRISES", 200)
    monkeypatch.setattr(bench_import, "PLAN_ENTRIES", 110)
    made: list[str] = []
    if ON_POSTGRESQL:
        template = bench_import._pg_template(TEST_DATABASE_URL)

        def fresh(name: str) -> bench_import.Fresh:
            made.append(f"bench_import_{name}")
            return bench_import.PgFresh(TEST_DATABASE_URL, template, made[-1])

    else:
        template = ""
        sqlite_template = bench_import._template(tmp_path)

        def fresh(name: str) -> bench_import.Fresh:
            return bench_import.Fresh(sqlite_template, tmp_path, name)

    try:
        rates = bench_import.run(fresh)
    finally:
        if ON_POSTGRESQL:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            admin = create_engine(
                TEST_DATABASE_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as conn:
                for name in {*made, template}:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    assert [name for name, _, _ in rates] == [
        "enterprises, XLSX",
        "enterprises, CSV",
        "monthly plan, CSV",
        "CSV on a new engine",
    ]
    assert all(rate > 0 and floor > 0 for _, rate, floor in rates)
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "(0 added, 0 changed)" in out
    assert "against a floor that reads the file too" in out


def test_confirm_bench_alternates_floor_and_confirmations(
    databases: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: object
) -> None:
    """bench_confirm's measurement on the test engine with a real uvicorn server: 12 requests
    of each kind in 3 alternating rounds, every confirmation answered 201 and stored."""
    from bench import bench_confirm

    monkeypatch.setattr(bench_confirm, "REQUESTS", 12)
    monkeypatch.setattr(bench_confirm, "WARMUP", 3)
    monkeypatch.setattr(bench_confirm, "ROUNDS", 3)
    url = databases.new(tmp_path, stem="confirm")  # migrated
    row = bench_confirm._measure("test", url, 1, tmp_path, clients=4)
    assert (row.floor.ok, row.floor.failed) == (12, 0)
    assert (row.confirm.ok, row.confirm.failed) == (12, 0)
    assert len(row.confirm.latencies_ms) == 12
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "cost (x floor) in each of the 3 rounds:" in out
    assert "15 visits confirmed" in out  # the 12 measured and the 3 of the warm-up
    assert row.catch_up.ok == 15  # their summary rows, applied after the runs
    bench_confirm._table([row])
    assert "with its catch-up" in capsys.readouterr().out  # type: ignore[attr-defined]
