"""`make audit`: Lighthouse 13 (pinned in package.json) on the main pages, as a phone.

Starts the demo app on 127.0.0.1 with a throw-away database, signs in as the role each page
needs (the session cookie goes to Lighthouse as a header), runs Lighthouse twice per page —
a first visit (empty cache) and a repeat visit (same browser profile, cache kept) — and prints
performance / accessibility / best-practices scores and the bytes transferred.

Run from the project root: `.venv/bin/python tools/audit/run.py` (after `npm ci --prefix
tools/audit`). Not part of `make test`: figures, not a pass/fail (it exits 1 only when a page
could not be audited)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
LIGHTHOUSE = ROOT / "tools" / "audit" / "node_modules" / ".bin" / "lighthouse"
CHROME = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
PASSWORD = "demo-pass-2026"  # the demo data set's password (webapp/demo.py)
CATEGORIES = ("performance", "accessibility", "best-practices")

# (who, path): the main pages of each role; None = not signed in.
PAGES: list[tuple[str | None, str]] = [
    (None, "/login"),
    (None, "/scan/enter"),
    # The pages themselves, not `/` or `/supervision`: those redirect, and Lighthouse drops an
    # --extra-headers Cookie across a redirect (GoogleChrome/lighthouse#6207), so it would
    # audit the sign-in page instead.
    ("inspector1", "/visits"),
    ("inspector1", "/visits/new"),
    ("inspector1", "{visit}"),
    ("manager1", "/enterprise"),
    ("supervisor1", "/supervision/flags"),
    ("supervisor1", "/supervision/report"),
    ("inspector1", "/preferences"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_app(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DEMO_MODE": "true",
        "COOKIE_SECURE": "false",
        "DATABASE_URL": f"sqlite:///{workdir / 'audit.sqlite3'}",
    }
    python = str(ROOT / ".venv" / "bin" / "python")
    # Fixed argument lists built here (no shell, no outside input): S603 does not apply.
    for step in (["migrate"], ["demo"]):
        subprocess.run(  # noqa: S603
            [python, "-m", "webapp", *step], cwd=ROOT, env=env, check=True, capture_output=True
        )
    server = subprocess.Popen(  # noqa: S603
        [python, "-m", "webapp", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the demo app did not start")


def session_cookie(base: str, username: str) -> str:
    """Sign in through the sign-in form; returns the Cookie header of the new session."""
    with httpx.Client(base_url=base, follow_redirects=False) as client:
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, "no CSRF token on the sign-in page"
        done = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        if done.status_code >= 400:
            raise SystemExit(f"could not sign in as {username}: {done.status_code}")
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items())


def a_visit(base: str, cookie: str) -> str:
    """The first visit card linked from the inspector's list of visits."""
    home = httpx.get(f"{base}/visits", headers={"Cookie": cookie}, follow_redirects=True)
    found = re.search(r'href="(/visits/[A-Za-z0-9_-]{10,})"', home.text)
    return found.group(1) if found else "/visits"


def lighthouse(url: str, cookie: str | None, profile: Path, *, repeat: bool) -> dict[str, float]:
    """One Lighthouse run as a phone (its default form factor and throttling)."""
    out = profile.parent / f"{profile.name}-{'repeat' if repeat else 'first'}.json"
    flags = f"--headless=new --no-sandbox --disable-gpu --user-data-dir={profile}"
    cmd = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={flags}",
    ]
    if cookie:
        cmd.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
    if repeat:
        cmd.append("--disable-storage-reset")  # keep the HTTP cache of the first visit
    subprocess.run(cmd, check=True, env={**os.environ, "CHROME_PATH": CHROME})  # noqa: S603
    report = json.loads(out.read_text())
    scores = {c: float(report["categories"][c]["score"] or 0) for c in CATEGORIES}
    scores["bytes"] = float(report["audits"]["total-byte-weight"]["numericValue"])
    return scores


def main() -> int:
    if not LIGHTHOUSE.exists():
        print("Lighthouse is missing: run `npm ci --prefix tools/audit`", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="audit-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_app(workdir, port)
    rows: list[tuple[str, str, dict[str, float], dict[str, float]]] = []
    failed = 0
    try:
        cookies = {who: session_cookie(base, who) for who, _ in PAGES if who}
        for n, (who, path) in enumerate(PAGES):
            cookie = cookies[who] if who else None
            if path == "{visit}":
                path = a_visit(base, cookies["inspector1"])
            profile = workdir / f"profile-{n}"
            try:
                first = lighthouse(base + path, cookie, profile, repeat=False)
                again = lighthouse(base + path, cookie, profile, repeat=True)
            except subprocess.CalledProcessError as exc:
                print(f"{path}: Lighthouse failed ({exc.returncode})", file=sys.stderr)
                failed += 1
                continue
            rows.append((who or "-", path, first, again))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print()
    head = ("role", "page", "perf", "a11y", "best", "KB 1st", "KB again")
    print(f"{head[0]:<12} {head[1]:<34} {head[2]:>5} {head[3]:>5} {head[4]:>5}", end="")
    print(f" {head[5]:>8} {head[6]:>8}")
    for who, path, first, again in rows:
        print(
            f"{who:<12} {path[:34]:<34} {first['performance']:>5.2f} {first['accessibility']:>5.2f}"
            f" {first['best-practices']:>5.2f} {first['bytes'] / 1024:>8.1f}"
            f" {again['bytes'] / 1024:>8.1f}"
        )
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
