"""The rules over the enterprise's other visits, and the credential field and timing rules,
as warnings at registration: through the service (check_registration), the form's htmx
check, and the API's registration response. Each with the case that triggers it and the
case that must not."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import (
    World,
    api_token,
    login,
    make_agency,
    make_inspector,
    make_plan_entry,
    make_user,
    make_visit,
)
from tests.visits.helpers import api_body, extra, form_body, planned, written
from webapp.agencies.models import Agency, Credential
from webapp.enums import AgencyLevel, ExtraReason, FlagKind, Role
from webapp.visits import service
from webapp.visits.models import Visit

HTMX = {"HX-Request": "true"}


def _rules(check: service.RegistrationCheck) -> list[str]:
    return [f.rule for f in check.findings]


def _finding(check: service.RegistrationCheck, rule: str) -> dict[str, Any]:
    [found] = [f for f in check.findings if f.rule == rule]
    return found.params


def _other_agency_visit(
    db: Session, world: World, now: datetime, *, planned: bool = True, **kw: Any
) -> Visit:
    """Other County Bureau's visit at Alpha Chemicals tomorrow (Dave leads): for its plan
    entry, or else an extra visit of a special campaign (not case-driven)."""
    second = make_inspector(db, agency=world.other_county, name="Erin Zhou", now=now)
    entry = None
    if planned:
        entry = make_plan_entry(
            db,
            agency=world.other_county,
            enterprise=world.ent_a,
            items=[world.items[3]],
            month=world.month,
            now=now,
        )
    else:
        kw.setdefault("extra_reason", "special_campaign")
    visit = make_visit(
        db,
        agency=world.other_county,
        enterprise=world.ent_a,
        inspectors=[world.dave_other, second],
        items=[world.items[3]],
        registered_by=world.inspector_other,
        plan_entry=entry,
        now=now,
        window_start=now + timedelta(days=1),
        **kw,
    )
    db.commit()
    return visit


def _confirmed(db: Session, world: World, now: datetime, *, days_ago: int, **kw: object) -> None:
    """A confirmed visit of the county earlier this year (planned unless `extra_reason`)."""
    kw.setdefault("enterprise", world.ent_b)
    kw.setdefault("inspectors", [world.alice, world.bob])
    kw.setdefault("items", [world.items[2]])
    if "extra_reason" not in kw:
        kw.setdefault("plan_entry", world.entry_b)
    make_visit(
        db,
        agency=world.county,
        registered_by=world.inspector1,
        now=now,
        status="confirmed",
        window_start=now - timedelta(days=days_ago),
        **kw,  # type: ignore[arg-type]
    )
    db.commit()


# --- merge.candidate --------------------------------------------------------------------------


def test_another_agencys_visit_this_month_is_a_merge_candidate_offered_as_a_joint_visit(
    db: Session, world: World, now: datetime
) -> None:
    theirs = _other_agency_visit(db, world, now)
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now), now=now
    )
    assert check.errors == []
    assert "merge.candidate" in _rules(check)
    params = _finding(check, "merge.candidate")
    [offer] = params["others"]
    assert offer == {
        "public_id": theirs.public_id,
        "agency": "Other County Bureau",
        "day": (now + timedelta(days=1)).date().isoformat(),
        "lead": "Dave Chen",
        "joinable": True,
    }


def test_an_other_agencys_confirmed_or_passed_visit_is_listed_but_not_joinable(
    db: Session, world: World, now: datetime
) -> None:
    _other_agency_visit(db, world, now, status="confirmed")
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now), now=now
    )
    [offer] = _finding(check, "merge.candidate")["others"]
    assert offer["joinable"] is False


def test_another_agencys_plan_entry_this_month_is_a_merge_candidate(
    db: Session, world: World, now: datetime
) -> None:
    make_plan_entry(
        db,
        agency=world.other_county,
        enterprise=world.ent_a,
        items=world.items[:1],
        month=world.month,
        now=now,
    )
    db.commit()
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now), now=now
    )
    params = _finding(check, "merge.candidate")
    assert params["planned"] == "Other County Bureau"
    assert params["others"] == []


@pytest.mark.parametrize(
    "when", [timedelta(days=40), timedelta(days=-40)], ids=["next-month", "last-month"]
)
def test_another_month_is_not_a_merge_candidate(
    db: Session, world: World, now: datetime, when: timedelta
) -> None:
    second = make_inspector(db, agency=world.other_county, now=now)
    make_visit(
        db,
        agency=world.other_county,
        enterprise=world.ent_a,
        inspectors=[world.dave_other, second],
        items=world.items[:1],
        registered_by=world.inspector_other,
        now=now,
        window_start=now + when,
    )
    db.commit()
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now), now=now
    )
    assert "merge.candidate" not in _rules(check)


def test_a_cancelled_visit_is_not_a_merge_candidate(
    db: Session, world: World, now: datetime
) -> None:
    _other_agency_visit(db, world, now, planned=False, status="cancelled")
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now), now=now
    )
    assert "merge.candidate" not in _rules(check)


def test_a_case_driven_extra_visit_is_never_a_merge_candidate(
    db: Session, world: World, now: datetime
) -> None:
    _other_agency_visit(db, world, now)
    complaint = extra(world, now)  # a complaint: case-driven
    check = service.check_registration(db, actor=world.inspector1, data=complaint, now=now)
    assert "merge.candidate" not in _rules(check)
    campaign = extra(world, now, extra_reason=ExtraReason.special_campaign)
    check = service.check_registration(db, actor=world.inspector1, data=campaign, now=now)
    assert "merge.candidate" in _rules(check)


def test_the_same_team_on_another_day_is_not_a_merge_candidate(
    db: Session, world: World, now: datetime
) -> None:
    _confirmed(
        db,
        world,
        now,
        days_ago=1,
        enterprise=world.ent_a,
        plan_entry=world.entry_a,
        items=world.items[:1],
    )
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now), now=now
    )
    assert "merge.candidate" not in _rules(check)
    # Another team of the same agency (Bob and Carol) is; Alice shares nobody with it.
    make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.bob, world.carol_expired],
        items=world.items[:1],
        registered_by=world.inspector2,
        plan_entry=world.entry_a,
        now=now,
        window_start=now + timedelta(days=2),
    )
    db.commit()
    alone = planned(world, now, co_inspector_ids=[])  # (too few: a refusal besides)
    other_team = service.check_registration(db, actor=world.inspector1, data=alone, now=now)
    assert "merge.candidate" in _rules(other_team)


# --- caps.over_cap ----------------------------------------------------------------------------


def test_over_the_yearly_cap_warns_with_the_case_driven_count(
    db: Session, world: World, now: datetime
) -> None:
    # Beta Machinery: class "other", grade 2 -> 2 visits a year (the migration's defaults).
    _confirmed(db, world, now, days_ago=100)
    data = planned(world, now, enterprise_id=world.ent_b.id, plan_entry_id=world.entry_b.id)
    within = service.check_registration(db, actor=world.inspector1, data=data, now=now)
    assert "caps.over_cap" not in _rules(within)
    [note] = within.notes
    assert note.params == {
        "count": 2,
        "cap": 2,
        "supervisory": 0,
        "supervisory_cap": 3,
        "case_driven": 0,
    }

    _confirmed(db, world, now, days_ago=50, extra_reason="complaint", approval="approved")
    _confirmed(db, world, now, days_ago=30)
    over = service.check_registration(db, actor=world.inspector1, data=data, now=now)
    assert _finding(over, "caps.over_cap") == {"count": 3, "cap": 2, "case_driven": 1}
    # A case-driven visit is exempt.
    complaint = extra(world, now, enterprise_id=world.ent_b.id)
    exempt = service.check_registration(db, actor=world.inspector1, data=complaint, now=now)
    assert "caps.over_cap" not in _rules(exempt)


def test_registered_visits_count_at_registration_and_last_years_do_not(
    db: Session, world: World, now: datetime
) -> None:
    data = planned(world, now, enterprise_id=world.ent_b.id, plan_entry_id=world.entry_b.id)
    _confirmed(db, world, now, days_ago=400)  # last year
    _confirmed(db, world, now, days_ago=360)  # last year too (2025-11-21)
    assert "caps.over_cap" not in _rules(
        service.check_registration(db, actor=world.inspector1, data=data, now=now)
    )
    for days in (3, 5):
        make_visit(
            db,
            agency=world.county,
            enterprise=world.ent_b,
            inspectors=[world.bob, world.carol_expired],
            items=[world.items[2]],
            registered_by=world.inspector2,
            plan_entry=world.entry_b,
            now=now,
            window_start=now + timedelta(days=days),
        )
    db.commit()
    check = service.check_registration(db, actor=world.inspector1, data=data, now=now)
    assert _finding(check, "caps.over_cap")["count"] == 3


def test_a_higher_office_counts_against_the_supervisory_cap(
    db: Session, world: World, now: datetime
) -> None:
    city = make_agency(db, name="Example City Bureau", level=AgencyLevel.city, now=now)
    county = db.get(Agency, world.county.id)
    assert county is not None
    county.parent_id = city.id
    city_a = make_inspector(db, agency=city, name="Gao Fei", now=now)
    city_b = make_inspector(db, agency=city, name="Hu Jun", now=now)
    city_user = make_user(db, role=Role.inspector, inspector=city_a, now=now)
    for days in (200, 100, 10):
        make_visit(
            db,
            agency=city,
            enterprise=world.ent_b,
            inspectors=[city_a, city_b],
            items=[world.items[2]],
            registered_by=city_user,
            extra_reason="special_campaign",
            approval="approved",
            status="confirmed",
            now=now,
            window_start=now - timedelta(days=days),
        )
    db.commit()
    campaign = extra(
        world,
        now,
        enterprise_id=world.ent_b.id,
        extra_reason=ExtraReason.special_campaign,
        co_inspector_ids=[city_b.id],
    )
    check = service.check_registration(db, actor=city_user, data=campaign, now=now)
    params = _finding(check, "caps.over_cap")
    assert params == {"count": 4, "cap": 3, "case_driven": 0}
    assert "supervisory" in next(f.message for f in check.findings if f.rule == "caps.over_cap")
    # The county's own visit is under its own cap: the city's visits do not use it up.
    county_check = service.check_registration(
        db,
        actor=world.inspector1,
        data=planned(world, now, enterprise_id=world.ent_b.id, plan_entry_id=world.entry_b.id),
        now=now,
    )
    assert "caps.over_cap" not in _rules(county_check)
    assert county_check.notes[0].params["supervisory"] == 3


# --- items.frequency --------------------------------------------------------------------------


def test_an_item_checked_more_often_than_the_list_allows(
    db: Session, world: World, now: datetime
) -> None:
    world.items[0].max_per_year = 1
    db.commit()
    data = planned(world, now)  # Alpha's entry: items 0 and 1
    assert "items.frequency" not in _rules(
        service.check_registration(db, actor=world.inspector1, data=data, now=now)
    )
    _confirmed(
        db,
        world,
        now,
        days_ago=60,
        enterprise=world.ent_a,
        plan_entry=world.entry_a,
        items=world.items[:1],
    )
    check = service.check_registration(db, actor=world.inspector1, data=data, now=now)
    assert _finding(check, "items.frequency") == {"items": "AQ-001 (2/1)"}
    # Without that item, nothing to say.
    other_items = planned(world, now, item_ids=[world.items[1].id])
    assert "items.frequency" not in _rules(
        service.check_registration(db, actor=world.inspector1, data=other_items, now=now)
    )


# --- credentials.field ------------------------------------------------------------------------


def test_a_credential_not_covering_an_items_field_warns(
    db: Session, world: World, now: datetime
) -> None:
    world.items[0].field = "hazchem"
    bob_credential = db.query(Credential).filter_by(inspector_id=world.bob.id).one()
    bob_credential.fields = "mining"
    db.commit()
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now), now=now
    )
    assert _finding(check, "credentials.field") == {"problems": "Bob Wang: AQ-001 (hazchem)"}
    bob_credential.fields = "mining hazchem"
    db.commit()
    check = service.check_registration(
        db, actor=world.inspector1, data=planned(world, now), now=now
    )
    assert "credentials.field" not in _rules(check)


# --- timing.short_notice ----------------------------------------------------------------------


def test_a_window_starting_within_minutes_warns_of_short_notice(
    db: Session, world: World, now: datetime
) -> None:
    soon = planned(world, now, window_start=now + timedelta(minutes=10))
    check = service.check_registration(db, actor=world.inspector1, data=soon, now=now)
    assert "timing.short_notice" in _rules(check)
    later = planned(world, now)  # in an hour
    assert "timing.short_notice" not in _rules(
        service.check_registration(db, actor=world.inspector1, data=later, now=now)
    )


# --- the form and the API ---------------------------------------------------------------------


def test_the_form_check_offers_to_join_the_other_agencys_visit(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    client.headers["Accept-Language"] = "en"
    theirs = _other_agency_visit(db, world, now)
    csrf = login(client, "inspector1")
    before = written(db)
    response = client.post(
        "/visits/check",
        data=form_body(planned(world, now), csrf),
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert response.status_code == 200
    html = response.text
    assert 'data-rule="merge.candidate"' in html
    assert "Other County Bureau" in html
    assert "led by Dave Chen" in html
    items = "&amp;".join(f"item_ids={i.id}" for i in world.items[:2])
    assert f'href="/visits/{theirs.public_id}/join?{items}"' in html
    assert "Join this visit" in html
    assert 'data-rule="caps.count"' in html  # where the enterprise stands (information)
    assert written(db) == before


def test_the_form_check_without_warnings_is_ready(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    client.headers["Accept-Language"] = "en"
    csrf = login(client, "inspector1")
    response = client.post(
        "/visits/check",
        data=form_body(planned(world, now), csrf),
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert "Ready to register: nothing to warn about." in response.text
    assert 'data-rule="merge.candidate"' not in response.text


def test_the_api_registration_answers_with_the_rules_warnings(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    theirs = _other_agency_visit(db, world, now)
    headers = api_token(client, "inspector1")
    response = client.post("/api/v1/visits", headers=headers, json=api_body(planned(world, now)))
    assert response.status_code == 201, response.text
    findings = {f["rule"]: f for f in response.json()["findings"]}
    assert set(findings) == {"merge.candidate"}  # information (caps.count) is not a warning
    merge = findings["merge.candidate"]
    assert merge["kind"] == FlagKind.merge_candidate.value
    assert merge["params"]["others"][0]["public_id"] == theirs.public_id
    assert "Other County Bureau" in merge["message"]
    # Reading the registered visit repeats them; nothing was flagged yet.
    public_id = response.json()["public_id"]
    again = client.get(f"/api/v1/visits/{public_id}", headers=headers).json()
    assert [f["rule"] for f in again["findings"]] == ["merge.candidate"]
    assert written(db)[3] == 0


def test_the_card_of_a_registered_visit_shows_the_merge_warning(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    client.headers["Accept-Language"] = "en"
    _other_agency_visit(db, world, now)
    login(client, "inspector1")
    visit = service.register_visit(
        db,
        actor=world.inspector1,
        data=planned(world, now),
        now=now,
        settings=client.app.state.settings,  # type: ignore[attr-defined]
    )
    page = client.get(f"/visits/{visit.public_id}")
    assert 'data-rule="merge.candidate"' in page.text
    assert "Join this visit" in page.text  # theirs can still be joined


def agency_ancestors(db: Session, agency_id: int) -> set[int]:
    """The agencies above, as the rules read them (with any class and grade's caps)."""
    return service.ancestors_and_caps(db, agency_id, "other", "2")[0]


def _chain(parents: dict[int, int | None], agency_id: int) -> set[int]:
    """The agencies above, walked in Python (the reference)."""
    expected: set[int] = set()
    current = parents[agency_id]
    while current is not None:
        expected.add(current)
        current = parents[current]
    return expected


def test_agency_ancestors_walk_up_the_chain_only(db: Session, world: World, now: datetime) -> None:
    """An agency's ancestors are its parent, the parent's parent ..., nothing beside them."""
    town = make_agency(db, level=AgencyLevel.town, parent=world.county, now=now)
    make_agency(db, level=AgencyLevel.town, parent=town, now=now)
    db.commit()
    parents = {a.id: a.parent_id for a in db.scalars(select(Agency))}
    for agency_id in parents:
        assert agency_ancestors(db, agency_id) == _chain(parents, agency_id)
    assert any(len(agency_ancestors(db, a)) >= 2 for a in parents)


def test_ancestors_and_caps_read_what_the_two_reads_give(
    db: Session, world: World, now: datetime
) -> None:
    """One statement for the agencies above and two caps: the chain walked in Python and
    `load_caps` for every agency and every row of the caps table, a missing cap too."""
    from webapp.plans.caps import load_caps
    from webapp.plans.models import VisitCap

    town = make_agency(db, level=AgencyLevel.town, parent=world.county, now=now)
    make_agency(db, level=AgencyLevel.town, parent=town, now=now)
    db.commit()
    caps = load_caps(db)
    supervisory = caps[service.SUPERVISORY_CAP]
    keys = [*caps, ("other", "no such grade")]
    parents = {a.id: a.parent_id for a in db.scalars(select(Agency))}
    agencies = list(parents)
    for agency_id in agencies:
        for klass, grade in keys:
            assert service.ancestors_and_caps(db, agency_id, klass, grade) == (
                _chain(parents, agency_id),
                caps.get((klass, grade)),
                supervisory,
            )
    # Without a supervisory row (an administrator cannot delete it; a damaged table can).
    db.execute(
        VisitCap.__table__.delete().where(  # type: ignore[attr-defined]
            VisitCap.enterprise_class == service.SUPERVISORY_CAP[0]
        )
    )
    assert service.ancestors_and_caps(db, agencies[0], "other", "2") == (
        _chain(parents, agencies[0]),
        caps[("other", "2")],
        None,
    )
    db.rollback()


def test_a_corrupt_cycle_of_parents_ends_both_reads(
    db: Session, world: World, now: datetime
) -> None:
    """Two agencies each other's parent (a damaged table; no screen makes one): the walk up
    ends (UNION, not UNION ALL), whatever class and grade are asked about."""
    from sqlalchemy import update

    first = make_agency(db, level=AgencyLevel.town, parent=world.county, now=now)
    second = make_agency(db, level=AgencyLevel.town, parent=first, now=now)
    db.commit()
    # Past the ORM: its hooks would rebuild the report's agency closure from the cycle.
    db.connection().execute(update(Agency).where(Agency.id == first.id).values(parent_id=second.id))
    assert agency_ancestors(db, first.id) == {first.id, second.id}
    ancestors, _, _ = service.ancestors_and_caps(db, first.id, "coal_mine", "A")
    assert ancestors == {first.id, second.id}
    db.rollback()
