"""Plan hygiene: an enterprise put into one month twice, by one plan or by several agencies.

Rules `plan.duplicate` (one plan puts an enterprise into the same month twice or more) and
`plan.merge_candidate` (the plans of different agencies put it into the same month): both
propose the merge (合并进行或者调整) before the month starts. Pure: the caller gathers the
entries (from the database, from a file being imported, or both)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from webapp.enums import FlagKind, PlanKind, Severity
from webapp.rules.core import Finding


@dataclass(frozen=True)
class PlannedEntry:
    """One plan entry as the rule sees it. `entry_id` for an entry in the database, `line`
    for a row of a file not yet applied (one of the two is set)."""

    agency_id: int
    agency_name: str
    plan_kind: PlanKind
    enterprise_id: int
    enterprise_name: str
    month: str  # "YYYY-MM"
    entry_id: int | None = None
    line: int | None = None


PlanSlot = tuple[int, str]  # (enterprise id, month "YYYY-MM")


def slot(entry: PlannedEntry) -> PlanSlot:
    """What both rules group entries by (and more): the enterprise and the month."""
    return entry.enterprise_id, entry.month


def shared_slots(slots: Iterable[PlanSlot]) -> set[PlanSlot]:
    """The (enterprise, month) pairs given more than once.

    `plan_duplicates` finds nothing in an entry whose pair no other entry shares (each of its
    rules needs two entries of one enterprise and month), and each finding depends on the
    entries of its own pair only: a caller may leave the other entries out (or never build
    them) and gets the same findings, in the same order (see `narrowed`)."""
    return {key for key, count in Counter(slots).items() if count > 1}


def narrowed(entries: Sequence[PlannedEntry]) -> list[PlannedEntry]:
    """The entries `plan_duplicates` can find anything in, in their order:
    `plan_duplicates(narrowed(entries)) == plan_duplicates(entries)`."""
    shared = shared_slots(slot(e) for e in entries)
    return [e for e in entries if slot(e) in shared]


def _refs(entries: Sequence[PlannedEntry]) -> dict[str, object]:
    lines = sorted(e.line for e in entries if e.line is not None)
    ids = sorted(e.entry_id for e in entries if e.entry_id is not None)
    return {
        "lines": ", ".join(str(n) for n in lines),
        "entries": ", ".join(f"#{i}" for i in ids),
        "entry_ids": ids,
        "line_numbers": lines,
    }


def plan_duplicates(entries: Sequence[PlannedEntry]) -> list[Finding]:
    """One finding per (agency, plan kind, enterprise, month) planned twice or more
    (`plan.duplicate`), and one per (enterprise, month) planned by two or more agencies
    (`plan.merge_candidate`, offered as a joint visit).

    An agency's annual and monthly plans naming the same enterprise for the same month are
    not a duplicate: the monthly plan refines the annual one."""
    by_plan: dict[tuple[int, PlanKind, int, str], list[PlannedEntry]] = {}
    by_month: dict[tuple[int, str], list[PlannedEntry]] = {}
    for entry in entries:
        key = (entry.agency_id, entry.plan_kind, entry.enterprise_id, entry.month)
        by_plan.setdefault(key, []).append(entry)
        by_month.setdefault((entry.enterprise_id, entry.month), []).append(entry)

    findings: list[tuple[tuple[str, str, int, str], Finding]] = []
    for (agency_id, kind, enterprise_id, month), group in by_plan.items():
        if len(group) < 2:
            continue
        first = group[0]
        refs = _refs(group)
        findings.append(
            (
                (month, first.enterprise_name, 0, first.agency_name),
                Finding(
                    rule="plan.duplicate",
                    kind=FlagKind.plan_duplicate,
                    severity=Severity.warning,
                    message=(
                        "The plan of %(agency)s puts %(enterprise)s into %(month)s "
                        "%(count)s times (rows %(lines)s of the file): merge them into one "
                        "entry with all their items, or move one to another month."
                        if refs["lines"]
                        else "The plan of %(agency)s puts %(enterprise)s into %(month)s "
                        "%(count)s times (entries %(entries)s): merge them into one entry "
                        "with all their items, or move one to another month."
                    ),
                    params={
                        "agency": first.agency_name,
                        "agency_id": agency_id,
                        "plan_kind": kind.value,
                        "enterprise": first.enterprise_name,
                        "enterprise_id": enterprise_id,
                        "month": month,
                        "count": len(group),
                        **refs,
                    },
                ),
            )
        )
    for (enterprise_id, month), group in by_month.items():
        agencies = dict.fromkeys(e.agency_id for e in group)
        if len(agencies) < 2:
            continue
        names = sorted({e.agency_name for e in group})
        first = group[0]
        findings.append(
            (
                (month, first.enterprise_name, 1, ""),
                Finding(
                    rule="plan.merge_candidate",
                    kind=FlagKind.merge_candidate,
                    severity=Severity.warning,
                    message="%(enterprise)s is planned for %(month)s by %(count)s agencies "
                    "(%(agencies)s): merge into one joint visit, or reschedule.",
                    params={
                        "enterprise": first.enterprise_name,
                        "enterprise_id": enterprise_id,
                        "month": month,
                        "count": len(agencies),
                        "agencies": ", ".join(names),
                        "agency_ids": sorted(agencies),
                        **_refs(group),
                    },
                ),
            )
        )
    findings.sort(key=lambda pair: pair[0])
    return [finding for _, finding in findings]
