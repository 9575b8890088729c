"""An autouse check (imported by the conftests of tests/supervision and tests/findings): at
the end of each test that used the database, the report's summary tables equal a rebuild
from the records, so a write path that misses them fails the test that takes it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from webapp.supervision import summary


@pytest.fixture(autouse=True)
def _report_summary_matches_records(request: pytest.FixtureRequest) -> Iterator[None]:
    if "db" not in request.fixturenames:
        yield
        return
    db: Session = request.getfixturevalue("db")  # set up first: torn down after this check
    yield
    db.rollback()  # what the test committed, not what it left pending
    found = summary.differences(db)
    db.rollback()
    assert found == [], f"the report summary missed a write: {found[:5]}"
