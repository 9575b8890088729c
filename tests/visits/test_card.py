"""The visit card: team, credentials, checklist, basis, the rotating pass; who sees it; cancel."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import World, login, make_user
from tests.visits.helpers import decode_png, extra, fresh, planned, written
from webapp.audit.models import AuditEvent
from webapp.auth import security
from webapp.clock import FixedClock
from webapp.config import get_settings
from webapp.enums import Role, VisitStatus
from webapp.errors import DomainError
from webapp.visits import service
from webapp.visits.models import Visit

HTMX = {"HX-Request": "true"}


@pytest.fixture
def en(client: TestClient) -> TestClient:
    client.headers["Accept-Language"] = "en"
    return client


@pytest.fixture
def visit(db: Session, world: World, now: datetime) -> Visit:
    return service.register_visit(
        db, actor=world.inspector1, data=planned(world, now), now=now, settings=get_settings()
    )


def _step(at: datetime) -> int:
    return security.step_of(at, get_settings().pass_step_seconds)


def test_card_shows_team_credentials_checklist_basis_window_and_pass(
    en: TestClient, world: World, visit: Visit, now: datetime
) -> None:
    login(en, "inspector1")
    page = en.get(f"/visits/{visit.public_id}")
    assert page.status_code == 200
    html = page.text
    assert "Example County Bureau" in html
    for inspector in (world.alice, world.bob):
        assert inspector.name in html
        assert inspector.credentials[0].number in html
    assert 'src="data:image/png;base64,' in html  # the photos
    for item in world.entry_a.items:
        assert item.code in html
        assert item.title in html
        assert item.legal_basis in html
    assert "Plan entry" in html
    assert world.month in html
    # The live pass: QR as inline SVG, the short code, valid-until.
    assert '<svg class="qr"' in html
    code = security.short_code(visit.code_prefix, visit.pass_secret, _step(now))
    assert f"data-short-code>{code}</p>" in html
    assert "Valid until 09:01:00" in html  # step of 30 s, current and previous accepted
    assert f'hx-get="/visits/{visit.public_id}/pass"' in html
    assert 'hx-trigger="every 10s"' in html
    assert 'hx-swap="outerHTML"' in html
    assert "Cancel the visit" in html


def test_card_of_an_extra_visit_with_an_expired_colleague_shows_the_warnings(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    visit = service.register_visit(
        db,
        actor=world.inspector1,
        data=extra(world, now, co_inspector_ids=[world.carol_expired.id]),
        now=now,
        settings=get_settings(),
    )
    login(en, "inspector1")
    html = en.get(f"/visits/{visit.public_id}").text
    assert 'data-rule="credentials.two_valid"' in html
    assert 'data-rule="extra.needs_approval"' in html
    assert 'data-flag="too_few_valid_credentials"' in html
    carol = html.split('<strong class="name">Carol Zhang</strong>')[1].split("</li>")[0]
    assert "Not valid" in carol
    assert "Complaint or hotline report (12345)" in html


def test_visit_card_view_model(world: World, visit: Visit, now: datetime) -> None:
    card = service.visit_card(visit, now=now)
    assert card.agency_name == "Example County Bureau"
    assert [m.name for m in card.members] == ["Alice Li", "Bob Wang"]
    assert [m.lead for m in card.members] == [True, False]
    assert all(m.valid for m in card.members)
    assert all(
        m.photo_url and m.photo_url.startswith("data:image/png;base64,") for m in card.members
    )
    assert card.members[0].credential_status == "valid"
    assert card.members[0].agency_name == "Example County Bureau"
    assert [i.code for i in card.items] == ["AQ-001", "AQ-002"]
    assert card.plan_month == world.month
    assert card.is_extra is False
    assert card.window_state == "upcoming"
    assert service.visit_card(visit, now=now + timedelta(hours=2)).window_state == "open"
    assert service.visit_card(visit, now=now + timedelta(hours=5)).window_state == "over"
    assert card.findings == []


def test_a_photo_of_a_non_image_type_is_not_inlined(
    db: Session, world: World, visit: Visit, now: datetime
) -> None:
    fresh(db)
    world.bob.photo_type = "text/html"
    db.commit()
    card = service.visit_card(visit, now=now)
    assert card.members[1].photo_url is None


def test_pass_png_decodes_to_the_scan_url_with_both_decoders(
    en: TestClient, world: World, visit: Visit, tmp_path: Path, now: datetime
) -> None:
    login(en, "inspector1")
    png = en.get(f"/visits/{visit.public_id}/pass.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.headers["cache-control"] == "no-store"
    url = decode_png(png.content, tmp_path)
    assert url.startswith("https://testserver/scan?p=")
    token = parse_qs(urlsplit(url).query)["p"][0]
    claims = security.verify_pass_token(
        token, visit.pass_secret, now=now, step_seconds=30, accepted_steps=2
    )
    assert claims.visit_public_id == visit.public_id
    assert claims.enterprise_id == world.ent_a.id

    svg = en.get(f"/visits/{visit.public_id}/pass.svg")
    assert svg.status_code == 200
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.headers["cache-control"] == "no-store"
    assert svg.text.startswith("<svg")


def test_pass_rotates(
    en: TestClient, world: World, visit: Visit, clock: FixedClock, tmp_path: Path
) -> None:
    login(en, "inspector1")
    first = en.get(f"/visits/{visit.public_id}/pass", headers=HTMX)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    assert "<html" not in first.text
    url_1 = decode_png(en.get(f"/visits/{visit.public_id}/pass.png").content, tmp_path)
    clock.advance(seconds=60)
    second = en.get(f"/visits/{visit.public_id}/pass", headers=HTMX)
    url_2 = decode_png(en.get(f"/visits/{visit.public_id}/pass.png").content, tmp_path)
    assert url_1 != url_2
    code_1 = security.short_code(visit.code_prefix, visit.pass_secret, _step(clock.now()) - 2)
    code_2 = security.short_code(visit.code_prefix, visit.pass_secret, _step(clock.now()))
    assert code_1 in first.text
    assert code_2 in second.text
    assert code_1 != code_2


def test_colleague_not_on_the_team_sees_the_card_but_not_the_pass(
    en: TestClient, world: World, db: Session, visit: Visit
) -> None:
    make_user(
        db,
        role=Role.inspector,
        username="inspector3",
        inspector=world.carol_expired,
        now=visit.registered_at,
    )
    db.commit()
    login(en, "inspector3")
    page = en.get(f"/visits/{visit.public_id}")
    assert page.status_code == 200
    assert '<svg class="qr"' not in page.text
    assert "shown only on the phones of the inspectors on this visit" in page.text
    assert en.get(f"/visits/{visit.public_id}/pass.png").status_code == 403


def test_co_inspector_on_the_team_shows_the_pass(
    en: TestClient, world: World, visit: Visit
) -> None:
    login(en, "inspector2")
    assert '<svg class="qr"' in en.get(f"/visits/{visit.public_id}").text
    assert en.get(f"/visits/{visit.public_id}/pass.png").status_code == 200


@pytest.mark.parametrize("username", ["inspector9", "supervisor9", "manager1", "manager2"])
def test_others_get_not_found(
    client: TestClient, world: World, visit: Visit, username: str
) -> None:
    login(client, username)
    for path in ("", "/pass", "/pass.png", "/pass.svg"):
        assert client.get(f"/visits/{visit.public_id}{path}").status_code == 404, path


def test_supervisor_above_sees_the_card_without_pass(
    en: TestClient, world: World, db: Session, now: datetime
) -> None:
    # A visit of the town office, seen by the county's supervisor.
    from tests.factories import make_inspector

    tom = make_inspector(db, agency=world.town, name="Tom Town", now=now)
    tina = make_inspector(db, agency=world.town, name="Tina Town", now=now)
    town_user = make_user(db, role=Role.inspector, inspector=tom, now=now)
    db.commit()
    visit = service.register_visit(
        db,
        actor=town_user,
        data=extra(world, now, co_inspector_ids=[tina.id]),
        now=now,
        settings=get_settings(),
    )
    login(en, "supervisor1")
    page = en.get(f"/visits/{visit.public_id}")
    assert page.status_code == 200
    assert "Tom Town" in page.text
    assert '<svg class="qr"' not in page.text
    assert "Cancel the visit" not in page.text


def test_manager_sees_their_visit_only_once_confirmed(
    en: TestClient, world: World, db: Session, visit: Visit, now: datetime
) -> None:
    login(en, "manager1")
    assert en.get(f"/visits/{visit.public_id}").status_code == 404
    with pytest.raises(DomainError):
        service.get_visit(db, actor=world.manager_a, public_id=visit.public_id)
    # As if the pass had been scanned and confirmed (the check-in's own tests do it for real).
    fresh(db)
    visit.status = VisitStatus.confirmed
    visit.confirmed_at = now
    visit.confirmed_by_id = world.manager_a.id
    db.commit()
    page = en.get(f"/visits/{visit.public_id}")
    assert page.status_code == 200
    assert "Confirmed by the enterprise" in page.text
    assert '<svg class="qr"' not in page.text
    assert "Cancel the visit" not in page.text
    assert "data-flag=" not in page.text
    # ...and never another enterprise's.
    login(en, "manager2")
    assert en.get(f"/visits/{visit.public_id}").status_code == 404


def test_unknown_visit_is_not_found(client: TestClient, world: World) -> None:
    login(client, "inspector1")
    assert client.get("/visits/doesnotexist0000000000").status_code == 404
    assert client.get("/visits/" + "x" * 80).status_code == 404


# --- cancel -------------------------------------------------------------------------------


def test_cancel_through_the_page(
    en: TestClient, world: World, db: Session, visit: Visit, now: datetime
) -> None:
    csrf = login(en, "inspector2")  # a colleague of the same agency may cancel
    response = en.post(
        f"/visits/{visit.public_id}/cancel",
        data={"csrf_token": csrf, "reason": "Enterprise closed for a holiday"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/visits/{visit.public_id}"
    fresh(db)
    db.refresh(visit)
    assert visit.status == VisitStatus.cancelled
    assert visit.cancelled_at == now
    assert visit.cancel_reason == "Enterprise closed for a holiday"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "visit.cancelled"))
    assert event is not None
    assert event.actor_id == world.inspector2.id
    page = en.get(f"/visits/{visit.public_id}").text
    assert "Cancelled at" in page
    assert "Enterprise closed for a holiday" in page
    assert '<svg class="qr"' not in page
    assert en.get(f"/visits/{visit.public_id}/pass.png").status_code == 409
    # Cancelling again is refused; the record stays.
    again = en.post(
        f"/visits/{visit.public_id}/cancel", data={"csrf_token": csrf, "reason": "again!"}
    )
    assert again.status_code == 409
    assert written(db)[0] == 1


def test_cancel_needs_a_reason(en: TestClient, world: World, db: Session, visit: Visit) -> None:
    csrf = login(en, "inspector1")
    before = written(db)
    response = en.post(
        f"/visits/{visit.public_id}/cancel", data={"csrf_token": csrf, "reason": " "}
    )
    assert response.status_code == 422
    assert 'id="err-reason"' in response.text
    assert written(db) == before
    fresh(db)
    db.refresh(visit)
    assert visit.status == VisitStatus.registered


def test_cancel_refused_for_others_and_confirmed_visits(
    db: Session, world: World, visit: Visit, now: datetime
) -> None:
    for actor, code in (
        (world.inspector_other, "not_found"),
        (world.supervisor, "forbidden"),
        (world.manager_a, "forbidden"),
    ):
        with pytest.raises(DomainError) as caught:
            service.cancel_visit(
                db, actor=actor, public_id=visit.public_id, reason="not mine", now=now
            )
        assert caught.value.code == code
    fresh(db)
    visit.status = VisitStatus.confirmed
    db.commit()
    with pytest.raises(DomainError) as caught:
        service.cancel_visit(
            db, actor=world.inspector1, public_id=visit.public_id, reason="too late", now=now
        )
    assert caught.value.code == "not_cancellable"
    assert caught.value.status == 409
