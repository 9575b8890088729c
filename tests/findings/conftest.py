"""Pages in English for these tests (the messages are asserted as their English msgids)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _english(request: pytest.FixtureRequest) -> None:
    if "client" in request.fixturenames:
        request.getfixturevalue("client").headers["Accept-Language"] = "en"
