"""The production shape of docker-compose.yml, run on this machine without Docker:
PostgreSQL, the compose file's `migrate` command, three app processes started with the compose
file's `app` command (its workers too), and nginx with deploy/nginx.conf (TLS, the upstream
servers replaced by those processes). Over the proxy: an inspector registers a visit and
fetches its pass, the enterprise's manager signs in and confirms it; the requests are spread
over the processes, and the app sees the client's address (X-Forwarded-For), not the proxy's,
so the sign-in throttle counts per client. Everything is stopped afterwards, process groups
and database included.

Needs `TEST_DATABASE_URL` (the admin URL of a throwaway PostgreSQL cluster, as `make test-pg`
and CI give) and Debian's nginx (`make system-deps`); skipped otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.factories import PASSWORD, World, build_world, csrf_from
from tests.live import free_port
from tools import deploy_lint
from webapp.auth.models import SignInAttempt
from webapp.db import make_engine, make_sessionmaker

ROOT = deploy_lint.ROOT
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
SECRET = "production-shape-test-secret-0123456789-abcdef"
# The proxy runs on 127.0.0.1; the test's clients come from other loopback addresses, so the
# address the app records tells the client's (X-Forwarded-For) from the proxy's.
CLIENT, OTHER_CLIENT = "127.0.0.2", "127.0.0.3"
MAX_FAILURES_PER_ADDRESS = 3

pytestmark = [
    pytest.mark.skipif(
        not TEST_DATABASE_URL.startswith("postgresql"),
        reason="the production shape runs on PostgreSQL: set TEST_DATABASE_URL (make test-pg)",
    ),
    pytest.mark.skipif(
        deploy_lint.nginx_binary() is None,
        reason="nginx is not installed (make system-deps installs Debian's)",
    ),
]


@dataclass
class Shape:
    url: str  # the proxy's HTTPS origin (BASE_URL)
    database_url: str
    app_ports: list[int]
    app_groups: list[int]
    proxy_group: int
    access_log: Path
    world: World


def _env_example_settings() -> dict[str, str]:
    """The non-empty settings deploy/env.example gives (what an operator starts from)."""
    found = re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", deploy_lint.ENV_EXAMPLE.read_text(), re.M)
    return {name: value.strip() for name, value in found if value.strip()}


def _python(command: list[str]) -> list[str]:
    """A compose command run with this venv's Python (`python` in the image)."""
    assert command[0] == "python", command
    return [sys.executable, *command[1:]]


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path, *, verify: bool) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, verify=verify, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer in time:\n{log.read_text()}")


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the process and everything it started (uvicorn's workers, nginx's)."""
    group = process.pid  # start_new_session: the group is the process's own id
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; its children may still be exiting.
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_alive(group):
            time.sleep(0.1)
        if not _group_alive(group):
            break
    if process.poll() is None:
        process.kill()
        process.wait(timeout=5)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def production_shape() -> Iterator[Shape]:
    """Start the shape; on leaving, stop every process group and drop the database."""
    compose = deploy_lint.load_compose()
    name = f"shape_{uuid.uuid4().hex[:12]}"
    admin = create_engine(TEST_DATABASE_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    database_url = make_url(TEST_DATABASE_URL).set(database=name).render_as_string(False)
    # Readable by nginx's unprivileged workers (its temporary files go here).
    work = Path(tempfile.mkdtemp(prefix="deploy-shape-"))
    work.chmod(0o755)
    processes: list[subprocess.Popen[bytes]] = []
    engine = None
    try:
        https_port, http_port = free_port(), free_port()
        base_url = f"https://127.0.0.1:{https_port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DEMO_MODE", "DATABASE_URL")}
        env.update(_env_example_settings())
        env.update(deploy_lint.app_environment(compose))
        env.update(
            DATABASE_URL=database_url,
            SECRET_KEY=SECRET,
            BASE_URL=base_url,
            # Here the proxy is on 127.0.0.1 (in compose: its fixed address on `front`).
            FORWARDED_ALLOW_IPS="127.0.0.1",
            SIGNIN_MAX_FAILURES_PER_ADDRESS=str(MAX_FAILURES_PER_ADDRESS),
        )

        migrated = subprocess.run(
            _python(deploy_lint.migrate_command(compose)),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stderr
        engine = make_engine(database_url)
        with make_sessionmaker(engine)() as session:
            # Local time: the world's plan month is this month in Shanghai.
            world = build_world(session, now=datetime.now(ZoneInfo("Asia/Shanghai")))

        command = deploy_lint.with_option(deploy_lint.app_command(compose), "--host", "127.0.0.1")
        replicas = deploy_lint.app_replicas(compose)
        assert replicas >= 2
        ports = [free_port() for _ in range(replicas)]
        for i, port in enumerate(ports):
            log = work / f"app{i}.log"
            process = _start(
                _python(deploy_lint.with_option(command, "--port", str(port))), env, log
            )
            processes.append(process)
            _wait_for(f"http://127.0.0.1:{port}/healthz", process, log, verify=True)

        cert, key = deploy_lint.self_signed_certificate(work)
        conf = work / "nginx.conf"
        conf.write_text(
            deploy_lint.local_nginx_conf(
                deploy_lint.NGINX_CONF.read_text(),
                upstreams=[f"127.0.0.1:{p}" for p in ports],
                http_port=http_port,
                https_port=https_port,
                cert=cert,
                key=key,
                workdir=work,
            )
        )
        nginx = deploy_lint.nginx_binary()
        assert nginx is not None
        log = work / "nginx.out"
        proxy = _start(
            [
                nginx,
                "-p",
                str(work),
                "-e",
                str(work / "error.log"),
                "-c",
                str(conf),
                "-g",
                "daemon off;",
            ],
            env,
            log,
        )
        processes.append(proxy)
        _wait_for(f"http://127.0.0.1:{http_port}/proxy-health", proxy, log, verify=True)
        _wait_for(f"{base_url}/login", proxy, work / "error.log", verify=False)

        yield Shape(
            url=base_url,
            database_url=database_url,
            app_ports=ports,
            app_groups=[p.pid for p in processes[:-1]],
            proxy_group=proxy.pid,
            access_log=work / "access.log",
            world=world,
        )
    finally:
        for process in reversed(processes):
            _stop(process)
        if engine is not None:
            engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


def _client(shape: Shape, address: str = CLIENT) -> httpx.Client:
    """A phone: talks to the proxy only, over TLS, from its own address."""
    transport = httpx.HTTPTransport(local_address=address, verify=False)
    return httpx.Client(base_url=shape.url, transport=transport, timeout=30)


def _token(client: httpx.Client, username: str) -> dict[str, str]:
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _sign_in(client: httpx.Client, username: str) -> None:
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "next": "/",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert answer.status_code == 303, answer.text
    # The Secure `__Host-` session cookie came back over the proxy's TLS.
    assert any(c.startswith("__Host-") for c in answer.headers.get_list("set-cookie"))


def _addresses(shape: Shape) -> set[str]:
    engine = make_engine(shape.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return set(session.scalars(select(SignInAttempt.address)))
    finally:
        engine.dispose()


def test_the_production_shape_serves_the_loop_and_stops_cleanly() -> None:
    with production_shape() as shape:
        _register_and_confirm_across_processes(shape)
        _the_app_sees_the_client_not_the_proxy(shape)
        groups = [*shape.app_groups, shape.proxy_group]
        assert all(_group_alive(g) for g in groups)
    # No stray process: every app process with its workers, and nginx with its workers.
    assert not any(_group_alive(g) for g in groups)


def _register_and_confirm_across_processes(shape: Shape) -> None:
    world = shape.world
    now = datetime.now(UTC)
    with _client(shape) as inspector:
        token = _token(inspector, "inspector1")
        registered = inspector.post(
            "/api/v1/visits",
            headers={**token, "Idempotency-Key": f"shape-{uuid.uuid4().hex}"},
            json={
                "enterprise_id": world.ent_a.id,
                "plan_entry_id": world.entry_a.id,
                "co_inspector_ids": [world.bob.id],
                "window_start": (now + timedelta(minutes=5)).isoformat(),
                "window_end": (now + timedelta(hours=3)).isoformat(),
            },
        )
        assert registered.status_code == 201, registered.text
        visit_id = registered.json()["public_id"]
        current = inspector.get(f"/api/v1/visits/{visit_id}/pass", headers=token)
        assert current.status_code == 200, current.text
        pass_url = current.json()["url"]
        assert pass_url.startswith(f"{shape.url}/scan?p=")  # BASE_URL: the proxy's origin

    with _client(shape) as manager:
        _sign_in(manager, "manager1")
        page = manager.get(pass_url.removeprefix(shape.url))
        assert page.status_code == 200, page.text
        confirmed = manager.post(
            "/scan",
            data={
                "pass": pass_url,
                "csrf_token": csrf_from(page.text),
                "idempotency_key": f"shape-scan-{uuid.uuid4().hex}",
                "device_time": datetime.now(UTC).isoformat(),
            },
        )
        assert confirmed.status_code == 200, confirmed.text
        # The signed-in session holds on whichever process answers (sessions are in the
        # database): a few more pages, round robin over the processes.
        for _ in range(len(shape.app_ports)):
            assert manager.get("/login", follow_redirects=False).status_code == 303

    with _client(shape) as inspector:
        visit = inspector.get(f"/api/v1/visits/{visit_id}", headers=_token(inspector, "inspector1"))
        assert visit.json()["status"] == "confirmed", visit.text

    # Spread: the proxy's access log names the process that answered each request.
    served_by = re.findall(r"upstream=127\.0\.0\.1:(\d+)", shape.access_log.read_text())
    assert len(served_by) >= 10
    assert {int(p) for p in served_by} <= set(shape.app_ports)
    assert len(set(served_by)) >= 2, served_by

    # Every sign-in was recorded with the phone's address, not the proxy's 127.0.0.1.
    assert _addresses(shape) == {CLIENT}


def _the_app_sees_the_client_not_the_proxy(shape: Shape) -> None:
    with _client(shape, OTHER_CLIENT) as guesser:
        for attempt in range(MAX_FAILURES_PER_ADDRESS):
            wrong = guesser.post(
                "/api/v1/auth/token",
                # A header the client sets itself is replaced by the proxy.
                headers={"X-Forwarded-For": "203.0.113.9"},
                data={"username": f"nobody{attempt}", "password": "wrong-password-0"},
            )
            assert wrong.status_code in (400, 401), wrong.text
        throttled = guesser.post(
            "/api/v1/auth/token", data={"username": "manager1", "password": PASSWORD}
        )
        assert throttled.status_code == 429, throttled.text
    # Recorded with the guesser's own address: not the proxy's, not the one it made up.
    assert _addresses(shape) == {CLIENT, OTHER_CLIENT}

    # Another client through the same proxy is not throttled: the limit is per client.
    with _client(shape, CLIENT) as phone:
        assert "Authorization" in _token(phone, "manager1")
