"""The rules over an enterprise's other visits (webapp/rules/history.py): merge candidate,
over cap (with the case-driven exemption and the supervisory cap), item frequency. Each
with the cases that trigger it and the cases that must not."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from webapp.enums import FlagKind, Severity, VisitStatus
from webapp.rules import history
from webapp.rules.core import ItemFact

_ids = itertools.count(1)
COUNTY, TOWN, CITY, OTHER = 10, 11, 1, 20
NAMES = {COUNTY: "County", TOWN: "Town", CITY: "City", OTHER: "Other County"}


def visit(
    *,
    agency: int = COUNTY,
    inspectors: tuple[int, ...] = (1, 2),
    month: str = "2026-11",
    day: str | None = None,
    status: VisitStatus = VisitStatus.confirmed,
    case_driven: bool = False,
    supervisory: bool = False,
    items: tuple[int, ...] = (),
    joined: tuple[int, ...] = (),
    joinable: bool = False,
    new: bool = False,
) -> history.VisitFact:
    n = next(_ids)
    return history.VisitFact(
        visit_id=None if new else n,
        public_id="" if new else f"v{n}",
        agency_id=agency,
        agency_name=NAMES[agency],
        lead_name=f"Lead {n}",
        day=day or f"{month}-18",
        month=month,
        status=status,
        case_driven=case_driven,
        supervisory=supervisory,
        inspector_ids=frozenset(inspectors),
        agency_ids=frozenset({agency, *joined}),
        item_ids=frozenset(items),
        joinable=joinable,
    )


def entry(agency: int, month: str = "2026-11") -> history.EntryFact:
    return history.EntryFact(
        entry_id=next(_ids), agency_id=agency, agency_name=NAMES[agency], month=month
    )


# --- merge.candidate --------------------------------------------------------------------------


def test_another_agency_in_the_same_month_is_a_merge_candidate() -> None:
    mine = visit(new=True, status=VisitStatus.registered)
    theirs = visit(agency=OTHER, inspectors=(7, 8), status=VisitStatus.registered, joinable=True)
    finding = history.merge_candidate(mine, [theirs])
    assert finding is not None
    assert (finding.rule, finding.kind, finding.severity) == (
        "merge.candidate",
        FlagKind.merge_candidate,
        Severity.warning,
    )
    assert finding.params["visits"] == f"Other County (2026-11-18, {theirs.lead_name})"
    assert finding.params["planned"] == ""
    [offer] = finding.params["others"]
    assert offer == {
        "public_id": theirs.public_id,
        "agency": "Other County",
        "day": "2026-11-18",
        "lead": theirs.lead_name,
        "joinable": True,
    }
    assert "also visited by" in finding.message
    assert finding.message % finding.params  # every placeholder has its parameter


def test_another_team_of_the_same_agency_is_a_merge_candidate() -> None:
    mine = visit(new=True, inspectors=(1, 2))
    colleagues = visit(inspectors=(3, 4))
    assert history.merge_candidate(mine, [colleagues]) is not None


def test_another_agencys_plan_entry_is_a_merge_candidate() -> None:
    mine = visit(new=True)
    finding = history.merge_candidate(mine, [], [entry(OTHER), entry(OTHER)])
    assert finding is not None
    assert finding.params["planned"] == "Other County"  # named once
    assert finding.params["others"] == []
    assert "in the plan of" in finding.message


def test_visits_and_plan_entries_together() -> None:
    finding = history.merge_candidate(
        visit(new=True), [visit(agency=TOWN, inspectors=(5,))], [entry(OTHER)]
    )
    assert finding is not None
    assert finding.params["planned"] == "Other County"
    assert "Town" in finding.params["visits"]
    assert finding.message % finding.params


@pytest.mark.parametrize(
    ("others", "entries"),
    [
        ([], []),  # alone this month
        ([visit(agency=OTHER, inspectors=(7,), month="2026-10")], []),  # another month
        ([visit(agency=OTHER, inspectors=(7,), status=VisitStatus.cancelled)], []),
        ([visit(agency=OTHER, inspectors=(7,), case_driven=True)], []),  # a complaint visit
        ([visit(inspectors=(2, 3))], []),  # the same team (shares an inspector): day two
        ([], [entry(OTHER, month="2026-12")]),  # planned by the other agency next month
        ([], [entry(COUNTY)]),  # our own agency's entry: plan hygiene, not a merge
        # The other agency already joined a visit this month (its plan entry is served).
        ([visit(inspectors=(1, 2, 7), joined=(OTHER,))], [entry(OTHER)]),
    ],
)
def test_not_a_merge_candidate(
    others: list[history.VisitFact], entries: list[history.EntryFact]
) -> None:
    assert history.merge_candidate(visit(new=True), others, entries) is None


def test_a_case_driven_visit_is_never_a_merge_candidate() -> None:
    mine = visit(new=True, case_driven=True)
    assert (
        history.merge_candidate(mine, [visit(agency=OTHER, inspectors=(7,))], [entry(OTHER)])
        is None
    )


def test_the_visit_itself_is_not_its_own_candidate() -> None:
    stored = visit()
    assert history.merge_candidate(stored, [stored]) is None
    other = visit(agency=OTHER, inspectors=(9,))
    assert history.merge_candidate(stored, [stored, other]) is not None


# --- caps.over_cap ----------------------------------------------------------------------------


def test_over_the_cap_of_its_class_and_grade() -> None:
    others = [visit(month=f"2026-0{m}") for m in (1, 2, 3, 4)]
    finding = history.over_cap(visit(new=True), others, cap=4, supervisory_cap=3)
    assert finding is not None
    assert (finding.rule, finding.kind, finding.severity) == (
        "caps.over_cap",
        FlagKind.over_cap,
        Severity.warning,
    )
    assert finding.params == {"count": 5, "cap": 4, "case_driven": 0}
    assert finding.message % finding.params


def test_up_to_the_cap_is_fine() -> None:
    others = [visit(month=f"2026-0{m}") for m in (1, 2, 3)]
    assert history.over_cap(visit(new=True), others, cap=4, supervisory_cap=3) is None


def test_case_driven_visits_are_exempt_but_counted_and_shown() -> None:
    others = [visit(), visit(), visit(case_driven=True), visit(case_driven=True)]
    # Three ordinary visits with this one: within a cap of 3; the complaints do not count.
    assert history.over_cap(visit(new=True), others, cap=3, supervisory_cap=3) is None
    finding = history.over_cap(visit(new=True), [*others, visit()], cap=3, supervisory_cap=3)
    assert finding is not None
    assert finding.params == {"count": 4, "cap": 3, "case_driven": 2}
    # A case-driven visit itself never exceeds the cap.
    many = [visit() for _ in range(10)]
    assert (
        history.over_cap(visit(new=True, case_driven=True), many, cap=3, supervisory_cap=3) is None
    )
    summary = history.visits_this_year(visit(new=True), others, cap=3, supervisory_cap=3)
    assert summary.severity == Severity.info
    assert summary.params == {
        "count": 3,
        "cap": 3,
        "supervisory": 0,
        "supervisory_cap": 3,
        "case_driven": 2,
    }
    assert summary.message % summary.params


def test_cancelled_visits_do_not_count() -> None:
    others = [visit(status=VisitStatus.cancelled) for _ in range(5)]
    assert history.over_cap(visit(new=True), others, cap=1, supervisory_cap=3) is None


def test_supervisory_visits_count_against_the_supervisory_cap_only() -> None:
    ordinary = [visit() for _ in range(4)]
    supervisory = [visit(agency=CITY, supervisory=True, inspectors=(30,)) for _ in range(3)]
    # The county is at its cap (4): a fourth city visit is over the supervisory cap (3) ...
    city = visit(new=True, agency=CITY, supervisory=True)
    finding = history.over_cap(city, [*ordinary, *supervisory], cap=4, supervisory_cap=3)
    assert finding is not None
    assert finding.params["count"] == 4
    assert "supervisory" in finding.message
    # ... the third is not, whatever the ordinary count.
    assert history.over_cap(city, [*ordinary, *supervisory[:2]], cap=4, supervisory_cap=3) is None
    # And supervisory visits do not use up the ordinary cap.
    assert (
        history.over_cap(visit(new=True), [*ordinary[:3], *supervisory], cap=4, supervisory_cap=3)
        is None
    )


def test_no_cap_known_for_the_class_and_grade() -> None:
    assert (
        history.over_cap(visit(new=True), [visit() for _ in range(20)], cap=None, supervisory_cap=3)
        is None
    )


def test_a_joint_visit_counts_once() -> None:
    joint = visit(inspectors=(1, 2, 7, 8), joined=(OTHER,))
    # One joint visit plus this one: 2 visits, within a cap of 2.
    assert history.over_cap(visit(new=True), [joint], cap=2, supervisory_cap=3) is None


def test_the_visit_itself_is_counted_once() -> None:
    stored = visit()
    assert history.over_cap(stored, [stored], cap=1, supervisory_cap=3) is None
    assert history.over_cap(stored, [stored, visit()], cap=1, supervisory_cap=3) is not None


# --- items.frequency --------------------------------------------------------------------------


def item(item_id: int, max_per_year: int | None, code: str = "") -> ItemFact:
    return ItemFact(item_id=item_id, code=code or f"AQ-{item_id:03d}", max_per_year=max_per_year)


def test_an_item_checked_more_often_than_allowed() -> None:
    mine = replace(visit(new=True), item_ids=frozenset({1, 2}))
    others = [visit(items=(1,)), visit(items=(1, 2))]
    finding = history.item_frequency(mine, [item(1, 2), item(2, 2)], others)
    assert finding is not None
    assert (finding.rule, finding.kind, finding.severity) == (
        "items.frequency",
        FlagKind.item_frequency,
        Severity.warning,
    )
    assert finding.params == {"items": "AQ-001 (3/2)"}  # item 2: twice, allowed
    assert finding.message % finding.params


@pytest.mark.parametrize(
    "others",
    [
        [visit(items=(1,))],  # twice with this one: allowed
        [visit(items=(1,)), visit(items=(1,), status=VisitStatus.cancelled)],
        [visit(items=(1,)), visit(items=(1,), case_driven=True)],  # a complaint visit
        [visit(items=(2,)), visit(items=(2,)), visit(items=(2,))],  # another item
    ],
)
def test_item_frequency_not_exceeded(others: list[history.VisitFact]) -> None:
    assert history.item_frequency(visit(new=True), [item(1, 2)], others) is None


def test_items_without_a_maximum_and_case_driven_visits_are_not_flagged() -> None:
    many = [visit(items=(1,)) for _ in range(10)]
    assert history.item_frequency(visit(new=True), [item(1, None)], many) is None
    assert history.item_frequency(visit(new=True, case_driven=True), [item(1, 1)], many) is None
