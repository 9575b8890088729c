"""A fuzz run of the JSON API from its own OpenAPI schema (schemathesis): whatever arrives,
the answer is never a server error. Signed in as each role in turn, so the generated requests
reach the services and not only the authentication check."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.factories import World, api_token

ROLES = ("inspector1", "manager_a", "supervisor", "admin")
EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def tokens(client: TestClient, world: World) -> list[dict[str, str]]:
    return [api_token(client, getattr(world, role).username) for role in ROLES]


def test_no_server_error_for_any_generated_request(
    app: FastAPI, world: World, tokens: list[dict[str, str]]
) -> None:
    app_schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    operations = []
    for result in app_schema.get_all_operations():
        assert isinstance(result, Ok), result  # an operation the schema cannot describe
        operations.append(result.ok())
    assert len(operations) >= 20  # the whole API, not an empty schema
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            # A stable spread of roles over the generated cases.
            key = f"{case.path_parameters} {case.query} {case.body}"
            headers = dict(tokens[zlib.crc32(key.encode()) % len(tokens)])
            case.call_and_validate(
                headers=headers, base_url="https://testserver", checks=[not_a_server_error]
            )

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
