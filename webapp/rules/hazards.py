"""Rules on what inspections found: the rectification deadline a hazard must carry, a major
hazard (重大事故隐患) left unrectified past its deadline, and rectification on time.

Pure: dates are passed in (the local date of "now" is the caller's business)."""

from __future__ import annotations

from datetime import date, timedelta

from webapp.enums import FindingOutcome, FlagKind, Severity
from webapp.rules.core import Finding

# A rectification deadline later than this after the visit is a typo, not a plan.
MAX_DEADLINE_DAYS = 365
HAZARD_OUTCOMES = frozenset({FindingOutcome.hazard, FindingOutcome.major_hazard})


def needs_deadline(outcome: FindingOutcome) -> bool:
    """Hazards, general and major, are ordered rectified by a date; a compliant item is not."""
    return outcome in HAZARD_OUTCOMES


def deadline_problem(
    outcome: FindingOutcome, rectify_by: date | None, visit_day: date
) -> str | None:
    """Rule `hazard.deadline`: the refusal code for a hazard's rectification deadline, or
    None when it is acceptable. The deadline falls after the visit's (local) day and at most
    MAX_DEADLINE_DAYS after it; a compliant item needs none."""
    if not needs_deadline(outcome):
        return None
    if rectify_by is None:
        return "deadline_required"
    if rectify_by <= visit_day:
        return "deadline_too_early"
    if rectify_by > visit_day + timedelta(days=MAX_DEADLINE_DAYS):
        return "deadline_too_late"
    return None


def rectified_on_time(rectify_by: date | None, rectified_on: date | None) -> bool:
    """Rectified on time: found rectified on or before the deadline."""
    return rectify_by is not None and rectified_on is not None and rectified_on <= rectify_by


def days_overdue(rectify_by: date | None, rectified_on: date | None, today: date) -> int:
    """Days past the deadline until rectified (or until today, while still open); 0 if
    none. The deadline day itself is still on time."""
    if rectify_by is None:
        return 0
    end = rectified_on if rectified_on is not None else today
    return max(0, (end - rectify_by).days)


def major_hazard_overdue(
    rectify_by: date | None, rectified_on: date | None, today: date, *, item_code: str = ""
) -> Finding | None:
    """Rule `hazard.major_overdue`: a major hazard whose deadline has passed without a
    re-check finding it rectified by then (`rectified_on`: the day a re-check found it
    rectified, None while it is not). A rectification found late is still overdue."""
    if rectify_by is None or today <= rectify_by:
        return None
    if rectified_on_time(rectify_by, rectified_on):
        return None
    late = rectified_on is not None
    return Finding(
        rule="hazard.major_overdue",
        kind=FlagKind.major_hazard_overdue,
        severity=Severity.serious,
        message=(
            "Major hazard (item %(item)s) rectified only %(days)s day(s) after its deadline "
            "%(deadline)s."
            if late
            else "Major hazard (item %(item)s) not rectified by its deadline %(deadline)s: "
            "%(days)s day(s) overdue."
        ),
        params={
            "item": item_code or "-",
            "deadline": rectify_by.isoformat(),
            "days": days_overdue(rectify_by, rectified_on, today),
        },
    )
