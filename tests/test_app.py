"""Start-up refusals, security headers, and error shapes."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from tests.factories import World, api_token, login
from webapp.config import DEMO_SECRET, Settings


def test_outside_demo_mode_the_app_refuses_to_start_without_its_key() -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(secret_key="", demo_mode=False)
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(secret_key=DEMO_SECRET, demo_mode=False)
    with pytest.raises(ValidationError, match="too short"):
        Settings(secret_key="short", demo_mode=False)


def test_demo_mode_is_the_only_place_the_default_secret_is_accepted() -> None:
    assert Settings(secret_key="", demo_mode=True).secret_key == DEMO_SECRET


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    response = client.get("/login")
    csp = response.headers["content-security-policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "max-age" in response.headers["strict-transport-security"]
    assert response.headers["x-request-id"]


def test_the_headers_and_the_request_id_on_errors_and_static_files(client: TestClient) -> None:
    """The per-request middleware's work on answers other than a page: an API error (its
    body quotes the answer's request id, in the reader's language), a refused sign-in and a
    static file (which keeps its own caching)."""
    missing = client.get("/api/v1/no-such-thing", headers={"Accept-Language": "en"})
    unsigned = client.post("/api/v1/checkins", json={"pass": "x"})
    asset = client.get("/static/app.css")
    for response in (missing, unsigned, asset):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["referrer-policy"] == "no-referrer"
        assert len(response.headers["x-request-id"]) == 16
    assert missing.json()["request_id"] == missing.headers["x-request-id"]
    assert missing.headers["content-language"] == "en"
    assert missing.headers["cache-control"] == "no-store"
    assert unsigned.status_code == 401
    assert unsigned.json()["code"] == "not_authenticated"
    assert unsigned.json()["request_id"] == unsigned.headers["x-request-id"]
    assert asset.status_code == 200
    assert asset.headers["cache-control"] != "no-store"
    assert missing.headers["x-request-id"] != unsigned.headers["x-request-id"]


def test_api_errors_are_problem_details(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_found"
    assert body["request_id"]


def test_page_errors_are_pages_in_the_users_language(client: TestClient) -> None:
    response = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "Not found" in response.text
    assert "Traceback" not in response.text


def test_openapi_is_published(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/auth/token" in spec["paths"]


def test_the_manifest_makes_the_app_installable(client: TestClient) -> None:
    manifest = client.get("/manifest.webmanifest").json()
    assert manifest["display"] == "standalone"
    assert {icon["sizes"] for icon in manifest["icons"]} == {"192x192", "512x512"}


def test_pass_tokens_never_reach_the_access_log() -> None:
    import logging

    from webapp.app import RedactPasses

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/scan?p=eyJhbGciOi.abc.def&x=1", "1.1", 200),
        None,
    )
    assert RedactPasses().filter(record)
    assert "eyJ" not in record.getMessage()
    assert "/scan?p=[redacted]&x=1" in record.getMessage()


@pytest.mark.parametrize(
    ("base_url", "ok"),
    [
        ("https://jiancha.example.gov.cn", True),
        ("http://127.0.0.1:8000", True),
        ("http://jiancha.example.gov.cn", False),
        ("jiancha.example.gov.cn", False),
        ("https://jiancha.example.gov.cn/app", False),
    ],
)
def test_passes_point_at_an_https_origin(base_url: str, ok: bool) -> None:
    key = "k" * 40
    if ok:
        assert Settings(secret_key=key, base_url=base_url).base_url == base_url
    else:
        with pytest.raises(ValidationError, match="BASE_URL"):
            Settings(secret_key=key, base_url=base_url)


def test_the_api_schema_holds_only_the_api(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert all(p.startswith("/api/v1/") for p in paths)


@pytest.mark.parametrize("flag_id", [2**31 + 5, 2**63 + 5])
def test_an_id_beyond_what_the_database_stores_is_bad_input(
    client: TestClient, db: Session, world: World, flag_id: int
) -> None:
    """Beyond 32 bits PostgreSQL refuses the number, beyond 64 SQLite's driver does: either
    way the answer is 422 number_out_of_range, not a server error; within range, 404."""
    postgresql = db.get_bind().dialect.name == "postgresql"
    expected = 422 if (postgresql or flag_id >= 2**63) else 404
    answer = client.get(f"/api/v1/flags/{flag_id}", headers=api_token(client, "supervisor1"))
    assert answer.status_code == expected, answer.text
    if expected == 422:
        assert answer.json()["code"] == "number_out_of_range"
    login(client, "supervisor1")
    assert client.get(f"/supervision/flags/{flag_id}").status_code == expected


def test_the_server_entry_point_freezes_what_it_built_at_start(tmp_path: object) -> None:
    """`webapp.asgi` (what uvicorn loads) leaves the objects built at start out of the
    garbage collector's full collections (in a process of its own: tests build many apps)."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "SECRET_KEY": "test-only-secret-key-0123456789-abcdefghijkl",
        "DATABASE_URL": f"sqlite:///{tmp_path}/entry.sqlite3",
    }
    code = "import gc, webapp.asgi; print(gc.get_freeze_count())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 10_000


def test_an_unexpected_error_answers_500_with_the_headers_and_its_request_id(
    app: FastAPI,
) -> None:
    """A 500 is answered outside the middleware (Starlette's outermost layer): the error
    handler sets the same headers, and the body quotes the answer's request id."""

    def boom() -> None:
        raise RuntimeError("a detail the user must not see")

    app.add_api_route("/api/v1/test-unexpected", boom)
    app.add_api_route("/test-unexpected", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = client.get("/api/v1/test-unexpected", headers={"Accept-Language": "en"})
        page = client.get("/test-unexpected", headers={"Accept-Language": "en"})
    for response in (api, page):
        assert response.status_code == 500
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-language"] == "en"
        assert response.headers["x-request-id"] in response.text
        assert "must not see" not in response.text
    assert api.json()["code"] == "internal_error"
