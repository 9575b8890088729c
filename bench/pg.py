"""A throwaway PostgreSQL cluster for benchmarks (tools/pgcluster: loopback, data in /tmp,
removed at the end) and fresh migrated databases in it.

Set `BENCH_DATABASE_URL` to a superuser URL of a running cluster to reuse it instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from webapp.__main__ import migrate

ROOT = Path(__file__).resolve().parent.parent
PGCLUSTER = ROOT / "tools" / "pgcluster"


def available() -> bool:
    """Whether Debian's PostgreSQL server is installed (`make pg-deps`)."""
    return bool(os.environ.get("BENCH_DATABASE_URL")) or any(
        Path("/usr/lib/postgresql").glob("*/bin/postgres")
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def cluster() -> Iterator[str]:
    """The superuser URL of a running cluster: BENCH_DATABASE_URL, or a throwaway one."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        yield given
        return
    directory = Path(tempfile.mkdtemp(prefix="pgbench."))
    directory.chmod(0o755)
    data = directory / "data"
    try:
        url = subprocess.run(  # noqa: S603 (our own script, fixed arguments)
            [str(PGCLUSTER), "start", str(data), str(_free_port())],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        yield url
    finally:
        subprocess.run(  # noqa: S603 (our own script, fixed arguments)
            [str(PGCLUSTER), "stop", str(data)], check=False, capture_output=True
        )
        shutil.rmtree(directory, ignore_errors=True)


def fresh_database(admin_url: str, name: str, *, migrated: bool = True) -> str:
    """(Re)create database `name` in the cluster, migrated to head; returns its URL."""
    admin = create_engine(admin_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    if migrated:
        migrate(url)
    return url
