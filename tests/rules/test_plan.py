"""Rules `plan.duplicate` and `plan.merge_candidate`: an enterprise put into one month twice
by one plan, or by the plans of several agencies; both propose the merge."""

from __future__ import annotations

from webapp.enums import FlagKind, PlanKind, Severity
from webapp.rules.plan import PlannedEntry, plan_duplicates

MONTHLY, ANNUAL = PlanKind.monthly, PlanKind.annual


def _entry(
    agency: int,
    enterprise: int,
    month: str = "2026-12",
    *,
    kind: PlanKind = MONTHLY,
    entry_id: int | None = None,
    line: int | None = None,
) -> PlannedEntry:
    return PlannedEntry(
        agency_id=agency,
        agency_name=f"Agency {agency}",
        plan_kind=kind,
        enterprise_id=enterprise,
        enterprise_name=f"Enterprise {enterprise}",
        month=month,
        entry_id=entry_id,
        line=line,
    )


def test_one_plan_putting_an_enterprise_twice_into_a_month_is_a_duplicate() -> None:
    [finding] = plan_duplicates(
        [_entry(1, 7, entry_id=11), _entry(1, 8, entry_id=12), _entry(1, 7, entry_id=13)]
    )
    assert (finding.rule, finding.kind, finding.severity) == (
        "plan.duplicate",
        FlagKind.plan_duplicate,
        Severity.warning,
    )
    assert "merge them into one entry" in finding.message
    assert "entries %(entries)s" in finding.message
    params = finding.params
    assert (params["agency_id"], params["enterprise_id"], params["month"], params["count"]) == (
        1,
        7,
        "2026-12",
        2,
    )
    assert (params["entries"], params["entry_ids"], params["lines"]) == ("#11, #13", [11, 13], "")
    assert finding.message % params  # every placeholder has its parameter


def test_rows_of_a_file_are_named_by_their_lines() -> None:
    [finding] = plan_duplicates([_entry(1, 7, line=4), _entry(1, 7, line=9)])
    assert "rows %(lines)s of the file" in finding.message
    assert finding.params["lines"] == "4, 9"
    assert finding.message % finding.params


def test_several_agencies_planning_one_enterprise_in_one_month_are_a_merge_candidate() -> None:
    [finding] = plan_duplicates(
        [
            _entry(2, 7, entry_id=21),
            _entry(1, 7, entry_id=11),
            _entry(3, 7, kind=ANNUAL, entry_id=31),
        ]
    )
    assert (finding.rule, finding.kind, finding.severity) == (
        "plan.merge_candidate",
        FlagKind.merge_candidate,
        Severity.warning,
    )
    assert "joint visit" in finding.message
    assert finding.params["agency_ids"] == [1, 2, 3]
    assert finding.params["agencies"] == "Agency 1, Agency 2, Agency 3"
    assert finding.params["count"] == 3
    assert finding.message % finding.params


def test_both_at_once_give_both_findings() -> None:
    findings = plan_duplicates([_entry(1, 7), _entry(1, 7), _entry(2, 7)])
    assert [f.rule for f in findings] == ["plan.duplicate", "plan.merge_candidate"]


def test_what_must_not_trigger() -> None:
    assert plan_duplicates([]) == []
    # Different months, different enterprises.
    assert plan_duplicates([_entry(1, 7, "2026-11"), _entry(1, 7, "2026-12"), _entry(1, 8)]) == []
    # The monthly plan refining the annual plan of the same agency.
    assert plan_duplicates([_entry(1, 7, kind=ANNUAL), _entry(1, 7, kind=MONTHLY)]) == []
    # Another agency in another month.
    assert plan_duplicates([_entry(1, 7, "2026-11"), _entry(2, 7, "2026-12")]) == []


def test_findings_come_in_a_stable_order() -> None:
    entries = [
        _entry(1, 9, "2026-12"),
        _entry(1, 9, "2026-12"),
        _entry(1, 3, "2026-11"),
        _entry(2, 3, "2026-11"),
    ]
    assert [(f.params["month"], f.rule) for f in plan_duplicates(entries)] == [
        ("2026-11", "plan.merge_candidate"),
        ("2026-12", "plan.duplicate"),
    ]
    reversed_order = plan_duplicates(entries[::-1])
    assert [(f.params["month"], f.rule) for f in reversed_order] == [
        ("2026-11", "plan.merge_candidate"),
        ("2026-12", "plan.duplicate"),
    ]
