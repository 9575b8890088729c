"""Rule `hazard.major_overdue` and its helpers: which major hazards are overdue, and which
rectifications were on time."""

from __future__ import annotations

from datetime import date, timedelta

from webapp.enums import FlagKind, Severity
from webapp.rules.hazards import days_overdue, major_hazard_overdue, rectified_on_time

DUE = date(2026, 12, 1)


def test_overdue_the_day_after_the_deadline() -> None:
    finding = major_hazard_overdue(DUE, None, DUE + timedelta(days=1), item_code="AQ-001")
    assert finding is not None
    assert finding.rule == "hazard.major_overdue"
    assert finding.kind == FlagKind.major_hazard_overdue
    assert finding.severity == Severity.serious
    assert finding.params == {"item": "AQ-001", "deadline": "2026-12-01", "days": 1}
    assert "not rectified by its deadline" in finding.message
    later = major_hazard_overdue(DUE, None, DUE + timedelta(days=40))
    assert later is not None
    assert later.params["days"] == 40
    assert later.params["item"] == "-"


def test_not_overdue_before_or_on_the_deadline() -> None:
    assert major_hazard_overdue(DUE, None, DUE - timedelta(days=3)) is None
    assert major_hazard_overdue(DUE, None, DUE) is None
    assert major_hazard_overdue(None, None, DUE + timedelta(days=99)) is None


def test_rectified_on_time_is_never_overdue() -> None:
    assert major_hazard_overdue(DUE, DUE, DUE + timedelta(days=30)) is None
    assert major_hazard_overdue(DUE, DUE - timedelta(days=4), DUE + timedelta(days=30)) is None


def test_rectified_late_is_still_overdue_by_the_days_it_was_late() -> None:
    finding = major_hazard_overdue(DUE, DUE + timedelta(days=3), DUE + timedelta(days=30))
    assert finding is not None
    assert finding.params["days"] == 3
    assert "rectified only" in finding.message


def test_on_time_and_days_overdue() -> None:
    assert rectified_on_time(DUE, DUE)
    assert not rectified_on_time(DUE, DUE + timedelta(days=1))
    assert not rectified_on_time(DUE, None)
    assert not rectified_on_time(None, DUE)
    assert days_overdue(DUE, None, DUE) == 0
    assert days_overdue(DUE, None, DUE + timedelta(days=5)) == 5
    assert days_overdue(DUE, DUE + timedelta(days=2), DUE + timedelta(days=9)) == 2
    assert days_overdue(DUE, DUE - timedelta(days=2), DUE + timedelta(days=9)) == 0
    assert days_overdue(None, None, DUE) == 0
