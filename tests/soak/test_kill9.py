"""Nothing lost under kill -9: real server processes are killed again and again while clients
stream registrations and confirmations through the JSON API.

After every restart the database is intact, every acknowledged write is there, each visit is
confirmed exactly once, the audit chain verifies, and a retry with the same idempotency key gets
the original answer. On SQLite one server process (the file is checked with integrity_check);
on PostgreSQL the production shape: several uvicorn workers, killed one at a time (the
supervisor starts another) or all at once with their supervisor; the database server itself
is never killed, and no session of a killed process is left behind holding a transaction or a
lock. `make test` runs a few cycles; `make soak` runs many (SOAK_CYCLES, bounded by
SOAK_SECONDS) on SQLite, `make soak-pg` on a throwaway PostgreSQL cluster."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from tests.dbs import ON_POSTGRESQL, Databases
from tests.factories import PASSWORD, World, build_world
from tests.live import free_port
from webapp.audit import service as audit
from webapp.checkin.models import Scan
from webapp.clock import SystemClock
from webapp.db import make_engine, make_sessionmaker
from webapp.enums import ScanOutcome, VisitStatus
from webapp.visits.models import Visit

ROOT = Path(__file__).resolve().parents[2]
CYCLES = int(os.environ.get("SOAK_CYCLES", "3"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
# PostgreSQL: worker processes per server and clients at once (SQLite: one and one).
WORKERS = int(os.environ.get("SOAK_WORKERS", "2")) if ON_POSTGRESQL else 1
CLIENTS = 2 if ON_POSTGRESQL else 1
READY = "Application startup complete"


class Server:
    """`python -m webapp serve [--workers N]` as its own process group, killed with SIGKILL
    (the whole group, or one worker) and started again."""

    def __init__(self, url: str, log: Path, *, workers: int = 1) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {
            **os.environ,
            "DATABASE_URL": url,
            "BASE_URL": self.base,
            "SWEEP_INTERVAL_SECONDS": "0",
            "DEMO_MODE": "false",
        }
        self.log_path = log
        self.log = log.open("ab")
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0
        self.worker_kills = 0

    def _ready_count(self) -> int:
        return self.log_path.read_text(errors="replace").count(READY)

    def start(self) -> None:
        before = self._ready_count()
        command = [sys.executable, "-m", "webapp", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
            start_new_session=True,  # its own process group: a kill takes the workers too
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text(errors="replace")[-3000:]
            if self._ready_count() - before >= self.workers:
                try:
                    if httpx.get(f"{self.base}/login", timeout=1).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("the server did not come up in 60 s")

    def kill(self) -> None:
        """SIGKILL to every process of the server at once: no shutdown, no flush, no goodbye."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        pids = [int(p) for p in children.read_text().split()] if children.exists() else []
        return [p for p in pids if b"spawn_main" in _cmdline(p)]

    def kill_worker(self, rng: random.Random) -> None:
        """SIGKILL to one worker; uvicorn's supervisor starts a new one (waited for)."""
        before = self._ready_count()
        os.kill(rng.choice(self.worker_pids()), signal.SIGKILL)
        self.kills += 1
        self.worker_kills += 1
        deadline = time.monotonic() + 60
        while self._ready_count() <= before:
            assert time.monotonic() < deadline, "no worker replaced the killed one in 60 s"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@dataclass
class Ledger:
    """What the server acknowledged to the client, and the answers it gave."""

    registered: dict[str, str] = field(default_factory=dict)  # visit public_id -> key
    answers: dict[str, tuple[str, str, dict[str, Any], Any]] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    attempts: int = 0


class Client:
    def __init__(self, server: Server, world: World, deadline: float) -> None:
        self.server = server
        self.world = world
        self.deadline = deadline  # a server that never comes back fails the test, not hangs it
        self.http = httpx.Client(base_url=server.base, timeout=10)
        self.ledger = Ledger()
        self.inspector = self._token("inspector1")
        self.manager = self._token("manager1")

    def _token(self, username: str) -> dict[str, str]:
        response = self._send(
            "POST",
            "/api/v1/auth/token",
            {},
            None,
            form={"username": username, "password": PASSWORD},
        )
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: Any,
        *,
        key: str | None = None,
        form: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send until an answer arrives: a lost response is retried with the same key."""
        if key:
            headers = {**headers, "Idempotency-Key": key}
        while True:
            assert time.monotonic() < self.deadline, f"no answer to {method} {url} in time"
            try:
                response = self.http.request(method, url, headers=headers, json=body, data=form)
            except httpx.TransportError:
                time.sleep(0.1)  # the server is down: wait for it and send the same again
                continue
            if response.status_code == 503:
                time.sleep(0.1)
                continue
            assert response.status_code < 500, (url, response.status_code, response.text)
            if key:
                self.ledger.answers[key] = (method, url, body, response.json())
            return response

    def one_visit(self) -> None:
        now = datetime.now(UTC)
        body = {
            "enterprise_id": self.world.ent_a.id,
            "plan_entry_id": self.world.entry_a.id,
            "co_inspector_ids": [self.world.bob.id],
            "window_start": (now - timedelta(minutes=10)).isoformat(),
            "window_end": (now + timedelta(hours=2)).isoformat(),
        }
        key = f"reg-{uuid.uuid4()}"
        self.ledger.attempts += 1
        response = self._send("POST", "/api/v1/visits", self.inspector, body, key=key)
        assert response.status_code == 201, response.text
        public_id = response.json()["public_id"]
        assert public_id not in self.ledger.registered  # one key, one visit
        self.ledger.registered[public_id] = key
        while True:
            pass_ = self._send("GET", f"/api/v1/visits/{public_id}/pass", self.inspector, None)
            ckey = f"chk-{uuid.uuid4()}"
            answer = self._send(
                "POST", "/api/v1/checkins", self.manager, {"pass": pass_.json()["url"]}, key=ckey
            )
            code = answer.json().get("code")
            if answer.status_code == 201 or code == "already_confirmed":
                self.ledger.confirmed.add(public_id)
                return
            assert code == "pass_expired", answer.text  # a restart outlived the pass: new one


class Sessions:
    """PostgreSQL: what the app's connections are doing, seen from pg_stat_activity and
    pg_locks (this checker's own connection left out)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, poolclass=NullPool)

    def _rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql)).all())

    def others(self) -> list[Any]:
        return self._rows(
            "SELECT pid, state, now() - state_change FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    def stuck_in_transaction(self) -> list[Any]:
        return self._rows(
            "SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%' "
            "AND now() - state_change > interval '2 seconds'"
        )

    def waiting_locks(self) -> list[Any]:
        return self._rows(
            "SELECT l.pid, l.locktype, l.mode FROM pg_locks l JOIN pg_database d "
            "ON d.oid = l.database WHERE d.datname = current_database() AND NOT l.granted"
        )

    def gone_within(self, seconds: float) -> list[Any]:
        """Wait until no session of the (killed) app is left; what is left after `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := self.others()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return left

    def close(self) -> None:
        self.engine.dispose()


@pytest.mark.soak
def test_kill9_loses_nothing_acknowledged(tmp_path: Path, databases: Databases) -> None:
    url = databases.new(tmp_path, "soak")
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        world = build_world(session, now=SystemClock().now())
    engine.dispose()
    sessions = Sessions(url) if ON_POSTGRESQL else None

    server = Server(url, tmp_path / "server.log", workers=WORKERS)
    server.start()
    started = time.monotonic()
    deadline = started + SECONDS + 120
    clients = [Client(server, world, deadline) for _ in range(CLIENTS)]
    stop = threading.Event()
    errors: list[BaseException] = []
    left_after_kill: list[Any] = []
    rng = random.Random(9)

    def confirmed() -> int:
        return sum(len(c.ledger.confirmed) for c in clients)

    def client_loop(client: Client) -> None:
        try:
            while not stop.is_set():
                client.one_visit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    try:
        while server.kills < CYCLES and time.monotonic() - started < SECONDS and not errors:
            time.sleep(rng.uniform(0.2, 1.2))
            if server.workers > 1 and rng.random() < 0.5:
                server.kill_worker(rng)
                continue
            server.kill()
            if sessions is not None:
                # Every process of the app is dead: its sessions end with it (an open
                # transaction rolled back, its locks released), none waits for a client.
                left_after_kill += sessions.gone_within(10)
            server.start()
        while confirmed() < 3 * CLIENTS and time.monotonic() - started < SECONDS and not errors:
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=SECONDS + 120)
    try:
        assert errors == []
        assert server.kills >= min(CYCLES, 1)
        assert left_after_kill == []
        # Retries after the fact: the same key gets the same answer, and nothing new.
        for client in clients:
            for key, (method, url_, body, first) in list(client.ledger.answers.items()):
                if key.startswith("reg-") or rng.random() < 0.5:
                    headers = client.inspector if key.startswith("reg-") else client.manager
                    again = client.http.request(
                        method, url_, headers={**headers, "Idempotency-Key": key}, json=body
                    )
                    assert again.json() == first, key
        if sessions is not None:
            # The live workers after all that: nothing idle in a transaction, nothing waiting
            # for a lock a killed process took with it.
            assert sessions.stuck_in_transaction() == []
            assert sessions.waiting_locks() == []
    finally:
        server.stop()
    if sessions is not None:
        assert sessions.gone_within(10) == []
        sessions.close()
    else:
        con = sqlite3.connect(url.removeprefix("sqlite:///"))
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("PRAGMA foreign_key_check").fetchall() == []
        con.close()

    registered = {k: v for c in clients for k, v in c.ledger.registered.items()}
    confirmed_ids = {public_id for c in clients for public_id in c.ledger.confirmed}
    attempts = sum(c.ledger.attempts for c in clients)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        assert audit.verify_chain(session).ok
        visits = {v.public_id: v for v in session.scalars(select(Visit))}
        # Every acknowledged registration is there, and no key made two visits.
        assert set(registered) <= set(visits)
        assert len(visits) <= attempts
        for public_id in confirmed_ids:
            visit = visits[public_id]
            assert visit.status == VisitStatus.confirmed
            confirmations = session.scalar(
                select(func.count())
                .select_from(Scan)
                .where(Scan.visit_id == visit.id, Scan.outcome == ScanOutcome.confirmed)
            )
            assert confirmations == 1, public_id
    engine.dispose()
    print(
        f"kill -9 soak ({databases.dialect}, {server.workers} worker(s), {CLIENTS} client(s)): "
        f"{server.kills} kills ({server.worker_kills} of one worker), {len(registered)} visits "
        f"registered, {len(confirmed_ids)} confirmed, "
        f"{sum(len(c.ledger.answers) for c in clients)} keyed answers replayed or kept, "
        f"{time.monotonic() - started:.0f} s"
    )
