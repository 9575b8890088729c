"""tools/pgcluster run (make test-pg, make soak-pg): the command runs against a live throwaway
cluster named by TEST_DATABASE_URL, its exit status comes back, and afterwards the server is
stopped and its directory removed, whatever the command did."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
PGCLUSTER = ROOT / "tools" / "pgcluster"

pytestmark = pytest.mark.skipif(
    not any(Path("/usr/lib/postgresql").glob("*/bin/postgres")),
    reason="PostgreSQL is not installed (make pg-deps)",
)

# Connects to the cluster it is given, prints its URL, then exits with the status asked for.
CONNECT_AND_EXIT = """
import os, sys, psycopg
from sqlalchemy.engine import make_url
url = make_url(os.environ["TEST_DATABASE_URL"])
with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as c:
    assert c.execute("SELECT 1").fetchone() == (1,)
print(url.render_as_string(hide_password=False))
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture
def parent() -> Iterator[Path]:
    # Not pytest's tmp_path: as root the server runs as `postgres`, which cannot enter it (0700).
    directory = Path(tempfile.mkdtemp(prefix="pgrun-test.", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _run(parent: Path, status: int) -> tuple[int, str]:
    """`tools/pgcluster run PARENT -- python CONNECT_AND_EXIT status`: (exit status, URL seen)."""
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_URL"}
    done = subprocess.run(
        [
            str(PGCLUSTER),
            "run",
            str(parent),
            "--",
            sys.executable,
            "-c",
            CONNECT_AND_EXIT,
            str(status),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return done.returncode, done.stdout.strip()


def _assert_gone(parent: Path, url: str) -> None:
    assert list(parent.iterdir()) == []  # the cluster's temporary directory is removed
    u = make_url(url)
    with pytest.raises(psycopg.OperationalError):  # and nothing listens on its port
        psycopg.connect(
            host=u.host, port=u.port, user=u.username, dbname=u.database, connect_timeout=5
        )


def test_the_command_connects_and_the_cluster_is_gone_afterwards(parent: Path) -> None:
    status, url = _run(parent, 0)
    assert status == 0
    assert url.startswith("postgresql+psycopg://postgres@127.0.0.1:")
    _assert_gone(parent, url)


def test_a_failing_commands_status_is_passed_through_and_the_cluster_still_removed(
    parent: Path,
) -> None:
    status, url = _run(parent, 3)
    assert status == 3
    assert url.startswith("postgresql+psycopg://")  # it did run, connected, then failed
    _assert_gone(parent, url)


def test_without_a_command_it_refuses_and_starts_nothing(parent: Path) -> None:
    done = subprocess.run(
        [str(PGCLUSTER), "run", str(parent), "--"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "usage" in done.stderr
    assert list(parent.iterdir()) == []


def test_start_and_stop_take_a_relative_directory(parent: Path) -> None:
    """`tools/pgcluster start .bench/pg PORT` from the project (a relative path) works."""
    port = subprocess.run(
        [
            sys.executable,
            "-c",
            "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        started = subprocess.run(
            [str(PGCLUSTER), "start", "data", port],
            cwd=parent,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert started.returncode == 0, started.stderr
        url = make_url(started.stdout.strip())
        with psycopg.connect(
            host=url.host, port=url.port, user=url.username, dbname="postgres"
        ) as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
    finally:
        subprocess.run([str(PGCLUSTER), "stop", "data"], cwd=parent, check=False, timeout=60)
    assert (parent / "data" / "PG_VERSION").exists()
