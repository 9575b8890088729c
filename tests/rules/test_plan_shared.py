"""The plan-hygiene shortcut: only entries whose (enterprise, month) another entry shares can
be in a finding, so the rule's findings over those alone are its findings over all."""

from __future__ import annotations

import random

from webapp.enums import PlanKind
from webapp.rules.plan import PlannedEntry, narrowed, plan_duplicates, shared_slots, slot


def _entries(rng: random.Random, n: int) -> list[PlannedEntry]:
    entries = []
    for i in range(n):
        agency = rng.randint(1, 3)
        enterprise = rng.randint(1, 12)
        from_file = rng.random() < 0.5
        entries.append(
            PlannedEntry(
                agency_id=agency,
                agency_name=f"Agency {agency}",
                plan_kind=rng.choice([PlanKind.monthly, PlanKind.annual]),
                enterprise_id=enterprise,
                enterprise_name=f"Enterprise {enterprise}",
                month=rng.choice(["2026-11", "2026-12"]),
                entry_id=None if from_file else 100 + i,
                line=i + 2 if from_file else None,
            )
        )
    return entries


def test_the_findings_over_the_shared_entries_are_the_findings_over_all() -> None:
    rng = random.Random(12)
    dropped = found = 0
    for _ in range(500):
        entries = _entries(rng, rng.randint(0, 14))
        kept = narrowed(entries)
        assert plan_duplicates(kept) == plan_duplicates(entries)
        dropped += len(entries) - len(kept)
        found += len(plan_duplicates(entries))
    assert dropped > 200  # the shortcut does leave entries out
    assert found > 200  # and the cases have findings to keep


def test_shared_slots_are_the_pairs_given_twice_or_more_and_narrowed_keeps_the_order() -> None:
    assert shared_slots([(1, "2026-12"), (2, "2026-12"), (1, "2026-12"), (1, "2026-11")]) == {
        (1, "2026-12")
    }
    rng = random.Random(3)
    entries = _entries(rng, 30)
    kept = narrowed(entries)
    shared = shared_slots(map(slot, entries))
    assert kept == [e for e in entries if slot(e) in shared]
    assert all(sum(slot(o) == slot(e) for o in entries) > 1 for e in kept)
    assert all(sum(slot(o) == slot(e) for o in entries) == 1 for e in entries if e not in kept)


def test_an_entry_alone_in_its_month_is_left_out() -> None:
    one, other = _entries(random.Random(5), 1) * 2
    alone = PlannedEntry(
        agency_id=9,
        agency_name="Agency 9",
        plan_kind=PlanKind.monthly,
        enterprise_id=99,
        enterprise_name="Enterprise 99",
        month="2026-12",
        entry_id=1,
    )
    assert narrowed([one, alone, other]) == [one, other]
    assert narrowed([alone]) == []
