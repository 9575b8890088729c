"""Visits against the plan: the month's visits with filters, and plan coverage."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, login, make_enterprise, make_flag, make_plan_entry, make_visit
from tests.supervision.helpers import planned_visit
from webapp.visits.models import Visit


def _visits(db: Session, world: World, now: datetime) -> dict[str, Visit]:
    common = {"inspectors": [world.alice, world.bob], "registered_by": world.inspector1}
    town_ent = make_enterprise(db, agency=world.town, name="Town Brewery", now=now)
    far_ent = make_enterprise(db, agency=world.other_county, name="Far Mill", now=now)
    visits = {
        "planned_a": make_visit(
            db,
            agency=world.county,
            enterprise=world.ent_a,
            items=world.items[:2],
            plan_entry=world.entry_a,
            status="confirmed",
            now=now,
            **common,  # type: ignore[arg-type]
        ),
        "extra_b": make_visit(
            db,
            agency=world.county,
            enterprise=world.ent_b,
            items=world.items[2:],
            extra_reason="recheck",
            extra_reason_text="Re-check of the dust extraction order",
            now=now,
            window_start=now + timedelta(days=1),
            **common,  # type: ignore[arg-type]
        ),
        "town": make_visit(
            db,
            agency=world.town,
            enterprise=town_ent,
            items=world.items[:1],
            extra_reason="referral",
            now=now,
            window_start=now + timedelta(days=2),
            **common,  # type: ignore[arg-type]
        ),
        "last_month": make_visit(
            db,
            agency=world.county,
            enterprise=world.ent_b,
            items=world.items[:1],
            extra_reason="complaint",
            now=now,
            window_start=now - timedelta(days=20),
            **common,  # type: ignore[arg-type]
        ),
        "far": make_visit(
            db,
            agency=world.other_county,
            enterprise=far_ent,
            items=world.items[:1],
            extra_reason="complaint",
            now=now,
            inspectors=[world.dave_other],
            registered_by=world.inspector_other,
        ),
    }
    make_flag(db, kind="extra_unapproved", agency=world.county, visit=visits["extra_b"], now=now)
    make_flag(db, kind="short_notice", agency=world.county, visit=visits["extra_b"], now=now)
    db.commit()
    return visits


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr id="visit-([\w-]+)">', html)


def test_visits_page_defaults_to_this_month_in_scope(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    v = _visits(db, world, now)
    login(client, "supervisor1")
    html = client.get("/supervision/visits").text
    assert "Visits in 2026-11" in html
    # latest window first; the other county's and last month's are not here
    assert _rows(html) == [v[k].public_id for k in ("town", "extra_b", "planned_a")]
    assert "Re-check of ordered rectification" in html
    assert "Re-check of the dust extraction order" in html
    assert f"Plan entry {world.month}" in html
    assert '<span class="badge serious">2</span>' in html  # flags of extra_b


def test_visits_page_filters(client: TestClient, db: Session, world: World, now: datetime) -> None:
    v = _visits(db, world, now)
    login(client, "supervisor1")
    assert _rows(client.get("/supervision/visits?kind=planned").text) == [v["planned_a"].public_id]
    assert _rows(client.get("/supervision/visits?kind=extra").text) == [
        v["town"].public_id,
        v["extra_b"].public_id,
    ]
    assert _rows(client.get("/supervision/visits?status=confirmed").text) == [
        v["planned_a"].public_id
    ]
    assert _rows(client.get(f"/supervision/visits?agency={world.town.id}").text) == [
        v["town"].public_id
    ]
    assert _rows(client.get("/supervision/visits?month=2026-10").text) == [
        v["last_month"].public_id
    ]
    response = client.get("/supervision/visits?month=November")
    assert response.status_code == 422
    assert "Give the month as YYYY-MM" in response.text


def test_plan_coverage_shows_done_and_missing(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    v = _visits(db, world, now)
    town_ent = make_enterprise(db, agency=world.town, name="Town Dairy", now=now)
    town_entry = make_plan_entry(
        db,
        agency=world.town,
        enterprise=town_ent,
        items=world.items[:1],
        month=world.month,
        now=now,
    )
    registered = planned_visit(
        db, world, now, enterprise=world.ent_b, items=world.items[2:], plan_entry=world.entry_b
    )
    login(client, "supervisor1")
    # The figures per unit; the list of every plan entry behind "planned" (the month lasts:
    # an entry not done yet is open). Details: tests/supervision/test_coverage.py.
    html = client.get("/supervision/plan?show=planned&scope=all").text
    coverage = dict(re.findall(r'<tr id="entry-(\d+)" data-coverage="(\w+)">', html))
    assert coverage == {
        str(world.entry_a.id): "done",
        str(world.entry_b.id): "open",
        str(town_entry.id): "open",
    }
    assert f'href="/supervision/visits/{v["planned_a"].public_id}"' in html
    assert f'href="/supervision/visits/{registered.public_id}"' in html
    assert re.search(r'data-figure="done">1<', html)
    assert re.search(r'data-figure="open">2<', html)
    # the other county's supervisor has no plan entries this month
    client.cookies.clear()
    login(client, "supervisor9")
    html = client.get("/supervision/plan?show=planned&scope=all").text
    assert "data-coverage" not in html
    assert "No records." in html
    # another month
    client.cookies.clear()
    login(client, "supervisor1")
    assert "data-coverage" not in client.get("/supervision/plan?month=2027-01").text


def test_a_joint_visit_is_listed_for_the_agency_that_joined(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    """The other county's inspector on a county visit: the other county's supervisor sees it."""
    visit = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob, world.dave_other],
        items=world.items[:2],
        registered_by=world.inspector1,
        now=now,
        plan_entry=world.entry_a,
    )
    alone = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_b,
        inspectors=[world.alice, world.bob],
        items=world.items[:1],
        registered_by=world.inspector1,
        now=now,
        plan_entry=world.entry_b,
    )
    db.commit()
    login(client, "supervisor9")
    rows = _rows(client.get("/supervision/visits").text)
    assert visit.public_id in rows
    assert alone.public_id not in rows
