"""The plan-hygiene warnings a checked plan file shows are the rule's findings over the
database's entries of those months (minus those the file replaces) and the file's rows,
those that involve a row of the file (the preview narrows the entries to the pairs that
are shared: the same findings), by column and row by row."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.factories import World, make_enterprise, make_plan_entry
from tests.imports.helpers import check_rows
from tests.imports.test_column_paths import _both_ways
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportKind, ImportStatus, PlanKind
from webapp.imports import hygiene, service
from webapp.rules.plan import PlannedEntry, plan_duplicates

HEADER: list[object] = ["统一社会信用代码", "企业名称", "检查月份", "检查事项编码", "备注"]
MONTH = "2026-11"  # the world's county plans Alpha and Beta this month


def _reference(
    db: Session, world: World, file_rows: list[tuple[Enterprise, int]]
) -> list[list[Any]]:
    """Every finding of the rule over all the month's entries (not narrowed) with the
    file's, kept when it names a line of the file, as the payload stores them."""
    file_keys = {(ent.id, MONTH) for ent, _ in file_rows}
    facts = [
        f
        for f in hygiene.entry_facts(db, months={MONTH})
        if not (
            f.agency_id == world.county.id
            and f.plan_kind == PlanKind.monthly
            and (f.enterprise_id, f.month) in file_keys
        )
    ]
    facts += [
        PlannedEntry(
            agency_id=world.county.id,
            agency_name=world.county.name,
            plan_kind=PlanKind.monthly,
            enterprise_id=ent.id,
            enterprise_name=ent.name,
            month=MONTH,
            line=line,
        )
        for ent, line in file_rows
    ]
    found = [[f.message, f.params] for f in plan_duplicates(facts) if f.params["line_numbers"]]
    loaded: list[list[Any]] = json.loads(json.dumps(found))
    return loaded


@pytest.mark.parametrize("by_column", [True, False])
def test_the_warnings_are_the_rules_findings_that_involve_the_file(
    db: Session,
    world: World,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
    by_column: bool,
) -> None:
    item = world.items[:1]
    lone = [make_enterprise(db, agency=world.county, now=now) for _ in range(4)]
    other = world.other_county
    # The other county plans Alpha (which the file re-plans for the county: a merge
    # candidate), lone[0] twice (a duplicate the file has no part in: not shown), lone[1]
    # once and lone[2] twice (each also in the file).
    for ent in (world.ent_a, lone[0], lone[0], lone[1], lone[2], lone[2]):
        make_plan_entry(db, agency=other, enterprise=ent, items=item, month=MONTH, now=now)
    db.commit()
    listed = [world.ent_a, world.ent_b, lone[1], lone[2], lone[3]]
    if not by_column:
        listed.append(lone[3])  # a pair twice in the file: checked row by row
    rows: list[list[object]] = [HEADER]
    rows += [[ent.uscc, "", MONTH, f"AQ-00{1 + i // 5}", ""] for i, ent in enumerate(listed)]
    # As the import checks it (by column when it can), then row by row: the same warnings.
    batch, row_by_row, took_columns = _both_ways(
        db, world, rows, now, monkeypatch, ImportKind.monthly_plan, "p.csv"
    )
    assert took_columns == by_column
    assert batch.status == ImportStatus.validated, service.report(db, batch).errors
    stored = service.load_payload(batch.payload)["warnings"]
    assert service.load_payload(row_by_row.payload)["warnings"] == stored
    expected = _reference(db, world, [(ent, line) for line, ent in enumerate(listed, start=2)])
    assert stored == expected
    # Alpha, lone[1] and lone[2] with the other county; lone[2] twice there (each with a
    # line of the file); lone[3] twice in the file when listed twice.
    assert len(stored) == (3 if by_column else 4)
    assert all(params["line_numbers"] for _, params in stored)


def test_a_pair_the_file_repeats_is_warned_with_nothing_in_the_database(
    db: Session, world: World, now: datetime
) -> None:
    ent = make_enterprise(db, agency=world.county, now=now)
    db.commit()
    rows: list[list[object]] = [
        HEADER,
        [ent.uscc, "", MONTH, "AQ-001", "安全科"],
        [ent.uscc, "", MONTH, "AQ-002", "危化科"],
    ]
    batch = check_rows(db, world, rows, now, kind=ImportKind.monthly_plan, filename="p.csv")
    assert batch.status == ImportStatus.validated
    [(_, params)] = service.report(db, batch).warnings
    assert (params["lines"], params["count"]) == ("2, 3", 2)
