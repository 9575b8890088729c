"""The in-app scanner's page: for the signed-in safety manager, scripts external, the code
entry always on the page, and the way to it from the manager's pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.checkin.helpers import sign_in
from tests.factories import World


def test_the_manager_gets_the_scanner_with_the_code_entry_beside_it(
    client: TestClient, world: World
) -> None:
    sign_in(client, "manager1")
    page = client.get("/scan/camera")
    assert page.status_code == 200
    html = page.text
    assert 'src="/static/vendor/jsQR-1.4.0.js?v=' in html
    assert 'src="/static/scanner.js?v=' in html
    assert re.search(r"<script>(?!</script>)", html) is None  # no inline script (CSP)
    assert 'style="' not in html
    assert 'data-scan-path="/scan"' in html
    assert 'data-base-url="' in html
    # Typing the code is always offered, whatever the camera does.
    assert '<form method="get" action="/scan"' in html
    assert 'name="c"' in html
    # Each way the camera can fail has its way on, in the page's language.
    for key in ("denied", "no-camera", "unsupported", "failed", "not-pass"):
        assert f'data-msg-{key}="' in html


def test_the_scanner_is_reached_from_the_managers_pages(client: TestClient, world: World) -> None:
    sign_in(client, "manager1")
    assert 'href="/scan/camera"' in client.get("/enterprise").text
    assert 'href="/scan/camera"' in client.get("/scan/enter").text


def test_only_a_safety_manager_opens_the_scanner(client: TestClient, world: World) -> None:
    assert client.get("/scan/camera", follow_redirects=False).status_code in (303, 401)
    sign_in(client, "inspector1")
    assert client.get("/scan/camera", follow_redirects=False).status_code == 403
    # Nor is it offered to anyone but a manager on the code page.
    assert 'href="/scan/camera"' not in client.get("/scan/enter").text
