"""The installable app over HTTP: the manifest, the service worker at the root scope, the
offline page, the offline-pass data on the card (team only), and sign-out clearing caches."""

from __future__ import annotations

import base64
import html as html_lib
import re
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, login
from tests.visits.helpers import planned
from webapp.config import get_settings
from webapp.visits import service
from webapp.visits.models import Visit

STATIC = Path(__file__).resolve().parents[2] / "static"


@pytest.fixture
def visit(db: Session, world: World, now: datetime) -> Visit:
    return service.register_visit(
        db, actor=world.inspector1, data=planned(world, now), now=now, settings=get_settings()
    )


def test_manifest_makes_an_installable_app(client: TestClient) -> None:
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    body = response.json()
    assert body["name"]
    assert body["short_name"]
    assert body["display"] == "standalone"
    assert body["start_url"] == "/"
    assert body["scope"] == "/"
    assert body["theme_color"]
    sizes = {icon["sizes"]: icon for icon in body["icons"]}
    for size in ("192x192", "512x512"):
        assert "maskable" in sizes[size]["purpose"]
        assert client.get(sizes[size]["src"]).status_code == 200


def test_service_worker_is_served_at_the_root_scope_and_never_cached(client: TestClient) -> None:
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["service-worker-allowed"] == "/"
    assert response.headers["cache-control"] == "no-cache"
    assert 'addEventListener("fetch"' in response.text


def test_every_shell_file_the_worker_precaches_exists(client: TestClient) -> None:
    # One missing file makes cache.addAll fail and the worker never installs.
    source = (STATIC / "sw.js").read_text()
    listed = re.search(r"SHELL_FILES = \[(.*?)\];", source, re.S)
    assert listed is not None
    urls = [*re.findall(r'"(/[^"]*)"', listed.group(1)), "/offline"]
    assert "/static/vendor/qrcode-generator-2.0.4.js" in urls
    for url in urls:
        assert client.get(url).status_code == 200, url


def test_the_worker_never_stores_api_scan_or_post(client: TestClient) -> None:
    source = (STATIC / "sw.js").read_text()
    assert 'request.method !== "GET"' in source
    assert 'path.indexOf("/api/") === 0' in source
    assert 'path === "/scan"' in source


def test_offline_page_says_offline_and_carries_no_user(client: TestClient, world: World) -> None:
    client.headers["Accept-Language"] = "en"
    login(client, "inspector1")
    page = client.get("/offline")
    assert page.status_code == 200
    assert "You are offline" in page.text
    # It is stored on the phone: nobody's name, no CSRF token, no sign-out button.
    assert "Alice Li" not in page.text
    assert "Sign out" not in page.text
    assert 'name="csrf_token" value=""' in page.text


def _offline_attrs(text: str) -> dict[str, str]:
    section = re.search(r'<section id="pass"[^>]*>', text, re.S)
    assert section is not None
    return {
        k: html_lib.unescape(v) for k, v in re.findall(r'(data-[a-z-]+)="([^"]*)"', section.group())
    }


def test_card_gives_the_team_what_it_needs_to_rotate_the_pass_offline(
    client: TestClient, visit: Visit
) -> None:
    client.headers["Accept-Language"] = "en"
    login(client, "inspector1")
    text = client.get(f"/visits/{visit.public_id}").text
    attrs = _offline_attrs(text)
    settings = get_settings()
    secret = base64.urlsafe_b64decode(attrs["data-secret"] + "=" * (-len(attrs["data-secret"]) % 4))
    assert secret == visit.pass_secret
    assert attrs["data-sub"] == visit.public_id
    assert attrs["data-ent"] == str(visit.enterprise_id)
    assert attrs["data-prefix"] == visit.code_prefix
    assert attrs["data-step-seconds"] == str(settings.pass_step_seconds)
    assert attrs["data-accepted-steps"] == str(settings.pass_accepted_steps)
    assert attrs["data-scan-url"] == f"{settings.base_url.rstrip('/')}/scan?p="
    assert attrs["data-valid-until"] == "Valid until __TIME__"
    assert 'data-template="Offline · since __TIME__"' in text
    # The htmx poll of the pass carries the same data.
    fragment = client.get(f"/visits/{visit.public_id}/pass", headers={"HX-Request": "true"})
    assert _offline_attrs(fragment.text)["data-secret"] == attrs["data-secret"]


@pytest.mark.parametrize("username", ["supervisor1", "inspector9", "manager1"])
def test_the_pass_secret_never_reaches_anyone_else(
    client: TestClient, visit: Visit, username: str
) -> None:
    login(client, username)
    response = client.get(f"/visits/{visit.public_id}")
    secret = base64.urlsafe_b64encode(visit.pass_secret).decode().rstrip("=")
    assert secret not in response.text
    assert "data-offline-pass" not in response.text


def test_no_secret_once_the_visit_is_cancelled(
    client: TestClient, db: Session, world: World, visit: Visit, now: datetime
) -> None:
    service.cancel_visit(
        db, actor=world.inspector1, public_id=visit.public_id, reason="Rescheduled", now=now
    )
    login(client, "inspector1")
    text = client.get(f"/visits/{visit.public_id}").text
    assert "data-offline-pass" not in text


def test_sign_out_tells_the_browser_to_clear_caches_and_storage(
    client: TestClient, world: World
) -> None:
    csrf = login(client, "inspector1")
    response = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["clear-site-data"] == '"cache", "storage"'


def test_only_the_sign_in_page_asks_the_phone_to_forget_cards(
    client: TestClient, world: World
) -> None:
    assert "data-signed-out" in client.get("/login").text
    assert "data-signed-out" not in client.get("/offline").text
    login(client, "inspector1")
    assert "data-signed-out" not in client.get("/visits").text
