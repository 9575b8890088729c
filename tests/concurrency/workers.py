"""`python -m webapp serve --workers N` as a real process group, and which of its worker
processes hold a connection to (or the file of) the database: proof that requests were
served by more than one process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "workers-test-secret-0123456789-abcdefghijkl"


class WorkersServer:
    """The app under uvicorn with several worker processes, its own database, real time."""

    def __init__(self, url: str, log: Path, *, workers: int = 4, sweep_seconds: int = 0) -> None:
        self.url = url
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": SECRET,
            "BASE_URL": self.base,
            "SWEEP_INTERVAL_SECONDS": str(sweep_seconds),
            "DEMO_MODE": "false",
        }
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "webapp",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            # Every worker has said so: none is still importing when the burst comes.
            if self.log().count("Application startup complete") >= self.workers:
                try:
                    if httpx.get(f"{self.base}/login", timeout=2).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not come up in 60 s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for pid in self.worker_pids():
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()

    def worker_pids(self) -> list[int]:
        """The worker processes (uvicorn spawns them with multiprocessing)."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        return [p for p in pids if b"spawn_main" in _cmdline(p)]

    def workers_using_database(self) -> set[int]:
        """The workers that hold the database open: on PostgreSQL a pooled connection seen in
        pg_stat_activity (matched by its client port to the worker's sockets); on SQLite
        the database file among the worker's open files."""
        workers = self.worker_pids()
        if not self.url.startswith("postgresql"):
            path = os.path.realpath(self.url.removeprefix("sqlite:///"))
            return {pid for pid in workers if path in _open_files(pid)}
        engine = create_engine(self.url, poolclass=NullPool)
        with engine.connect() as conn:
            ports = set(
                conn.execute(
                    text(
                        "SELECT client_port FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )
        engine.dispose()
        pg_port = make_url(self.url).port or 5432
        local = _local_ports_by_inode(pg_port)
        using = set()
        for pid in workers:
            inodes = _socket_inodes(pid)
            if any(local.get(inode) in ports for inode in inodes):
                using.add(pid)
        return using


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _links(pid: int) -> list[str]:
    found = []
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return []
    for name in names:
        try:
            found.append(os.readlink(fd_dir / name))
        except OSError:
            continue
    return found


def _open_files(pid: int) -> set[str]:
    return {link for link in _links(pid) if link.startswith("/")}


def _socket_inodes(pid: int) -> set[int]:
    return {int(link[len("socket:[") : -1]) for link in _links(pid) if link.startswith("socket:[")}


def _local_ports_by_inode(remote_port: int) -> dict[int, int]:
    """inode -> local port of every TCP socket connected to `remote_port`."""
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(remote.rsplit(":", 1)[1], 16) == remote_port:
                found[inode] = int(local.rsplit(":", 1)[1], 16)
    return found
