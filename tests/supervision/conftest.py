"""Pages in English for these tests (the messages are asserted as their English msgids)."""

from __future__ import annotations

import pytest

from tests.supervision.summary_guard import _report_summary_matches_records  # noqa: F401


@pytest.fixture(autouse=True)
def _english(request: pytest.FixtureRequest) -> None:
    if "client" in request.fixturenames:
        request.getfixturevalue("client").headers["Accept-Language"] = "en"
