"""Consistent backups of the SQLite database while the app runs, and their restore.

SQLite's online backup API copies a consistent snapshot page by page, WAL included, without
stopping writers. A backup is checked before it is called good: integrity, foreign keys, and
the audit chain. PostgreSQL installs use the server's own tools (pg_dump / pg_restore); the
commands say so rather than pretend."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from webapp.audit import service as audit_service
from webapp.db import make_engine, make_sessionmaker


class BackupError(Exception):
    """A backup or restore that cannot be done, with the reason in words."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int
    audit_events: int
    head: str


def sqlite_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            "This database is not SQLite: back up PostgreSQL with pg_dump (e.g. "
            "`pg_dump --format=custom --file=inspections.dump $DATABASE_URL`) and restore with "
            "pg_restore; see the README's security section."
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory database cannot be backed up.")
    return Path(url.database)


def _check(path: Path) -> BackupReport:
    """Integrity, foreign keys and the audit chain of a database file."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            raise BackupError(f"{path}: the SQLite integrity check failed: {integrity}")
        broken = con.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise BackupError(f"{path}: {len(broken)} row(s) refer to rows that do not exist")
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from exc
    finally:
        con.close()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with make_sessionmaker(engine)() as session:
            report = audit_service.verify_chain(session)
    finally:
        engine.dispose()
    if not report.ok:
        raise BackupError(
            f"{path}: the audit chain is broken at event {report.first_bad_id} ({report.problem})"
        )
    return BackupReport(path, path.stat().st_size, report.count, report.head)


def backup(database_url: str, target: Path) -> BackupReport:
    """Copy the live database to `target` (which must not exist) and check the copy."""
    source = sqlite_path(database_url)
    if not source.exists():
        raise BackupError(f"The database file {source} does not exist.")
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name (nothing overwritten).")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(partial)
    try:
        src.backup(dst, pages=1024)  # in steps, so writers are not held up for long
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    try:
        report = _check(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    partial.rename(target)
    return BackupReport(target, report.size, report.audit_events, report.head)


def restore(backup_file: Path, database_url: str, *, now: datetime) -> BackupReport:
    """Replace the database with a checked backup. The app must be stopped. The database
    being replaced is kept beside it (renamed with the time), never deleted."""
    if not backup_file.exists():
        raise BackupError(f"The backup file {backup_file} does not exist.")
    report = _check(backup_file)
    target = sqlite_path(database_url)
    if target.exists():
        kept = target.with_name(f"{target.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
        src = sqlite3.connect(target, timeout=30)
        dst = sqlite3.connect(kept)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    restored = _check(target)
    if restored.head != report.head:
        raise BackupError("The restored database does not match the backup's audit head.")
    return restored
