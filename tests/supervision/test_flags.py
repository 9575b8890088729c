"""The supervisor's flag list and flag pages: order, filters, scope, roles, resolutions."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import (
    World,
    login,
    make_enterprise,
    make_flag,
    make_inspector,
    make_scan,
)
from tests.supervision.helpers import planned_visit
from webapp.audit.models import AuditEvent
from webapp.checkin.models import UnregisteredReport
from webapp.clock import FixedClock
from webapp.enums import FlagKind
from webapp.errors import DomainError
from webapp.labels import FLAG_KIND_LABELS
from webapp.supervision import service
from webapp.supervision.models import Flag, FlagResolution


def _flags(db: Session, world: World, now: datetime) -> dict[str, Flag]:
    """Flags of several kinds, each an hour apart (the last one newest)."""
    visit = planned_visit(db, world, now)
    town_ent = make_enterprise(db, agency=world.town, name="Town Foundry", now=now)
    other_ent = make_enterprise(db, agency=world.other_county, name="Faraway Mill", now=now)
    scan = make_scan(db, visit=None, user=world.manager_b, now=now, reason_code="pass_invalid")
    report = UnregisteredReport(
        enterprise_id=town_ent.id,
        reported_by_id=world.manager_a.id,
        occurred_at=now - timedelta(hours=3),
        who="Two people, no credentials shown",
        what_they_said="We are from the bureau.",
        created_at=now - timedelta(hours=3),
    )
    db.add(report)
    db.flush()
    flags = {
        "short": make_flag(
            db, kind="short_notice", agency=world.county, visit=visit, now=now - timedelta(hours=5)
        ),
        "creds": make_flag(
            db,
            kind="too_few_valid_credentials",
            agency=world.county,
            visit=visit,
            now=now - timedelta(hours=4),
        ),
        "town": make_flag(
            db,
            kind="unregistered_report",
            agency=world.town,
            enterprise=town_ent,
            report_id=report.id,
            now=now - timedelta(hours=3),
        ),
        "scan": make_flag(
            db,
            kind="refused_scan",
            agency=world.county,
            enterprise=world.ent_b,
            scan=scan,
            now=now - timedelta(hours=2),
        ),
        "other": make_flag(
            db,
            kind="unregistered_report",
            agency=world.other_county,
            enterprise=other_ent,
            now=now - timedelta(hours=1),
        ),
    }
    db.commit()
    return flags


def _row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr id="flag-(\d+)"', html)]


def test_flags_page_lists_newest_first_with_words_and_history_links(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    flags = _flags(db, world, now)
    login(client, "supervisor1")
    response = client.get("/supervision/flags")
    assert response.status_code == 200
    ids = _row_ids(response.text)
    # county and town, never the other county's; newest first
    assert ids == [flags[k].id for k in ("scan", "town", "creds", "short")]
    html = response.text
    assert "Registered only minutes before its scan" in html
    assert "Fewer than two inspectors with valid credentials" in html
    # the rule's message is translated with its parameters
    assert "Registered only 5 minutes before its scan (less than 30)." in html
    assert f"/supervision/visits/{flags['short'].visit.public_id}" in html  # type: ignore[union-attr]
    assert f"/supervision/flags/{flags['scan'].id}#scan" in html
    assert f"/supervision/flags/{flags['town'].id}#report" in html
    assert 'class="badge serious"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=too_few_valid_credentials", ["creds"]),
        ("kind=unregistered_report", ["town"]),
        ("agency={town}", ["town"]),
        ("agency={county}&kind=refused_scan", ["scan"]),
        ("agency={county}", ["scan", "town", "creds", "short"]),
    ],
)
def test_flags_page_filters(
    client: TestClient,
    db: Session,
    world: World,
    now: datetime,
    query: str,
    expected: list[str],
) -> None:
    flags = _flags(db, world, now)
    login(client, "supervisor1")
    url = "/supervision/flags?" + query.format(town=world.town.id, county=world.county.id)
    response = client.get(url)
    assert response.status_code == 200
    assert _row_ids(response.text) == [flags[k].id for k in expected]


def test_every_flag_kind_is_a_filter_option(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    login(client, "supervisor1")
    html = client.get("/supervision/flags").text
    for kind in FlagKind:
        assert f'<option value="{kind.value}"' in html
        assert str(escape(FLAG_KIND_LABELS[kind])) in html


def test_state_filter_open_resolved_all(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    flags = _flags(db, world, now)
    service.resolve_flag(
        db, actor=world.supervisor, flag_id=flags["creds"].id, note="Checked: ok.", now=now
    )
    login(client, "supervisor1")
    open_ids = _row_ids(client.get("/supervision/flags").text)
    assert flags["creds"].id not in open_ids
    assert len(open_ids) == 3
    assert _row_ids(client.get("/supervision/flags?state=resolved").text) == [flags["creds"].id]
    assert len(_row_ids(client.get("/supervision/flags?state=all").text)) == 4


def test_htmx_filter_gets_only_the_results_fragment(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    _flags(db, world, now)
    login(client, "supervisor1")
    response = client.get("/supervision/flags?kind=refused_scan", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="flag-results"')
    assert "<html" not in response.text


def test_bad_filter_values_are_refused_plainly(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    _flags(db, world, now)
    login(client, "supervisor1")
    response = client.get("/supervision/flags?kind=nonsense")
    assert response.status_code == 422
    assert "Unknown value" in response.text
    # an agency outside the supervisor's scope answers like a missing one
    response = client.get(f"/supervision/flags?agency={world.other_county.id}")
    assert response.status_code == 404
    response = client.get("/supervision/flags?cursor=%%%garbage")
    assert response.status_code == 422


def test_other_county_supervisor_never_sees_county_flags(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    flags = _flags(db, world, now)
    login(client, "supervisor9")
    assert _row_ids(client.get("/supervision/flags?state=all").text) == [flags["other"].id]
    for key in ("short", "town", "scan"):
        response = client.get(f"/supervision/flags/{flags[key].id}")
        assert response.status_code == 404
        assert "Not found, or not yours to see." in response.text


def test_admin_sees_every_flag(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    _flags(db, world, now)
    login(client, "admin")
    assert len(_row_ids(client.get("/supervision/flags").text)) == 5


@pytest.mark.parametrize("username", ["inspector1", "manager1"])
def test_inspectors_and_managers_are_forbidden(
    client: TestClient, db: Session, world: World, now: datetime, username: str
) -> None:
    flags = _flags(db, world, now)
    token = login(client, username)
    for url in (
        "/supervision/flags",
        f"/supervision/flags/{flags['short'].id}",
        "/supervision/approvals",
        "/supervision/visits",
        "/supervision/plan",
        f"/supervision/visits/{flags['short'].visit.public_id}",  # type: ignore[union-attr]
    ):
        assert client.get(url).status_code == 403, url
    response = client.post(
        f"/supervision/flags/{flags['short'].id}/resolutions",
        data={"note": "I resolve my own flag", "csrf_token": token},
    )
    assert response.status_code == 403
    assert db.scalar(select(func.count(FlagResolution.id))) == 0


def test_flags_page_needs_sign_in(client: TestClient, world: World) -> None:
    response = client.get("/supervision/flags", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_pagination_is_keyset_50_a_page(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    # 51 flags raised in the same second: the id breaks the tie, nothing is lost or repeated
    made = [make_flag(db, kind="short_notice", agency=world.county, now=now) for _ in range(51)]
    make_flag(db, kind="short_notice", agency=world.county, now=now - timedelta(days=1))
    db.commit()
    login(client, "supervisor1")
    first = client.get("/supervision/flags")
    first_ids = _row_ids(first.text)
    assert len(first_ids) == 50
    assert first_ids == sorted((f.id for f in made), reverse=True)[:50]
    match = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert match
    second = client.get(match.group(1).replace("&amp;", "&"))
    second_ids = _row_ids(second.text)
    assert len(second_ids) == 2
    assert second_ids[0] == made[0].id
    assert not set(first_ids) & set(second_ids)
    assert 'rel="next"' not in second.text


def test_resolving_keeps_the_flag_and_appends_notes_in_order(
    client: TestClient, db: Session, world: World, clock: FixedClock
) -> None:
    flags = _flags(db, world, clock.now())
    flag_id = flags["creds"].id
    token = login(client, "supervisor1")
    response = client.post(
        f"/supervision/flags/{flag_id}/resolutions",
        data={"note": "Called the team lead; Bob's credential was renewed.", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/supervision/flags/{flag_id}#resolutions"
    clock.advance(minutes=30)
    response = client.post(
        f"/supervision/flags/{flag_id}/resolutions",
        data={"note": "Follow-up: copy of the renewed credential filed.", "csrf_token": token},
    )
    assert response.status_code == 200
    page = response.text
    first = page.index("Bob&#39;s credential was renewed")
    second = page.index("copy of the renewed credential filed")
    assert first < second
    db.rollback()
    db.expire_all()
    flag = db.get(Flag, flag_id)
    assert flag is not None  # the flag stays
    assert [r.note for r in flag.resolutions] == [
        "Called the team lead; Bob's credential was renewed.",
        "Follow-up: copy of the renewed credential filed.",
    ]
    assert all(r.resolved_by_id == world.supervisor.id for r in flag.resolutions)
    events = db.scalars(
        select(AuditEvent).where(AuditEvent.action == "flag.resolved").order_by(AuditEvent.id)
    ).all()
    assert [e.object_id for e in events] == [str(flag_id), str(flag_id)]
    assert all(e.visit_id == flag.visit_id for e in events)
    # resolved flags leave the default (open) list but stay under "all"
    assert flag_id not in _row_ids(client.get("/supervision/flags").text)
    assert flag_id in _row_ids(client.get("/supervision/flags?state=all").text)


def test_empty_note_is_refused_with_a_specific_message_and_nothing_written(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    flags = _flags(db, world, now)
    token = login(client, "supervisor1")
    response = client.post(
        f"/supervision/flags/{flags['creds'].id}/resolutions",
        data={"note": "   ", "csrf_token": token},
    )
    assert response.status_code == 422
    assert "Write a note: what you checked and what you decided." in response.text
    assert 'class="field-error"' in response.text
    assert db.scalar(select(func.count(FlagResolution.id))) == 0
    assert (
        db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "flag.resolved"))
        == 0
    )
    with pytest.raises(DomainError) as caught:
        service.resolve_flag(
            db, actor=world.supervisor, flag_id=flags["creds"].id, note="", now=now
        )
    assert caught.value.code == "validation_error"
    assert caught.value.errors[0].field == "note"


def test_resolving_out_of_scope_is_not_found(db: Session, world: World, now: datetime) -> None:
    flags = _flags(db, world, now)
    with pytest.raises(DomainError) as caught:
        service.resolve_flag(
            db, actor=world.supervisor_other, flag_id=flags["short"].id, note="mine?", now=now
        )
    assert caught.value.code == "not_found"
    db.rollback()
    db.expire_all()
    assert db.scalar(select(func.count(FlagResolution.id))) == 0


def test_flag_page_shows_the_refused_scan_with_both_times(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    scan = make_scan(
        db,
        visit=None,
        user=world.manager_a,
        now=now,
        reason_code="pass_invalid",
        device_time=now - timedelta(minutes=7),
    )
    flag = make_flag(
        db, kind="refused_scan", agency=world.county, enterprise=world.ent_a, scan=scan, now=now
    )
    db.commit()
    login(client, "supervisor1")
    html = client.get(f"/supervision/flags/{flag.id}").text
    assert 'id="scan"' in html
    assert "Not a valid pass (forged, damaged or unknown)" in html
    assert "manager1" in html
    assert "Nov 16, 2026, 9:00:00" in html  # server time (Shanghai)
    assert "Nov 16, 2026, 8:53:00" in html  # device time


def test_county_supervisor_sees_the_town_below_it(db: Session, world: World, now: datetime) -> None:
    """A supervisor of the county sees flags of the town below it, not the other way up."""
    town_inspector = make_inspector(db, agency=world.town, now=now)
    assert town_inspector.agency_id == world.town.id
    flag = make_flag(db, kind="short_notice", agency=world.town, now=now)
    db.commit()
    page = service.list_flags(db, actor=world.supervisor)
    assert [r.flag.id for r in page.items] == [flag.id]
