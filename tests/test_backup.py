"""Backups taken while the app writes are consistent; a restore brings back exactly them."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tests.dbs import sqlite_only
from webapp import backup as backups
from webapp.__main__ import main
from webapp.audit import service as audit
from webapp.audit.models import AuditEvent
from webapp.config import get_settings
from webapp.db import begin_write, make_engine, make_sessionmaker


def _append(engine: Engine, now: datetime, n: int, stop: threading.Event | None = None) -> int:
    written = 0
    factory = make_sessionmaker(engine)
    for i in range(n):
        if stop is not None and stop.is_set():
            break
        with factory() as session:
            begin_write(session)
            audit.record(
                session, actor_id=None, action="test.write", object_type="t", object_id=i, now=now
            )
            session.commit()
            written += 1
    return written


def _count(url: str) -> int:
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            return session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    finally:
        engine.dispose()


@sqlite_only  # `backup` is SQLite's online backup; PostgreSQL: pg_dump
def test_backup_while_writing_is_consistent_and_restores(
    engine: Engine, db_url: str, now: datetime, tmp_path: Path
) -> None:
    _append(engine, now, 50)
    stop = threading.Event()
    writer = threading.Thread(target=_append, args=(engine, now, 100_000, stop))
    writer.start()
    try:
        report = backups.backup(db_url, tmp_path / "b1.sqlite3")
    finally:
        stop.set()
        writer.join()
    assert report.audit_events >= 50
    # The copy is a snapshot: its chain verifies on its own and is a prefix of the live one.
    live_after = _count(db_url)
    assert live_after >= report.audit_events

    target_url = f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    restored = backups.restore(tmp_path / "b1.sqlite3", target_url, now=now)
    assert restored.audit_events == report.audit_events
    assert restored.head == report.head
    assert _count(target_url) == report.audit_events

    # Restoring over a live database keeps the old one beside it, never deletes it.
    backups.restore(tmp_path / "b1.sqlite3", db_url, now=now)
    kept = list(Path(db_url.removeprefix("sqlite:///")).parent.glob("*.before-restore-*"))
    assert len(kept) == 1
    assert _count(f"sqlite:///{kept[0]}") == live_after


@sqlite_only  # `backup` is SQLite's online backup; PostgreSQL: pg_dump
def test_backup_never_overwrites_and_restore_refuses_a_bad_file(
    db_url: str, db: Session, now: datetime, tmp_path: Path
) -> None:
    existing = tmp_path / "exists.sqlite3"
    existing.write_bytes(b"keep me")
    with pytest.raises(backups.BackupError, match="already exists"):
        backups.backup(db_url, existing)
    assert existing.read_bytes() == b"keep me"
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(backups.BackupError, match="not a readable SQLite database"):
        backups.restore(garbage, f"sqlite:///{tmp_path / 'x.sqlite3'}", now=now)
    assert not (tmp_path / "x.sqlite3").exists()


def test_postgresql_is_pointed_at_its_own_tools(tmp_path: Path) -> None:
    with pytest.raises(backups.BackupError, match="pg_dump"):
        backups.backup("postgresql+psycopg://u@127.0.0.1/db", tmp_path / "b.dump")


@sqlite_only  # `backup` is SQLite's online backup; PostgreSQL: pg_dump
def test_cli_backup_and_restore(
    engine: Engine,
    db_url: str,
    now: datetime,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    _append(engine, now, 3)
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    request.addfinalizer(get_settings.cache_clear)
    target = tmp_path / "cli.sqlite3"
    assert main(["backup", str(target)]) == 0
    assert "3 audit events" in capsys.readouterr().out
    assert main(["backup", str(target)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["restore", str(target)]) == 3  # no --yes: nothing replaced
    assert main(["restore", str(target), "--yes"]) == 0
    assert "restored 3 audit events" in capsys.readouterr().out
