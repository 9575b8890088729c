"""The inspector's pages: my visits, the registration form (with and without htmx), refusals."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.factories import World, login
from tests.visits.helpers import extra, form_body, only_visit, planned, written
from webapp.config import get_settings
from webapp.enums import Approval, FlagKind, VisitStatus
from webapp.visits import service

HTMX = {"HX-Request": "true"}


@pytest.fixture
def en(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


def _checked(html: str, name: str) -> set[str]:
    """Values of the checked inputs named `name`."""
    found = set()
    for tag in re.findall(r"<input[^>]*>", html, flags=re.S):
        if f'name="{name}"' in tag and re.search(r"\schecked[\s>]", tag):
            found.add(re.search(r'value="([^"]*)"', tag).group(1))  # type: ignore[union-attr]
    return found


def _value(html: str, name: str) -> str:
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html, flags=re.S)
    assert tag, name
    return re.search(r'value="([^"]*)"', tag.group(0)).group(1)  # type: ignore[union-attr]


# --- my visits ----------------------------------------------------------------------------


def test_my_visits_lists_this_months_plan_with_register_buttons(
    en: TestClient, world: World
) -> None:
    login(en, "inspector1")
    page = en.get("/visits")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text
    assert "Alpha Chemicals" in page.text
    assert "Beta Machinery" in page.text
    assert f'href="/visits/new?entry={world.entry_a.id}"' in page.text
    assert f'href="/visits/new?entry={world.entry_b.id}"' in page.text


def test_my_visits_shows_today_upcoming_recent_and_marks_registered_entries(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    settings = get_settings()
    today = service.register_visit(
        db, actor=world.inspector1, data=planned(world, now), now=now, settings=settings
    )
    tomorrow = service.register_visit(
        db,
        actor=world.inspector1,
        data=extra(
            world,
            now,
            enterprise_id=world.ent_b.id,
            window_start=now + timedelta(days=1),
            window_end=now + timedelta(days=1, hours=2),
        ),
        now=now,
        settings=settings,
    )
    # Registered a week ago for a window a week ago: a recent visit.
    week_ago = now - timedelta(days=7)
    past = service.register_visit(
        db,
        actor=world.inspector1,
        data=extra(world, week_ago),
        now=week_ago,
        settings=settings,
    )
    # A colleague's visit without alice is not on her list.
    colleagues = service.register_visit(
        db,
        actor=world.inspector2,
        data=extra(world, now, co_inspector_ids=[world.carol_expired.id]),
        now=now,
        settings=settings,
    )
    login(en, "inspector1")
    html = en.get("/visits").text
    today_part = html.split('id="h-today"')[1].split('id="h-upcoming"')[0]
    upcoming_part = html.split('id="h-upcoming"')[1].split('id="h-plan"')[0]
    plan_part = html.split('id="h-plan"')[1].split('id="h-recent"')[0]
    recent_part = html.split('id="h-recent"')[1]
    assert f"/visits/{today.public_id}" in today_part
    assert f"/visits/{tomorrow.public_id}" in upcoming_part
    assert "Extra visit: awaiting approval" in upcoming_part
    assert f"/visits/{past.public_id}" in recent_part
    assert colleagues.public_id not in html
    # entry_a now has a visit: a link to it instead of a Register button.
    assert f"/visits/{today.public_id}" in plan_part
    assert f"/visits/new?entry={world.entry_a.id}" not in plan_part
    assert f"/visits/new?entry={world.entry_b.id}" in plan_part


@pytest.mark.parametrize("username", ["manager1", "supervisor1"])
def test_my_visits_is_for_inspectors(client: TestClient, world: World, username: str) -> None:
    login(client, username)
    assert client.get("/visits").status_code == 403


def test_pages_need_sign_in(client: TestClient, world: World) -> None:
    response = client.get("/visits/new", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


# --- the form -----------------------------------------------------------------------------


def test_form_prefilled_from_a_plan_entry(en: TestClient, world: World) -> None:
    login(en, "inspector1")
    page = en.get(f"/visits/new?entry={world.entry_a.id}")
    assert page.status_code == 200
    html = page.text
    assert _checked(html, "enterprise_id") == {str(world.ent_a.id)}
    assert _checked(html, "plan_entry_id") == {str(world.entry_a.id)}
    assert _checked(html, "item_ids") == {str(i.id) for i in world.entry_a.items}
    # Default window: today from the next full hour (now 09:00 in Shanghai), 3 hours.
    assert _value(html, "window_start") == "2026-11-16T10:00"
    assert _value(html, "window_end") == "2026-11-16T13:00"
    # Co-inspectors of the agency with their credential validity; not the other county's.
    assert "Bob Wang" in html
    assert "Carol Zhang" in html
    assert "Dave Chen" not in html
    carol = html.split("Carol Zhang")[1].split("</label>")[0]
    assert "credential not valid" in carol
    assert 'hx-post="/visits/check"' in html
    assert 'hx-trigger="change"' in html
    assert _value(html, "idempotency_key")


def test_form_for_another_agencys_entry_is_not_found(client: TestClient, world: World) -> None:
    login(client, "inspector9")
    assert client.get(f"/visits/new?entry={world.entry_a.id}").status_code == 404


def test_register_through_the_page(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    form = en.get(f"/visits/new?entry={world.entry_a.id}")
    key = _value(form.text, "idempotency_key")
    data = planned(world, now, item_ids=[i.id for i in world.entry_a.items])
    response = en.post(
        "/visits/new", data=form_body(data, csrf, idempotency_key=key), follow_redirects=False
    )
    assert response.status_code == 303, response.text
    visit = only_visit(db)
    assert response.headers["location"] == f"/visits/{visit.public_id}"
    assert visit.status == VisitStatus.registered
    assert visit.approval == Approval.not_required
    assert visit.window_start == datetime.fromisoformat("2026-11-16T10:00:00+08:00")
    assert [m.inspector_id for m in visit.team] == [world.alice.id, world.bob.id]

    # A double tap (or a retry) with the same form creates nothing more.
    again = en.post(
        "/visits/new", data=form_body(data, csrf, idempotency_key=key), follow_redirects=False
    )
    assert again.status_code == 303
    assert again.headers["location"] == f"/visits/{visit.public_id}"
    assert written(db)[0] == 1


def test_register_an_extra_visit_through_the_page(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    data = extra(world, now)
    response = en.post("/visits/new", data=form_body(data, csrf), follow_redirects=False)
    assert response.status_code == 303, response.text
    visit = only_visit(db)
    assert visit.approval == Approval.pending
    assert visit.extra_reason == data.extra_reason
    card = en.get(response.headers["location"]).text
    assert "Complaint or hotline report (12345)" in card
    assert "blocked fire exits" in card
    assert "Extra visit: awaiting approval" in card


def test_refused_form_keeps_every_input_and_marks_each_field(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    data = extra(
        world,
        now,
        co_inspector_ids=[],
        extra_reason=None,
        extra_reason_text="Hotline 12345 case 889",
    )
    body = form_body(data, csrf, idempotency_key="form-key-1", q="Alp")
    body["window_end"] = body["window_start"]  # ends when it starts
    before = written(db)
    response = en.post("/visits/new", data=body, follow_redirects=False)
    assert response.status_code == 422
    html = response.text
    assert written(db) == before
    for field in ("co_inspector_ids", "extra_reason", "window_end"):
        assert f'id="err-{field}"' in html, field
    assert "add a co-inspector" in html
    assert "The window must end after it starts." in html
    # Every input kept.
    assert _checked(html, "enterprise_id") == {str(world.ent_a.id)}
    assert _checked(html, "plan_entry_id") == {"extra"}
    assert _checked(html, "item_ids") == {str(i) for i in data.item_ids}
    assert "Hotline 12345 case 889</textarea>" in html
    assert _value(html, "window_start") == body["window_start"]
    assert _value(html, "window_end") == body["window_end"]
    assert _value(html, "idempotency_key") == "form-key-1"
    assert _value(html, "q") == "Alp"
    # The warnings box lists the errors too.
    assert 'id="warnings"' in html
    assert 'data-field="co_inspector_ids"' in html


def test_refusal_without_enterprise_through_the_page(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    body = form_body(planned(world, now, enterprise_id=None), csrf)
    response = en.post("/visits/new", data=body)
    assert response.status_code == 422
    assert 'id="err-enterprise_id"' in response.text
    assert written(db)[0] == 0


def test_form_without_csrf_token_is_refused(
    client: TestClient, world: World, db: Session, now: datetime
) -> None:
    login(client, "inspector1")
    body = form_body(planned(world, now), "wrong")
    assert client.post("/visits/new", data=body).status_code == 403
    assert written(db)[0] == 0


# --- htmx helpers of the form --------------------------------------------------------------


def test_check_shows_errors_and_warnings_at_once_and_writes_nothing(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    before = written(db)
    data = extra(world, now, co_inspector_ids=[world.carol_expired.id])
    response = en.post(
        "/visits/check", data=form_body(data, csrf), headers={**HTMX, "X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    html = response.text
    assert "<html" not in html
    assert 'data-rule="credentials.two_valid"' in html
    assert "Only 1 inspector(s) with a credential valid" in html
    assert "Carol Zhang" in html
    assert 'data-rule="extra.needs_approval"' in html
    assert "will not confirm it until a supervisor has approved it" in html
    assert written(db) == before

    one = en.post(
        "/visits/check",
        data=form_body(planned(world, now, co_inspector_ids=[]), csrf),
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert 'data-field="co_inspector_ids"' in one.text
    assert "add a co-inspector" in one.text

    fine = en.post(
        "/visits/check",
        data=form_body(planned(world, now), csrf),
        headers={**HTMX, "X-CSRF-Token": csrf},
    )
    assert "Ready to register" in fine.text
    assert written(db) == before


def test_check_needs_the_csrf_header(client: TestClient, world: World, now: datetime) -> None:
    login(client, "inspector1")
    body = form_body(planned(world, now), "")
    assert client.post("/visits/check", data=body, headers=HTMX).status_code == 403


def test_enterprise_search_by_name_and_by_credit_code(en: TestClient, world: World) -> None:
    login(en, "inspector1")
    by_name = en.get("/visits/enterprise-search", params={"q": "alpha"}, headers=HTMX)
    assert by_name.status_code == 200
    assert "Alpha Chemicals" in by_name.text
    assert "Beta Machinery" not in by_name.text
    assert f'name="enterprise_id" value="{world.ent_a.id}"' in by_name.text
    assert 'hx-get="/visits/plan-options"' in by_name.text
    code = world.ent_b.uscc[:10]
    by_code = en.get("/visits/enterprise-search", params={"q": code.lower()}, headers=HTMX)
    assert "Beta Machinery" in by_code.text
    none = en.get("/visits/enterprise-search", params={"q": "zzz-nothing"}, headers=HTMX)
    assert "No enterprise matches" in none.text


def test_choosing_an_enterprise_offers_its_plan_entry_and_items(
    en: TestClient, world: World
) -> None:
    login(en, "inspector1")
    response = en.get(
        "/visits/plan-options",
        params={"enterprise_id": world.ent_b.id, "window_start": "2026-11-16T10:00"},
        headers=HTMX,
    )
    html = response.text
    assert _checked(html, "plan_entry_id") == {str(world.entry_b.id)}
    assert 'value="extra"' in html
    assert 'hx-swap-oob="innerHTML"' in html
    assert _checked(html, "item_ids") == {str(i.id) for i in world.entry_b.items}
    # In December there is no plan entry for it: only the extra visit is offered.
    december = en.get(
        "/visits/plan-options",
        params={"enterprise_id": world.ent_b.id, "window_start": "2026-12-02T10:00"},
        headers=HTMX,
    )
    assert _checked(december.text, "plan_entry_id") == set()
    assert "Beta Machinery has no plan entry of your agency for 2026-12." in december.text


def test_choosing_a_plan_entry_checks_its_items(en: TestClient, world: World) -> None:
    login(en, "inspector1")
    response = en.get(
        "/visits/item-options", params={"plan_entry_id": world.entry_b.id}, headers=HTMX
    )
    assert _checked(response.text, "item_ids") == {str(i.id) for i in world.entry_b.items}
    other = en.get("/visits/item-options", params={"plan_entry_id": "x"}, headers=HTMX)
    assert _checked(other.text, "item_ids") == set()


def test_search_without_javascript_keeps_the_form(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    body = form_body(planned(world, now), csrf, action="search", q="Beta")
    response = en.post("/visits/new", data=body)
    assert response.status_code == 200
    html = response.text
    assert "Beta Machinery" in html
    assert _checked(html, "enterprise_id") == {str(world.ent_a.id)}
    assert _checked(html, "co_inspector_ids") == {str(world.bob.id)}
    assert written(db)[0] == 0


def test_manager_cannot_search_enterprises_on_the_page(client: TestClient, world: World) -> None:
    login(client, "manager1")
    response = client.get("/visits/enterprise-search", params={"q": "Alpha"}, headers=HTMX)
    assert response.status_code == 403
    assert "Alpha Chemicals" not in response.text


def test_warnings_flag_is_raised_when_registering_with_an_expired_colleague(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    csrf = login(en, "inspector1")
    data = planned(world, now, co_inspector_ids=[world.carol_expired.id])
    response = en.post("/visits/new", data=form_body(data, csrf))
    assert response.status_code == 200  # the card, after the redirect
    assert "Only 1 inspector(s) with a credential valid" in response.text
    assert f'data-flag="{FlagKind.too_few_valid_credentials.value}"' in response.text
