"""Confirmations per second and their p50 / p99 latency with 50 concurrent clients, beside
the stack's floor: a bare endpoint of the same app that inserts and commits one row
(`webapp/benchfloor.py`), measured against the same server in the same run.

`make bench BENCH=confirm`. Configurations: SQLite with one worker, PostgreSQL with one and
with four workers (a throwaway cluster from bench.pg; skipped when PostgreSQL is not
installed), 50 clients each.
Each one gets a fresh migrated database with the standard world plus one enterprise, one
safety manager (with an API token) and one registered, planned visit for every
confirmation, so each request is a different manager confirming a different enterprise's
visit, as at the gates of a province. The server is `uvicorn
webapp.benchfloor:app` in its own process group; the clients are asyncio + httpx in this
process. The pass is made at send time from the visit's secret, as the inspector's phone
makes it. Bounded: BENCH_CONFIRM_REQUESTS (2,000) per configuration, and a timeout. The
floor and the confirmations alternate in BENCH_CONFIRM_ROUNDS (3) rounds, their requests
split between the rounds; the figures add the rounds up, and each round's ratio is printed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# The settings refuse to load without a key; the bench's servers use this one.
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijkl")

import httpx
from sqlalchemy import func, select

from bench import pg
from tests.factories import build_world, make_enterprise, make_plan_entry, make_user
from tests.live import free_port
from webapp.__main__ import migrate
from webapp.auth import security
from webapp.auth.models import UserSession
from webapp.benchfloor import FLOOR_PATH, floor_table
from webapp.checkin import passes
from webapp.checkin.models import Scan
from webapp.config import Settings
from webapp.db import make_engine, make_sessionmaker
from webapp.enums import Approval, Role, ScanOutcome, VisitStatus
from webapp.supervision import summary
from webapp.supervision.models import Flag
from webapp.visits.models import Visit, VisitInspector

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = int(os.environ.get("BENCH_CONFIRM_REQUESTS", "2000"))
CLIENTS = int(os.environ.get("BENCH_CONFIRM_CLIENTS", "50"))
WARMUP = CLIENTS  # requests of each kind before the measured ones (pools, caches)
# The floor and the confirmations are measured in turn, this many times each (REQUESTS split
# between them): on a shared machine the load drifts within a minute, and one floor run
# followed by one confirmation run put the whole drift into their ratio.
ROUNDS = max(1, int(os.environ.get("BENCH_CONFIRM_ROUNDS", "3")))
RUN_TIMEOUT = float(os.environ.get("BENCH_CONFIRM_TIMEOUT", "300"))  # seconds per measured run
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class Job:
    """One confirmation: a manager's token and the visit whose pass they scan."""

    token: str
    public_id: str
    enterprise_id: int
    secret: bytes


@dataclass(frozen=True)
class Run:
    ok: int
    failed: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @staticmethod
    def combined(runs: list[Run]) -> Run:
        """Several runs as one: requests and seconds added, latencies pooled."""
        return Run(
            sum(r.ok for r in runs),
            sum(r.failed for r in runs),
            sum(r.seconds for r in runs),
            [ms for r in runs for ms in r.latencies_ms],
        )

    def percentile(self, p: int) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]


@dataclass(frozen=True)
class Row:
    engine: str
    workers: int
    clients: int
    floor: Run
    confirm: Run
    flags: int
    catch_up: Run  # the report summary's catch-up of the confirmations' queue, after the runs


def _prepare(url: str, count: int, *, base_url: str) -> list[Job]:
    """The world, then `count` enterprises each with a manager (and API token) and a
    planned visit registered two hours ago whose window is open now."""
    engine = make_engine(url)
    floor_table.create(engine, checkfirst=True)
    now = datetime.now(UTC)
    settings = Settings(database_url=url, base_url=base_url)
    jobs: list[Job] = []
    with make_sessionmaker(engine)() as session:
        world = build_world(session, now=now - timedelta(days=1))
        month = now.astimezone(ZoneInfo(settings.timezone)).strftime("%Y-%m")
        prefixes: set[str] = set()
        for _ in range(count):
            prefix = security.new_code_prefix()
            while prefix in prefixes:  # short and random: unique in the table
                prefix = security.new_code_prefix()
            prefixes.add(prefix)
            enterprise = make_enterprise(session, agency=world.county, now=now)
            manager = make_user(session, role=Role.manager, enterprise=enterprise, now=now)
            entry = make_plan_entry(
                session,
                agency=world.county,
                enterprise=enterprise,
                items=world.items[:2],
                month=month,
                now=now,
            )
            visit = Visit(
                public_id=security.new_public_id(),
                agency_id=world.county.id,
                enterprise_id=enterprise.id,
                plan_entry_id=entry.id,
                extra_reason=None,
                extra_reason_text="",
                approval=Approval.not_required,
                window_start=now - timedelta(minutes=30),
                window_end=now + timedelta(hours=4),
                status=VisitStatus.registered,
                registered_at=now - timedelta(hours=2),
                registered_by_id=world.inspector1.id,
                pass_secret=security.new_pass_secret(),
                code_prefix=prefix,
                cancel_reason="",
            )
            visit.items = list(world.items[:2])
            session.add(visit)
            session.flush()
            for position, inspector in enumerate([world.alice, world.bob]):
                session.add(
                    VisitInspector(visit_id=visit.id, inspector_id=inspector.id, position=position)
                )
            token, sid = security.new_session_secret()
            session.add(
                UserSession(
                    id=sid,
                    user_id=manager.id,
                    kind="api",
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(hours=settings.api_token_hours),
                )
            )
            jobs.append(Job(token, visit.public_id, enterprise.id, visit.pass_secret))
        session.commit()
    engine.dispose()
    return jobs


def _pass_url(job: Job, settings: Settings) -> str:
    step = security.step_of(datetime.now(UTC), settings.pass_step_seconds)
    token = security.issue_pass_token(
        job.secret,
        visit_public_id=job.public_id,
        enterprise_id=job.enterprise_id,
        step=step,
        step_seconds=settings.pass_step_seconds,
        accepted_steps=settings.pass_accepted_steps,
    )
    return passes.scan_url(settings, token)


async def _drive(
    base: str, jobs: list[Job] | None, count: int, settings: Settings, clients: int
) -> Run:
    """`count` requests by `clients` concurrent clients, each on its own connection: the
    floor when `jobs` is None, else one confirmation per job."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    latencies: list[float] = []
    failures: list[str] = []

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as http:
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    if jobs is None:
                        response = await http.post(FLOOR_PATH)
                    else:
                        job = jobs[i]
                        response = await http.post(
                            "/api/v1/checkins",
                            headers={"Authorization": f"Bearer {job.token}"},
                            json={"pass": _pass_url(job, settings)},
                        )
                except httpx.TransportError as exc:
                    failures.append(f"{type(exc).__name__} {exc}")
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code == 201:
                    latencies.append(elapsed)
                else:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    started = time.perf_counter()
    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    _done, pending = await asyncio.wait(tasks, timeout=RUN_TIMEOUT)
    for task in pending:  # out of time: what did not finish counts as failed
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    seconds = time.perf_counter() - started
    unanswered = count - len(latencies) - len(failures)
    if unanswered:
        failures += [f"no answer within the run's {RUN_TIMEOUT:.0f} s"] * unanswered
    if failures:
        print(f"    {len(failures)} failed, e.g. {failures[0]}", flush=True)
    return Run(len(latencies), len(failures), seconds, latencies)


class Server:
    """`uvicorn webapp.benchfloor:app --workers N` in its own process (group)."""

    def __init__(self, url: str, workers: int, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log = log
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "BASE_URL": self.base,
            "BENCH_FLOOR": "true",
            "SWEEP_INTERVAL_SECONDS": "0",
            "DEMO_MODE": "false",
        }
        with log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 (fixed arguments)
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "webapp.benchfloor:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(workers),
                    "--log-level",
                    "warning",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bench server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/login", timeout=2).status_code == 200:
                    time.sleep(2 if self.workers > 1 else 0)  # the other workers too
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the bench server did not come up in 120 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _measure(engine_name: str, url: str, workers: int, tmp: Path, clients: int = CLIENTS) -> Row:
    print(
        f"  {engine_name}, {workers} worker(s), {clients} clients: preparing {REQUESTS:,} "
        "visits ...",
        flush=True,
    )
    log = tmp / f"server-{engine_name}-{workers}-{clients}.log"
    server = Server(url, workers, log)
    try:
        settings = Settings(database_url=url, base_url=server.base)
        jobs = _prepare(url, REQUESTS + WARMUP, base_url=server.base)
        _catch_up(url)  # the registrations' queue: not the confirmations' work
        server.wait_ready()
        asyncio.run(_drive(server.base, None, WARMUP, settings, clients))
        asyncio.run(_drive(server.base, jobs[REQUESTS:], WARMUP, settings, clients))
        floors: list[Run] = []
        confirms: list[Run] = []
        for r in range(ROUNDS):
            first, last = REQUESTS * r // ROUNDS, REQUESTS * (r + 1) // ROUNDS
            floors.append(asyncio.run(_drive(server.base, None, last - first, settings, clients)))
            confirms.append(
                asyncio.run(_drive(server.base, jobs[first:last], last - first, settings, clients))
            )
        floor, confirm = Run.combined(floors), Run.combined(confirms)
        if ROUNDS > 1:
            each = ", ".join(
                f"{f.per_second / c.per_second:.2f}" if c.per_second else "-"
                for f, c in zip(floors, confirms, strict=True)
            )
            print(f"    cost (x floor) in each of the {ROUNDS} rounds: {each}", flush=True)
    finally:
        server.stop()
        errors = [line for line in log.read_text().splitlines() if "Error" in line]
        if errors:
            print("    server log: " + "\n    ".join(errors[:5]), flush=True)
    catch_up = _catch_up(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        confirmed = session.scalar(
            select(func.count()).where(Visit.status == VisitStatus.confirmed)
        )
        flags = session.scalar(select(func.count()).select_from(Flag)) or 0
        refused = session.scalar(select(func.count()).where(Scan.outcome == ScanOutcome.refused))
    engine.dispose()
    print(
        f"    floor {floor.per_second:,.0f}/s, confirmations {confirm.per_second:,.0f}/s "
        f"({confirmed:,} visits confirmed, {refused} scans refused, {flags} flags raised)",
        flush=True,
    )
    return Row(engine_name, workers, clients, floor, confirm, flags, catch_up)


def _catch_up(url: str) -> Run:
    """Apply the report summary's queue (summary.catch_up, as a report page or the
    background sweep does): the part of a confirmation's cost that left the request."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            started = time.perf_counter()
            visits = summary.catch_up(session)
            seconds = time.perf_counter() - started
            session.rollback()
    finally:
        engine.dispose()
    return Run(visits, 0, seconds, [])


def _table(rows: list[Row]) -> None:
    print(
        f"\nConfirmations vs the floor (insert + commit one row), {REQUESTS:,} requests each, "
        f"in {ROUNDS} alternating rounds:\n"
    )
    print(
        "| engine | workers | clients | floor req/s | confirm/s | cost (x floor) "
        "| with its catch-up | floor p50 | confirm p50 | x | floor p99 | confirm p99 | x "
        "| failed (floor/confirm) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        f, c = r.floor, r.confirm
        cost = f.per_second / c.per_second if c.per_second else float("inf")
        # The catch-up's seconds per visit added to a confirmation's share of the run.
        per_visit = r.catch_up.seconds / r.catch_up.ok if r.catch_up.ok else 0.0
        whole = (1 / c.per_second + per_visit) * f.per_second if c.per_second else float("inf")
        p50 = c.percentile(50) / f.percentile(50) if f.percentile(50) else float("inf")
        p99 = c.percentile(99) / f.percentile(99) if f.percentile(99) else float("inf")
        print(
            f"| {r.engine} | {r.workers} | {r.clients} | {f.per_second:,.0f} | {c.per_second:,.0f} "
            f"| {cost:.2f} | {whole:.2f} | {f.percentile(50):.0f} ms | {c.percentile(50):.0f} ms "
            f"| {p50:.2f} "
            f"| {f.percentile(99):.0f} ms | {c.percentile(99):.0f} ms | {p99:.2f} "
            f"| {f.failed}/{c.failed} |"
        )
    print(
        "\ncost = floor requests/s ÷ confirmations/s (aim: at most 2); with its catch-up: the "
        "same with the time the report summary's catch-up took afterwards for the run's "
        "visits (summary.catch_up, run by the next report page or the background sweep) added "
        "to each confirmation's share; x = the confirmation's latency ÷ the floor's; failed: "
        "answers other than 201 (e.g. 503 when the database stayed busy past its timeout), "
        "left out of the latencies.",
        flush=True,
    )


def main() -> None:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-confirm.") as name:
        tmp = Path(name)
        url = f"sqlite:///{tmp / 'confirm.sqlite3'}"
        migrate(url)
        rows.append(_measure("SQLite", url, 1, tmp))
        if not pg.available():
            print("  PostgreSQL not installed (make pg-deps): its rows are skipped")
        else:
            with pg.cluster() as admin_url:
                for workers in (1, 4):
                    url = pg.fresh_database(admin_url, f"bench_confirm_{workers}")
                    rows.append(_measure("PostgreSQL", url, workers, tmp))
    _table(rows)


if __name__ == "__main__":
    main()
