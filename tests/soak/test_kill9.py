"""Nothing lost under kill -9: a real server process is killed again and again while a client
streams registrations and confirmations through the JSON API.

After every restart the database is intact, every acknowledged write is there, each visit is
confirmed exactly once, the audit chain verifies, and a retry with the same idempotency key gets
the original answer. `make test` runs a few cycles; `make soak` runs many (SOAK_CYCLES,
bounded by SOAK_SECONDS)."""

from __future__ import annotations

import os
import random
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
from sqlalchemy import func, select

from tests.dbs import Databases, sqlite_only
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


class Server:
    """`python -m webapp serve` as its own process, killed with SIGKILL and started again."""

    def __init__(self, db_path: Path, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{db_path}",
            "BASE_URL": self.base,
            "SWEEP_INTERVAL_SECONDS": "0",
            "DEMO_MODE": "false",
        }
        self.log = log.open("ab")
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.kills = 0

    def start(self) -> None:
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
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/login", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the server did not come up in 30 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown, no flush, no goodbye
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@dataclass
class Ledger:
    """What the server acknowledged to the client, and the answers it gave."""

    registered: dict[str, str] = field(default_factory=dict)  # visit public_id -> key
    answers: dict[str, tuple[str, str, dict[str, Any], Any]] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)
    attempts: int = 0


class Client:
    def __init__(self, server: Server, world: World) -> None:
        self.server = server
        self.world = world
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


@pytest.mark.soak
@sqlite_only  # the loop checks the file itself (integrity_check); PostgreSQL has its own WAL
def test_kill9_loses_nothing_acknowledged(tmp_path: Path, databases: Databases) -> None:
    db_path = Path(databases.new(tmp_path, "soak").removeprefix("sqlite:///"))
    engine = make_engine(f"sqlite:///{db_path}")
    with make_sessionmaker(engine)() as session:
        world = build_world(session, now=SystemClock().now())
    engine.dispose()

    server = Server(db_path, tmp_path / "server.log")
    server.start()
    client = Client(server, world)
    stop = threading.Event()
    rng = random.Random(9)

    def killer() -> None:
        while not stop.is_set() and server.kills < CYCLES:
            time.sleep(rng.uniform(0.2, 1.2))
            server.kill()
            server.start()

    started = time.monotonic()
    thread = threading.Thread(target=killer)
    thread.start()
    try:
        while (server.kills < CYCLES or len(client.ledger.confirmed) < 3) and (
            time.monotonic() - started < SECONDS
        ):
            client.one_visit()
    finally:
        stop.set()
        thread.join()
    try:
        assert server.kills >= min(CYCLES, 1)
        # Retries after the fact: the same key gets the same answer, and nothing new.
        for key, (method, url, body, first) in list(client.ledger.answers.items()):
            if key.startswith("reg-") or rng.random() < 0.5:
                headers = client.inspector if key.startswith("reg-") else client.manager
                again = client.http.request(
                    method, url, headers={**headers, "Idempotency-Key": key}, json=body
                )
                assert again.json() == first, key
    finally:
        server.stop()

    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    con.close()
    engine = make_engine(f"sqlite:///{db_path}")
    with make_sessionmaker(engine)() as session:
        assert audit.verify_chain(session).ok
        visits = {v.public_id: v for v in session.scalars(select(Visit))}
        # Every acknowledged registration is there, and no key made two visits.
        assert set(client.ledger.registered) <= set(visits)
        assert len(visits) <= client.ledger.attempts
        for public_id in client.ledger.confirmed:
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
        f"kill -9 soak: {server.kills} kills, {len(client.ledger.registered)} visits registered, "
        f"{len(client.ledger.confirmed)} confirmed, {len(client.ledger.answers)} keyed answers "
        "replayed or kept"
    )
