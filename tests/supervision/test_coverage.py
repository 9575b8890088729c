"""Plan coverage per unit and month: planned, done, merged, missed (open while the month
lasts), extra visits approved and not; each figure lists exactly its records."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, api_token, login
from tests.supervision.report_helpers import LATER, MONTH, Month, build_month
from webapp.clock import FixedClock
from webapp.errors import DomainError
from webapp.supervision import reports
from webapp.supervision.reports import CoverageFigures, Scope


@pytest.fixture
def month(db: Session, world: World, now: datetime) -> Month:
    return build_month(db, world, now)


def _by_name(coverage: reports.PlanCoverage) -> dict[str, CoverageFigures]:
    return {row.unit.name: row.figures for row in coverage.rows}


def test_figures_once_the_month_is_over(db: Session, world: World, month: Month) -> None:
    coverage = reports.plan_coverage(db, actor=world.supervisor, month=MONTH, now=LATER)
    assert coverage.closed
    assert coverage.columns == (
        "planned",
        "done",
        "merged",
        "missed",
        "extra_approved",
        "extra_not_approved",
    )
    assert _by_name(coverage) == {
        # A (done: its planned visit), B (merged: Alice went along on the town's visit),
        # D (missed: only the other county went), E (missed: registered, never confirmed).
        # Extras: complaint and campaign approved; pending and rejected not; the cancelled
        # one and the December one not counted.
        "Example County Bureau": CoverageFigures(
            planned=4, done=1, merged=1, missed=2, extra_approved=2, extra_not_approved=2
        ),
        "Example Town Office": CoverageFigures(planned=1, done=1),
    }
    assert coverage.total == CoverageFigures(
        planned=5, done=2, merged=1, missed=2, extra_approved=2, extra_not_approved=2
    )


def test_while_the_month_lasts_nothing_is_missed_yet(
    db: Session, world: World, month: Month, now: datetime
) -> None:
    coverage = reports.plan_coverage(db, actor=world.supervisor, month=MONTH, now=now)
    assert not coverage.closed
    assert "open" in coverage.columns
    assert "missed" not in coverage.columns
    county = _by_name(coverage)["Example County Bureau"]
    assert (county.missed, county.open) == (0, 2)


def test_october_is_its_own_month(db: Session, world: World, month: Month) -> None:
    """The visit at 31 October 23:30 local (15:30 UTC) did October's entry; the December
    extra (1 December 00:00 local) is December's."""
    october = reports.plan_coverage(db, actor=world.supervisor, month="2026-10", now=LATER)
    assert october.total == CoverageFigures(planned=1, done=1)
    december = reports.plan_coverage(db, actor=world.supervisor, month="2026-12", now=LATER)
    assert december.total == CoverageFigures(extra_approved=1)


def test_records_behind_each_figure(db: Session, world: World, month: Month) -> None:
    def entries(show: str, unit: int | None, scope: Scope) -> list[tuple[int, str]]:
        records = reports.plan_coverage(
            db,
            actor=world.supervisor,
            month=MONTH,
            now=LATER,
            show=show,
            unit_id=unit,
            scope=scope,
        ).records
        assert records is not None
        return [(r.entry.id, r.coverage.value) for r in records.entries]

    c = world.county.id
    assert entries("done", c, Scope.own) == [(world.entry_a.id, "done")]
    assert entries("merged", c, Scope.own) == [(world.entry_b.id, "merged")]
    assert entries("missed", c, Scope.own) == [
        (month.entry_d.id, "missed"),
        (month.entry_e.id, "missed"),
    ]
    assert entries("open", c, Scope.own) == []  # the month is over
    assert sorted(entries("planned", None, Scope.all)) == sorted(
        [
            (world.entry_a.id, "done"),
            (world.entry_b.id, "merged"),
            (month.entry_d.id, "missed"),
            (month.entry_e.id, "missed"),
            (month.town_entry.id, "done"),
        ]
    )
    merged = reports.plan_coverage(
        db, actor=world.supervisor, month=MONTH, now=LATER, show="merged", scope=Scope.all
    ).records
    assert merged is not None
    assert [v.id for v in merged.entries[0].visits] == [month.joint.id]
    extras = reports.plan_coverage(
        db,
        actor=world.supervisor,
        month=MONTH,
        now=LATER,
        show="extra_not_approved",
        unit_id=c,
        scope=Scope.own,
    ).records
    assert extras is not None
    assert [v.id for v in extras.visits] == [month.pending.id, month.rejected.id]
    with pytest.raises(DomainError) as refused:
        reports.plan_coverage(db, actor=world.supervisor, month=MONTH, now=LATER, show="gossip")
    assert refused.value.code == "validation_error"


def test_another_countys_visit_does_not_merge_our_entry(
    db: Session, world: World, month: Month
) -> None:
    """Delta Paper was visited in November, but only by the other county (which has plan
    entries of its own): our entry D stays missed."""
    missed = reports.plan_coverage(
        db,
        actor=world.supervisor,
        month=MONTH,
        now=LATER,
        show="missed",
        unit_id=world.county.id,
        scope=Scope.own,
    ).records
    assert missed is not None
    assert month.entry_d.id in [r.entry.id for r in missed.entries]
    other = reports.plan_coverage(db, actor=world.supervisor_other, month=MONTH, now=LATER)
    assert other.total == CoverageFigures(planned=1, missed=1, extra_approved=1)


def test_scope(db: Session, world: World, month: Month) -> None:
    town = reports.plan_coverage(db, actor=month.town_supervisor, month=MONTH, now=LATER)
    assert [(r.unit.name, r.unit.scope) for r in town.rows] == [("Example Town Office", Scope.own)]
    assert town.total == CoverageFigures(planned=1, done=1)
    with pytest.raises(DomainError) as refused:
        reports.plan_coverage(
            db,
            actor=month.town_supervisor,
            month=MONTH,
            now=LATER,
            show="planned",
            unit_id=world.county.id,
            scope=Scope.own,
        )
    assert refused.value.code == "not_found"


# --- the page ------------------------------------------------------------------------------------

_FIGURE = re.compile(r'<a href="(/supervision/plan\?[^"]+)" data-figure="(\w+)">(\d+)</a>')


def test_each_figure_on_the_page_lists_exactly_its_records(
    client: TestClient, clock: FixedClock, world: World, month: Month
) -> None:
    clock.at = LATER
    login(client, "supervisor1")
    html = client.get(f"/supervision/plan?month={MONTH}").text
    assert "The month is over" in html
    links = _FIGURE.findall(html)
    assert {name for _h, name, _n in links} == {
        "planned",
        "done",
        "merged",
        "missed",
        "extra_approved",
        "extra_not_approved",
    }
    for href, name, shown in links:
        page = client.get(href.replace("&amp;", "&"))
        assert page.status_code == 200, href
        section = page.text[page.text.index('id="records"') :]
        rows = re.findall(r'<tr id="(?:entry|visit)-[^"]+"', section)
        assert len(rows) == int(shown), (name, href)
        if name in ("done", "merged", "missed"):
            assert set(re.findall(r'data-coverage="(\w+)"', section)) == {name}
    missed = client.get(
        f"/supervision/plan?month={MONTH}&unit={world.county.id}&scope=own&show=missed"
    ).text
    assert f'id="entry-{month.entry_d.id}" data-coverage="missed"' in missed
    assert f'href="/supervision/visits/{month.unconfirmed_e.public_id}"' in missed
    assert 'rel="prev" href="/supervision/plan?month=2026-10' in html


def test_the_page_while_the_month_lasts(client: TestClient, world: World, month: Month) -> None:
    login(client, "supervisor1")
    html = client.get("/supervision/plan").text  # this month, 16 November
    assert "The month is not over" in html
    assert 'data-figure="open"' in html
    assert 'data-figure="missed"' not in html
    assert client.get("/supervision/plan?show=nonsense").status_code == 422
    assert client.get("/supervision/plan?unit=x&show=done").status_code == 422


# --- the JSON API --------------------------------------------------------------------------------


def test_api_coverage(client: TestClient, clock: FixedClock, world: World, month: Month) -> None:
    clock.at = LATER
    headers = api_token(client, "supervisor1")
    response = client.get(f"/api/v1/supervision/coverage?month={MONTH}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["month"] == MONTH
    assert body["closed"] is True
    assert body["agency"]["id"] == world.county.id
    assert body["rows"][0] == {
        "unit": {
            "agency_id": world.county.id,
            "agency_code": world.county.code,
            "agency_name": "Example County Bureau",
            "scope": "own",
        },
        "figures": {
            "planned": 4,
            "done": 1,
            "merged": 1,
            "missed": 2,
            "open": 0,
            "extra_approved": 2,
            "extra_not_approved": 2,
        },
    }
    assert body["total"]["planned"] == 5
    bad = client.get("/api/v1/supervision/coverage?month=11-2026", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "validation_error"
