"""The administration pages: each kind of record created through its page, refusals shown
next to their fields with the input kept, administrators only."""

from __future__ import annotations

import io
import random
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.admin.conftest import AdminPost
from tests.factories import World, login
from webapp.agencies.models import Agency, Credential, Inspector
from webapp.audit.models import AuditEvent
from webapp.auth.models import User, UserSession
from webapp.enterprises import uscc
from webapp.enterprises.models import Enterprise
from webapp.enums import CredentialStatus, Role
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry

ADMIN_PAGES = [
    "/admin",
    "/admin/agencies",
    "/admin/inspectors",
    "/admin/enterprises",
    "/admin/items",
    "/admin/plans",
    "/admin/accounts",
]


def _png(width: int, height: int, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    color: tuple[int, ...] = (200, 30, 30, 128) if mode == "RGBA" else (200, 30, 30)
    Image.new(mode, (width, height), color).save(buf, format="PNG")
    return buf.getvalue()


def _field_error(html: str) -> list[str]:
    return re.findall(r'<p class="field-error" id="err-([a-z_]+)">', html)


def test_admin_index_links_every_section(client: TestClient, world: World) -> None:
    login(client, "admin")
    html = client.get("/admin").text
    for page in ADMIN_PAGES[1:]:
        assert f'href="{page}"' in html
        assert client.get(page).status_code == 200, page


@pytest.mark.parametrize("username", ["supervisor1", "manager1"])
def test_non_admins_are_forbidden(client: TestClient, world: World, username: str) -> None:
    token = login(client, username)
    for page in [*ADMIN_PAGES, f"/admin/inspectors/{world.alice.id}"]:
        assert client.get(page).status_code == 403, page
    response = client.post(
        "/admin/agencies",
        data={"name": "Sneaky", "code": "SNEAK", "level": "town", "csrf_token": token},
    )
    assert response.status_code == 403


def test_admin_pages_need_sign_in(client: TestClient, world: World) -> None:
    response = client.get("/admin/agencies", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_create_agency_and_refusals_keep_input(
    client: TestClient, admin_post: AdminPost, db: Session, world: World
) -> None:
    response = admin_post(
        "/admin/agencies",
        {
            "name": "North Town Office",
            "code": "NT-01",
            "level": "town",
            "parent_id": world.county.id,
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/agencies?saved=1"
    page = client.get(response.headers["location"]).text
    assert "Saved." in page
    assert "North Town Office" in page
    agency = db.scalar(select(Agency).where(Agency.code == "NT-01"))
    assert agency is not None
    assert agency.parent_id == world.county.id
    # a county cannot sit below a town; the code is taken; input comes back
    response = admin_post(
        "/admin/agencies",
        {"name": "Upside Down Bureau", "code": "NT-01", "level": "county", "parent_id": agency.id},
    )
    assert response.status_code == 422
    assert set(_field_error(response.text)) == {"code", "parent_id"}
    assert "The code NT-01 is already used by North Town Office." in response.text
    assert "The parent agency must be at a higher level" in response.text
    assert 'value="Upside Down Bureau"' in response.text
    assert db.scalar(select(func.count(Agency.id)).where(Agency.name == "Upside Down Bureau")) == 0


def _inspector_form(world: World, **changes: str) -> dict[str, str]:
    form = {
        "name": "Erin Zhou",
        "agency_id": str(world.town.id),
        "number": "JZ-2026-0042",
        "issuing_agency_id": str(world.county.id),
        "valid_from": "2026-01-01",
        "valid_until": "2030-12-31",
        "status": "valid",
    }
    form.update(changes)
    return form


def test_create_inspector_with_photo_reencoded_small(
    client: TestClient, admin_post: AdminPost, db: Session, world: World
) -> None:
    response = admin_post(
        "/admin/inspectors",
        _inspector_form(world),
        files={"photo": ("erin.png", _png(900, 1200, "RGBA"), "image/png")},
    )
    assert response.status_code == 303, response.text
    inspector = db.scalar(select(Inspector).where(Inspector.name == "Erin Zhou"))
    assert inspector is not None
    assert inspector.photo_type == "image/jpeg"
    assert inspector.photo is not None
    with Image.open(io.BytesIO(inspector.photo)) as stored:
        assert stored.format == "JPEG"
        assert stored.size == (360, 480)
    [credential] = inspector.credentials
    assert credential.number == "JZ-2026-0042"
    assert credential.status == CredentialStatus.valid
    actions = db.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["inspector.created", "credential.added"]
    page = client.get(f"/admin/inspectors/{inspector.id}").text
    assert 'src="data:image/jpeg;base64,' in page


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (("notes.png", b"this is not a picture at all", "image/png"), "is not a JPEG or PNG"),
        (
            ("big.jpg", b"\xff\xd8" + b"0" * (2 * 1024 * 1024 + 10), "image/jpeg"),
            "larger than 2 MB",
        ),
    ],
)
def test_bad_photo_is_refused_and_nothing_is_written(
    admin_post: AdminPost,
    db: Session,
    world: World,
    upload: tuple[str, bytes, str],
    message: str,
) -> None:
    before = db.scalar(select(func.count(AuditEvent.id)))
    response = admin_post("/admin/inspectors", _inspector_form(world), files={"photo": upload})
    assert response.status_code == 422
    assert _field_error(response.text) == ["photo"]
    assert message in response.text
    assert 'value="Erin Zhou"' in response.text
    assert 'value="JZ-2026-0042"' in response.text
    assert db.scalar(select(func.count(Inspector.id)).where(Inspector.name == "Erin Zhou")) == 0
    assert (
        db.scalar(select(func.count(Credential.id)).where(Credential.number == "JZ-2026-0042")) == 0
    )
    assert db.scalar(select(func.count(AuditEvent.id))) == before


def test_credential_dates_and_number_are_checked(admin_post: AdminPost, world: World) -> None:
    taken = world.alice.credentials[0].number
    response = admin_post(
        "/admin/inspectors",
        _inspector_form(world, valid_from="2027-01-01", valid_until="2026-01-01", number=taken),
    )
    assert response.status_code == 422
    assert set(_field_error(response.text)) == {"number", "valid_until"}
    assert "already recorded, for Alice Li" in response.text
    assert "&#39;valid until&#39; must be on or after &#39;valid from&#39;" in response.text


def test_add_credential_and_change_its_status_audited(
    admin_post: AdminPost, db: Session, world: World
) -> None:
    response = admin_post(
        f"/admin/inspectors/{world.bob.id}/credentials",
        {
            "number": "JZ-RENEW-1",
            "issuing_agency_id": world.county.id,
            "valid_from": "2027-11-16",
            "valid_until": "2032-11-15",
            "status": "valid",
        },
    )
    assert response.status_code == 303
    credential = db.scalar(select(Credential).where(Credential.number == "JZ-RENEW-1"))
    assert credential is not None
    assert credential.inspector_id == world.bob.id
    status_url = f"/admin/credentials/{credential.id}/status"
    response = admin_post(
        status_url,
        {"inspector_id": world.bob.id, "status": "suspended", "note": "Under investigation"},
    )
    assert response.status_code == 303
    db.rollback()
    db.expire_all()
    assert db.get(Credential, credential.id).status == CredentialStatus.suspended  # type: ignore[union-attr]
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "credential.status_changed"))
    assert event is not None
    assert '"from":"valid"' in event.data
    assert '"to":"suspended"' in event.data
    assert "Under investigation" in event.data
    # the same status again is refused next to the status field
    response = admin_post(status_url, {"inspector_id": world.bob.id, "status": "suspended"})
    assert response.status_code == 422
    assert "The credential already has this status." in response.text


def test_replace_photo_refuses_a_gif(admin_post: AdminPost, db: Session, world: World) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (40, 60)).save(buf, format="GIF")
    photo_url = f"/admin/inspectors/{world.alice.id}/photo"
    response = admin_post(photo_url, files={"photo": ("a.gif", buf.getvalue(), "image/gif")})
    assert response.status_code == 422
    assert "must be a JPEG or PNG picture; this one is GIF" in response.text
    response = admin_post(photo_url, files={"photo": ("a.png", _png(300, 400), "image/png")})
    assert response.status_code == 303
    db.rollback()
    db.expire_all()
    alice = db.get(Inspector, world.alice.id)
    assert alice is not None
    assert alice.photo_type == "image/jpeg"


def _enterprise_form(world: World, code: str) -> dict[str, str]:
    return {
        "name": "Gamma Steel Works",
        "uscc": code,
        "address": "8 Furnace Road",
        "industry": "metallurgy",
        "enterprise_class": "hazchem_metallurgy",
        "risk_grade": "2",
        "agency_id": str(world.county.id),
    }


def test_create_enterprise_and_search_it(
    client: TestClient, admin_post: AdminPost, db: Session, world: World
) -> None:
    code = uscc.generate(random.Random(7))
    response = admin_post("/admin/enterprises", _enterprise_form(world, code))
    assert response.status_code == 303, response.text
    assert db.scalar(select(Enterprise.name).where(Enterprise.uscc == code)) == "Gamma Steel Works"
    html = client.get("/admin/enterprises?q=gamma").text
    assert "Gamma Steel Works" in html
    assert "Alpha Chemicals" not in html
    html = client.get(f"/admin/enterprises?q={code[:10]}").text
    assert "Gamma Steel Works" in html


def test_bad_credit_code_names_the_expected_check_character(
    admin_post: AdminPost, db: Session, world: World
) -> None:
    good = uscc.generate(random.Random(11))
    wrong = next(c for c in uscc.ALPHABET if c != good[-1])
    response = admin_post("/admin/enterprises", _enterprise_form(world, good[:17] + wrong))
    assert response.status_code == 422
    assert _field_error(response.text) == ["uscc"]
    assert f"it must be &#39;{good[-1]}&#39;, not &#39;{wrong}&#39;" in response.text
    assert f'value="{good[:17] + wrong}"' in response.text
    assert 'value="Gamma Steel Works"' in response.text
    assert (
        db.scalar(select(func.count(Enterprise.id)).where(Enterprise.name == "Gamma Steel Works"))
        == 0
    )


def test_create_item(admin_post: AdminPost, db: Session) -> None:
    response = admin_post(
        "/admin/items",
        {
            "code": "aq-900",
            "title": "Emergency drills",
            "legal_basis": "Work Safety Law, Article 81",
            "description": "Drill records of the last year",
            "max_per_year": "2",
        },
    )
    assert response.status_code == 303
    item = db.scalar(select(InspectionItem).where(InspectionItem.code == "AQ-900"))
    assert item is not None
    assert item.max_per_year == 2
    response = admin_post(
        "/admin/items",
        {"code": "AQ-901", "title": "x", "legal_basis": "y", "max_per_year": "often"},
    )
    assert response.status_code == 422
    assert _field_error(response.text) == ["max_per_year"]
    response = admin_post("/admin/items", {"code": "AQ-900", "title": "", "legal_basis": ""})
    assert response.status_code == 422
    assert set(_field_error(response.text)) == {"code", "title", "legal_basis"}


def test_create_plan_and_add_entries_by_code_and_by_pick(
    client: TestClient, admin_post: AdminPost, db: Session, world: World
) -> None:
    response = admin_post(
        "/admin/plans",
        {
            "agency_id": world.town.id,
            "kind": "monthly",
            "year": "2026",
            "month": "12",
            "title": "Town plan 2026-12",
        },
    )
    assert response.status_code == 303, response.text
    plan = db.scalar(select(Plan).where(Plan.title == "Town plan 2026-12"))
    assert plan is not None
    assert response.headers["location"] == f"/admin/plans/{plan.id}?saved=1"
    # by credit code (typed with spaces and in lower case)
    code = world.ent_a.uscc
    response = admin_post(
        f"/admin/plans/{plan.id}/entries",
        {
            "enterprise_code": f" {code[:9].lower()} {code[9:]}",
            "month": "2026-12",
            "item_ids": [str(world.items[0].id), str(world.items[1].id)],
            "note": "Joint with fire brigade",
        },
    )
    assert response.status_code == 303, response.text
    # by a pick from the search results
    fragment = client.get("/admin/enterprises/search?enterprise_code=Beta").text
    assert f'name="enterprise_id" value="{world.ent_b.id}"' in fragment
    response = admin_post(
        f"/admin/plans/{plan.id}/entries",
        {"enterprise_id": world.ent_b.id, "month": "2026-12", "item_ids": [str(world.items[2].id)]},
    )
    assert response.status_code == 303
    db.rollback()  # a fresh snapshot of what the app wrote
    db.expire_all()
    entries = db.scalars(select(PlanEntry).where(PlanEntry.plan_id == plan.id)).all()
    assert {e.enterprise_id for e in entries} == {world.ent_a.id, world.ent_b.id}
    page = client.get(f"/admin/plans/{plan.id}").text
    assert "Alpha Chemicals" in page
    assert "Beta Machinery" in page
    assert "Joint with fire brigade" in page


def test_plan_entry_refusals_are_next_to_their_fields(admin_post: AdminPost, world: World) -> None:
    entries_url = f"/admin/plans/{world.entry_a.plan_id}/entries"
    response = admin_post(entries_url, {"enterprise_code": "91320581MA1X2Y3Z4", "month": "2026-13"})
    assert response.status_code == 422
    assert set(_field_error(response.text)) == {"enterprise_id", "month", "item_ids"}
    assert 'value="91320581MA1X2Y3Z4"' in response.text
    # a valid code nobody has
    unknown = uscc.generate(random.Random(99))
    one_item = {"month": world.month, "item_ids": [str(world.items[0].id)]}
    response = admin_post(entries_url, {"enterprise_code": unknown, **one_item})
    assert response.status_code == 422
    assert f"No enterprise has the credit code {unknown}" in response.text
    # nothing given at all
    response = admin_post(entries_url, one_item)
    assert response.status_code == 422
    assert "Type the enterprise&#39;s credit code, or search by name" in response.text


def test_create_accounts_for_each_role(
    client: TestClient, admin_post: AdminPost, db: Session, world: World
) -> None:
    cases = [
        {"username": "mgr.alpha2", "role": "manager", "enterprise_code": world.ent_a.uscc},
        {"username": "sup.town", "role": "supervisor", "agency_id": str(world.town.id)},
        {"username": "carol", "role": "inspector", "inspector_id": str(world.carol_expired.id)},
        {"username": "admin2", "role": "admin"},
    ]
    for case in cases:
        data = {"display_name": case["username"], "password": "long-enough-pw", **case}
        response = admin_post("/admin/accounts", data)
        assert response.status_code == 303, response.text
    users = {u.username: u for u in db.scalars(select(User))}
    assert users["mgr.alpha2"].enterprise_id == world.ent_a.id
    assert users["sup.town"].agency_id == world.town.id
    assert users["carol"].inspector_id == world.carol_expired.id
    assert users["admin2"].role == Role.admin
    html = client.get("/admin/accounts").text
    assert "mgr.alpha2" in html


def test_account_refusals_keep_input_but_never_the_password(admin_post: AdminPost) -> None:
    response = admin_post(
        "/admin/accounts",
        {
            "username": "manager1",
            "display_name": "Someone",
            "password": "short-pw",
            "role": "manager",
            "enterprise_code": "NOT-A-CODE",
        },
    )
    assert response.status_code == 422
    assert set(_field_error(response.text)) == {"username", "password", "enterprise_id"}
    assert "This user name is taken." in response.text
    assert 'value="Someone"' in response.text
    assert "short-pw" not in response.text


def test_disabling_an_account_ends_its_session(
    client: TestClient, app: FastAPI, db: Session, world: World
) -> None:
    with TestClient(app, base_url="https://testserver") as victim:
        victim.headers["Accept-Language"] = "en"
        login(victim, "supervisor9")
        assert victim.get("/supervision/flags").status_code == 200
        token = login(client, "admin")
        response = client.post(
            f"/admin/accounts/{world.supervisor_other.id}/active",
            data={"active": "0", "csrf_token": token},
            follow_redirects=False,
        )
        assert response.status_code == 303
        response = victim.get("/supervision/flags", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
        sessions = db.scalars(
            select(UserSession).where(UserSession.user_id == world.supervisor_other.id)
        ).all()
        assert sessions
        assert all(s.revoked_at is not None for s in sessions)
        # enabled again, the account signs in afresh
        client.post(
            f"/admin/accounts/{world.supervisor_other.id}/active",
            data={"active": "1", "csrf_token": token},
        )
        login(victim, "supervisor9")
        assert victim.get("/supervision/flags").status_code == 200


def test_admin_cannot_disable_themselves(admin_post: AdminPost, db: Session, world: World) -> None:
    response = admin_post(f"/admin/accounts/{world.admin.id}/active", {"active": "0"})
    assert response.status_code == 409
    assert "You cannot disable your own account" in response.text
    db.rollback()
    db.expire_all()
    assert db.get(User, world.admin.id).is_active  # type: ignore[union-attr]


def test_unknown_records_answer_not_found(
    client: TestClient, admin_post: AdminPost, world: World
) -> None:
    response = admin_post(
        "/admin/plans/9999/entries",
        {
            "enterprise_code": world.ent_a.uscc,
            "month": world.month,
            "item_ids": [str(world.items[0].id)],
        },
    )
    assert response.status_code == 404
    assert "Not found" in response.text
    response = admin_post("/admin/inspectors/9999/credentials", {"number": "X-1"})
    assert response.status_code == 404
    response = admin_post("/admin/accounts/9999/active", {"active": "0"})
    assert response.status_code == 404
    assert client.get("/admin/inspectors/9999").status_code == 404
    assert client.get("/admin/plans/9999").status_code == 404


def test_form_fields_carry_their_input_attributes(client: TestClient, world: World) -> None:
    """Attributes given to the form macro arrive as attributes (escaped by `xmlattr`)."""
    login(client, "admin")
    accounts = client.get("/admin/accounts").text
    assert 'autocomplete="new-password"' in accounts
    assert 'spellcheck="false"' in accounts
    plans = client.get("/admin/plans").text
    assert 'min="2000"' in plans
    assert 'inputmode="numeric"' in plans
