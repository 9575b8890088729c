"""The data generator on a tiny shape, on the test engine (SQLite, or PostgreSQL with
TEST_DATABASE_URL): row counts, a verifying audit chain, the marker, sequences moved past the
given ids, the same data for the same seed, and the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bench import datagen
from tests.dbs import Databases
from webapp.agencies.models import Agency
from webapp.audit.models import AuditEvent
from webapp.audit.service import verify_chain
from webapp.checkin.models import Scan
from webapp.db import make_engine, make_sessionmaker
from webapp.enums import AgencyLevel, FlagKind, VisitStatus
from webapp.supervision.models import Flag, FlagResolution
from webapp.visits.models import Visit

NOW = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)


def _generate(
    databases: Databases, directory: Path, shape: datagen.Shape
) -> tuple[str, dict[str, int]]:
    url = databases.new(directory, stem=f"gen{shape.seed}")
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        done = datagen.generate(session, shape, now=NOW)
    engine.dispose()
    return url, done.counts


def _count(session: Session, what: object) -> int:
    return int(session.scalar(select(func.count()).select_from(what)) or 0)  # type: ignore[arg-type]


def test_tiny_shape_counts_chain_marker_and_sequences(databases: Databases, tmp_path: Path) -> None:
    shape = datagen.tiny(months=3)
    url, counts = _generate(databases, tmp_path, shape)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            # What the generator says it wrote is what the tables hold.
            for table in ("visits", "scans", "flags", "audit_events", "enterprises", "agencies"):
                assert counts[table] > 0, table
                query = f"SELECT count(*) FROM {table}"  # noqa: S608 (fixed names)
                assert session.scalar(text(query)) == counts[table]
            assert counts["enterprises"] == 120
            assert counts["agencies"] == 1 + 3 + 3 * 2
            visits = counts["visits"]
            assert 0.9 * 3 * 60 <= visits <= 3 * 60
            # Every confirmed visit has its confirming scan; unconfirmed ones have a flag.
            confirmed = _count(
                session, select(Visit).where(Visit.status == VisitStatus.confirmed).subquery()
            )
            confirming = _count(session, select(Scan).where(Scan.outcome == "confirmed").subquery())
            assert confirmed == confirming > visits // 2
            unconfirmed = _count(
                session, select(Visit).where(Visit.status == VisitStatus.registered).subquery()
            )
            flagged = _count(
                session,
                select(Flag).where(Flag.kind == FlagKind.window_passed_unconfirmed).subquery(),
            )
            assert unconfirmed == flagged
            # The audit log is a real chain: it verifies, and has every event.
            report = verify_chain(session)
            assert report.ok, report
            assert report.count == counts["audit_events"] == _count(session, AuditEvent)
            events = session.scalar(
                select(func.count()).where(AuditEvent.action == "visit.registered")
            )
            assert events == visits
            # Flags older than a month before the last month are resolved in part.
            assert _count(session, FlagResolution) > 0
            # The marker names the data set.
            assert datagen.holds(session, shape)
            assert not datagen.holds(session, datagen.tiny(months=3, seed=8))
            found = datagen.marker(session)
            assert found is not None
            assert found["counts"]["visits"] == visits
            # The sequences moved past the given ids: the app can insert.
            agency = Agency(code="NEW", name="New", level=AgencyLevel.town, created_at=NOW)
            session.add(agency)
            session.commit()
            assert agency.id == counts["agencies"] + 1
    finally:
        engine.dispose()


def test_a_changed_row_breaks_the_generated_chain(databases: Databases, tmp_path: Path) -> None:
    """The chain check is real: the generated events verify only as generated (an event whose
    hash is recomputed by another rule would not)."""
    url, _counts = _generate(databases, tmp_path, datagen.tiny(months=1, seed=11))
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
            assert verify_chain(session).ok
            # In memory only (evidence cannot be updated): one changed field, one bad entry.
            with session.no_autoflush:
                events[3].action = "visit.forged"
                bad = verify_chain(session)
            assert not bad.ok
            assert bad.first_bad_id == events[3].id
            session.rollback()
    finally:
        engine.dispose()


def test_same_seed_same_data_other_seed_other_data(databases: Databases, tmp_path: Path) -> None:
    digests = []
    for n, seed in enumerate((5, 5, 6)):
        directory = tmp_path / str(n)
        directory.mkdir()
        url, _ = _generate(databases, directory, datagen.tiny(months=1, seed=seed))
        engine = make_engine(url)
        with make_sessionmaker(engine)() as session:
            digests.append(datagen.digest(session))
        engine.dispose()
    assert digests[0] == digests[1] != digests[2]


def test_command_line_fills_an_empty_database_and_refuses_a_full_one(
    databases: Databases, tmp_path: Path, monkeypatch: object, capsys: object
) -> None:
    url = databases.new(tmp_path, stem="cli")
    tiny = datagen.tiny(months=1, seed=3)
    datagen.SHAPES["tiny"] = tiny
    try:
        assert datagen.main(["--shape", "tiny", "--database-url", url, "--seed", "4"]) == 0
        out = capsys.readouterr().out  # type: ignore[attr-defined]
        assert "2026-01:" in out
        assert "rows/s" in out
        assert "done:" in out
        engine = make_engine(url)
        with make_sessionmaker(engine)() as session:
            assert datagen.holds(session, datagen.tiny(months=1, seed=4))
            assert verify_chain(session).ok
        engine.dispose()
        assert datagen.main(["--shape", "tiny", "--database-url", url]) == 2
    finally:
        del datagen.SHAPES["tiny"]
