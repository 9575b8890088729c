"""Rules over an enterprise's other visits: merge candidates (several teams in one month),
the yearly cap of its class and grade, and an item's maximum frequency.

Pure: the caller passes the visit being checked and the enterprise's other visits (and
other agencies' plan entries) already narrowed to the enterprise and to the calendar year
(Asia/Shanghai) of the visit; months and days come precomputed in local time.

A joint visit is one visit (one row, whatever the number of agencies on it): it counts once
for the enterprise, in the cap of the agency that registered it.

Case-driven visits (webapp.enums.CASE_DRIVEN_REASONS: a complaint, a referral, an accident,
...) cannot wait for, or be folded into, a planned visit: they are never merge candidates,
never count against the cap or an item's frequency, and are never flagged by those rules;
they are counted and shown beside the cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from webapp.enums import FlagKind, Severity, VisitStatus
from webapp.rules.core import Finding, ItemFact


@dataclass(frozen=True)
class VisitFact:
    """A visit as these rules see it: the one being checked, or another at the enterprise."""

    visit_id: int | None  # None: a registration not written yet
    public_id: str
    agency_id: int
    agency_name: str
    lead_name: str
    day: str  # local date of the window start, "YYYY-MM-DD"
    month: str  # local month of the window start, "YYYY-MM"
    status: VisitStatus
    case_driven: bool
    # Registered by an agency above the enterprise's own (督导): counts against the
    # supervisory cap instead of the cap of the enterprise's class and grade.
    supervisory: bool
    inspector_ids: frozenset[int]
    agency_ids: frozenset[int]  # every agency taking part (more than one: a joint visit)
    item_ids: frozenset[int] = frozenset()
    # Still registered with its window ahead: another agency may join it.
    joinable: bool = False


@dataclass(frozen=True)
class EntryFact:
    """Another agency's plan entry for the enterprise."""

    entry_id: int
    agency_id: int
    agency_name: str
    month: str


def _counted(visit: VisitFact, others: Sequence[VisitFact]) -> list[VisitFact]:
    return [
        o
        for o in others
        if o.status != VisitStatus.cancelled
        and (visit.visit_id is None or o.visit_id != visit.visit_id)
    ]


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


_MERGE_MESSAGES = {
    "both": "Merge candidate: in %(month)s this enterprise is also visited by %(visits)s, and "
    "in the plan of %(planned)s. Make it one joint visit, or reschedule.",
    "visits": "Merge candidate: in %(month)s this enterprise is also visited by %(visits)s. "
    "Make it one joint visit, or reschedule.",
    "planned": "Merge candidate: in %(month)s this enterprise is also in the plan of "
    "%(planned)s. Make it one joint visit, or reschedule.",
}


def merge_candidate(
    visit: VisitFact, others: Sequence[VisitFact], entries: Sequence[EntryFact] = ()
) -> Finding | None:
    """Rule `merge.candidate`: the enterprise is visited (or planned by another agency) in
    the same month by a different team. A visit sharing an inspector with this one is the
    same team (the next day of a two-day inspection), not a candidate. Another agency's
    plan entry counts unless that agency already takes part in a visit this month (it
    joined one, or registered its own: that visit is listed instead)."""
    if visit.case_driven:
        return None
    month = [o for o in _counted(visit, others) if o.month == visit.month and not o.case_driven]
    repeated = [o for o in month if not (o.inspector_ids & visit.inspector_ids)]
    served = set(visit.agency_ids).union(*(o.agency_ids for o in month))
    planned = _unique(
        [e.agency_name for e in entries if e.month == visit.month and e.agency_id not in served]
    )
    if not repeated and not planned:
        return None
    visits_text = "; ".join(f"{o.agency_name} ({o.day}, {o.lead_name})" for o in repeated)
    planned_text = ", ".join(planned)
    params: dict[str, Any] = {
        "month": visit.month,
        "visits": visits_text,
        "planned": planned_text,
        "others": [
            {
                "public_id": o.public_id,
                "agency": o.agency_name,
                "day": o.day,
                "lead": o.lead_name,
                "joinable": o.joinable,
            }
            for o in repeated
        ],
    }
    shape = "both" if repeated and planned else "visits" if repeated else "planned"
    return Finding(
        rule="merge.candidate",
        kind=FlagKind.merge_candidate,
        severity=Severity.warning,
        message=_MERGE_MESSAGES[shape],
        params=params,
    )


@dataclass(frozen=True)
class YearCount:
    """The enterprise's visits in the year, this one included (in its own category)."""

    ordinary: int  # against the cap of its class and grade
    supervisory: int  # by offices above its own agency, against the supervisory cap
    case_driven: int  # exempt, counted and shown


def year_count(visit: VisitFact, others: Sequence[VisitFact]) -> YearCount:
    counted = [*_counted(visit, others), visit]
    return YearCount(
        ordinary=sum(1 for o in counted if not o.case_driven and not o.supervisory),
        supervisory=sum(1 for o in counted if not o.case_driven and o.supervisory),
        case_driven=sum(1 for o in counted if o.case_driven),
    )


def over_cap(
    visit: VisitFact,
    others: Sequence[VisitFact],
    *,
    cap: int | None,
    supervisory_cap: int | None,
) -> Finding | None:
    """Rule `caps.over_cap`: the visit takes the enterprise beyond its yearly cap (the cap
    of its class and grade; for a visit by a higher office, the supervisory cap). No cap
    known for the class and grade: nothing to exceed."""
    if visit.case_driven:
        return None
    count = year_count(visit, others)
    limit = supervisory_cap if visit.supervisory else cap
    n = count.supervisory if visit.supervisory else count.ordinary
    if limit is None or n <= limit:
        return None
    params = {"count": n, "cap": limit, "case_driven": count.case_driven}
    return Finding(
        rule="caps.over_cap",
        kind=FlagKind.over_cap,
        severity=Severity.warning,
        message=(
            "Over the yearly cap on supervisory visits by higher offices: %(count)s this year "
            "with this one, %(cap)s allowed (plus %(case_driven)s case-driven, exempt)."
            if visit.supervisory
            else "Over the yearly cap: %(count)s visits this year with this one, %(cap)s allowed "
            "for the enterprise's class and grade (plus %(case_driven)s case-driven, exempt)."
        ),
        params=params,
    )


def visits_this_year(
    visit: VisitFact,
    others: Sequence[VisitFact],
    *,
    cap: int | None,
    supervisory_cap: int | None,
) -> Finding:
    """Rule `caps.count` (information, never a flag): where the enterprise stands against
    its caps this year, this visit included, with the exempt case-driven visits shown."""
    count = year_count(visit, others)
    return Finding(
        rule="caps.count",
        kind=FlagKind.over_cap,
        severity=Severity.info,
        message="This year at this enterprise, this visit included: %(count)s of %(cap)s "
        "visits allowed, %(supervisory)s of %(supervisory_cap)s by higher offices, plus "
        "%(case_driven)s case-driven (exempt).",
        params={
            "count": count.ordinary,
            "cap": cap if cap is not None else "-",
            "supervisory": count.supervisory,
            "supervisory_cap": supervisory_cap if supervisory_cap is not None else "-",
            "case_driven": count.case_driven,
        },
    )


def item_frequency(
    visit: VisitFact, items: Sequence[ItemFact], others: Sequence[VisitFact]
) -> Finding | None:
    """Rule `items.frequency`: an item with a maximum frequency in the item list is checked
    at the enterprise more often this year (this visit included)."""
    if visit.case_driven:
        return None
    counted = [o for o in _counted(visit, others) if not o.case_driven]
    over: list[str] = []
    for item in items:
        if item.max_per_year is None:
            continue
        n = 1 + sum(1 for o in counted if item.item_id in o.item_ids)
        if n > item.max_per_year:
            over.append(f"{item.code} ({n}/{item.max_per_year})")
    if not over:
        return None
    return Finding(
        rule="items.frequency",
        kind=FlagKind.item_frequency,
        severity=Severity.warning,
        message="Checked more often this year than the item list allows (times this year "
        "with this visit / maximum): %(items)s.",
        params={"items": ", ".join(over)},
    )
