"""Pages in English for these tests (the messages are asserted as their English msgids)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.factories import World, login

AdminPost = Callable[..., httpx.Response]


@pytest.fixture(autouse=True)
def _english(request: pytest.FixtureRequest) -> None:
    if "client" in request.fixturenames:
        request.getfixturevalue("client").headers["Accept-Language"] = "en"


@pytest.fixture
def admin_post(client: TestClient, world: World) -> AdminPost:
    """Signs `client` in as the administrator; then `admin_post(url, data, files=...)` posts
    a form with the session's CSRF token and does not follow the redirect."""
    token = login(client, "admin")

    def post(url: str, data: Mapping[str, object] | None = None, **kw: Any) -> httpx.Response:
        response: httpx.Response = client.post(
            url, data={**(data or {}), "csrf_token": token}, follow_redirects=False, **kw
        )
        return response

    return post
