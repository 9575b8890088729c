from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.supervision.summary_guard import _report_summary_matches_records  # noqa: F401
from webapp.config import Settings


@pytest.fixture
def en(client: TestClient) -> TestClient:
    """The test client reading pages in English (the msgids), whatever gets translated."""
    client.headers["Accept-Language"] = "en"
    return client


@pytest.fixture
def settings(client: TestClient) -> Settings:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return settings
