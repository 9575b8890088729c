"""The scan page (GET changes nothing), the one-tap confirmation, refusals as pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.checkin.helpers import (
    code_of,
    counts,
    flags,
    forged_tokens,
    make_visit,
    path_of,
    scans,
    sign_in,
    url_of,
)
from tests.factories import PASSWORD, World, csrf_from
from webapp.clock import FixedClock
from webapp.config import Settings
from webapp.enums import FlagKind, ScanOutcome, VisitStatus
from webapp.visits.models import Visit

_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
_PASS = re.compile(r'name="pass" value="([^"]+)"')


_CONFIRM_FORM = re.compile(r'<form method="post" action="/scan".*?</form>', re.S)


def _form(html: str) -> dict[str, str]:
    """The confirm form of a scan page, as the browser would post it (its own fields only)."""
    found = _CONFIRM_FORM.search(html)
    assert found, "no confirm form on the page"
    form = found.group(0)
    key, presented = _KEY.search(form), _PASS.search(form)
    assert key
    assert presented
    return {
        "csrf_token": csrf_from(form),
        "pass": presented.group(1).replace("&amp;", "&"),
        "idempotency_key": key.group(1),
        "device_time": "",
    }


def _visit(db: Session, visit_id: int) -> Visit:
    db.rollback()  # a fresh snapshot: see what the app committed
    db.expire_all()
    found = db.get(Visit, visit_id)
    assert found is not None
    return found


# --- opening the scan URL -------------------------------------------------------------------


def test_opening_the_scan_url_changes_nothing_whoever_opens_it(
    app: FastAPI, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    paths = [
        path_of(url_of(visit, now=now, settings=settings)),
        "/scan?c=" + quote(code_of(visit, now=now, settings=settings)),
        "/scan?p=" + quote(forged_tokens(visit, now=now, settings=settings)["alg_none"]),
        "/scan?p=" + quote(forged_tokens(visit, now=now, settings=settings)["huge"]),
    ]
    viewers = []
    for who in (None, "manager1", "manager2", "inspector1", "supervisor1"):
        viewer = TestClient(app, base_url="https://testserver")
        if who:
            sign_in(viewer, who)
        viewers.append(viewer)
    before = counts(db)  # after signing in (which is itself audited)
    for viewer in viewers:
        for path in paths:
            assert viewer.get(path).status_code == 200
    assert counts(db) == before
    assert _visit(db, visit.id).status == VisitStatus.registered


def test_not_signed_in_sees_the_details_and_a_link_to_the_separate_sign_in_page(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    path = path_of(url_of(visit, now=now, settings=settings))
    page = en.get(path)
    assert page.status_code == 200
    text = page.text
    assert "Alice Li" in text
    assert "Bob Wang" in text
    assert world.alice.credentials[0].number in text
    assert 'src="data:image/png;base64,' in text  # the photos
    assert "Example County Bureau" in text
    assert "AQ-001" in text
    assert "Work Safety Law" in text  # the legal basis of each item
    assert "2026-11 plan" in text  # the plan entry
    assert 'type="password"' not in text  # a page opened from a QR code never asks for it
    assert 'name="idempotency_key"' not in text  # no confirm form for anyone not signed in
    assert "Alpha Chemicals" not in text
    login_href = "/login?next=" + quote(path, safe="")
    assert login_href.replace("&", "&amp;") in text

    # The sign-in page is a separate page and brings the manager back to the scan.
    form = en.get(login_href)
    assert 'type="password"' in form.text
    back = en.post(
        "/login",
        data={
            "username": "manager1",
            "password": PASSWORD,
            "next": path,
            "csrf_token": csrf_from(form.text),
        },
        follow_redirects=False,
    )
    assert back.status_code == 303
    assert back.headers["location"] == path


def test_own_manager_sees_the_visit_and_one_confirm_button(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    sign_in(en, "manager1")
    page = en.get(path_of(url_of(visit, now=now, settings=settings)))
    assert page.status_code == 200
    assert "A registered visit at your enterprise: Alpha Chemicals" in page.text
    assert "Confirm: these inspectors are here" in page.text
    assert page.text.count('action="/scan"') == 1
    assert 'method="post"' in page.text
    assert "<script>" not in page.text  # no inline script (CSP)
    assert 'name="device_time"' in page.text


def test_a_manager_of_another_enterprise_learns_nothing_of_the_visit(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)  # at ent_a
    sign_in(en, "manager2")
    page = en.get(path_of(url_of(visit, now=now, settings=settings)))
    assert page.status_code == 200
    assert "This pass is for a visit at another enterprise" in page.text
    for secret in ("Alpha Chemicals", "Alice Li", "AQ-001", world.ent_a.uscc):
        assert secret not in page.text
    assert "Confirm: these inspectors are here" not in page.text
    assert "Record this refused scan for the supervisor" in page.text

    # Recording it: refused, recorded, and the answer still names nothing.
    result = en.post("/scan", data=_form(page.text))
    assert result.status_code == 403
    assert "This pass is for a visit at another enterprise" in result.text
    assert "was recorded" in result.text
    assert "Alpha Chemicals" not in result.text
    assert "Alice Li" not in result.text
    [scan] = scans(db)
    assert (scan.reason_code, scan.enterprise_id) == ("wrong_enterprise", world.ent_b.id)
    assert [f.kind for f in flags(db)] == [FlagKind.refused_scan]
    assert _visit(db, visit.id).status == VisitStatus.registered


@pytest.mark.parametrize("who", ["inspector1", "supervisor1", "admin"])
def test_staff_see_the_details_but_cannot_confirm(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings, who: str
) -> None:
    visit = make_visit(db, world, now=now)
    sign_in(en, who)
    page = en.get(path_of(url_of(visit, now=now, settings=settings)))
    assert page.status_code == 200
    assert "Alice Li" in page.text
    assert "Only the enterprise's safety manager can confirm it." in page.text
    assert 'name="idempotency_key"' not in page.text

    # Posting anyway is forbidden in the service and records nothing.
    before = counts(db)
    response = en.post(
        "/scan",
        data={
            "pass": url_of(visit, now=now, settings=settings),
            "csrf_token": csrf_from(page.text),
            "idempotency_key": "x",
        },
    )
    assert response.status_code == 403
    assert counts(db) == before
    assert _visit(db, visit.id).status == VisitStatus.registered


# --- confirming -----------------------------------------------------------------------------


def test_confirm_once_then_already_confirmed_naming_time_and_person(
    en: TestClient, db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    now = clock.now()
    visit = make_visit(db, world, now=now)
    sign_in(en, "manager1")
    page = en.get(path_of(url_of(visit, now=now, settings=settings)))
    form = _form(page.text)
    form["device_time"] = "2026-11-16T00:59:58.250Z"
    confirmed = en.post("/scan", data=form)
    assert confirmed.status_code == 200
    assert "Visit confirmed" in confirmed.text
    assert "Alice Li" in confirmed.text  # the visit's details with the confirmation
    stored = _visit(db, visit.id)
    assert stored.status == VisitStatus.confirmed
    assert stored.confirmed_by_id == world.manager_a.id
    [scan] = scans(db)
    assert scan.device_time == datetime(2026, 11, 16, 0, 59, 58, 250000, tzinfo=UTC)
    assert scan.scanned_at == now

    # A colleague scans the live pass two minutes later: refused, with when and by whom.
    clock.advance(minutes=2)
    again = en.get(path_of(url_of(visit, now=clock.now(), settings=settings)))
    assert "Already confirmed at 09:00 by manager1." in again.text
    assert "Record this refused scan" not in again.text  # looking again is not a refusal
    live = url_of(visit, now=clock.now(), settings=settings)
    second = en.post("/scan", data=form | {"pass": live, "idempotency_key": "another-tap"})
    assert second.status_code == 409
    assert "Already confirmed at 09:00 by manager1." in second.text
    assert "was recorded" in second.text
    assert [s.outcome for s in scans(db)] == [ScanOutcome.confirmed, ScanOutcome.refused]


def test_a_double_tap_with_the_same_key_confirms_once_and_answers_the_same(
    en: TestClient, db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    visit = make_visit(db, world, now=clock.now())
    sign_in(en, "manager1")
    form = _form(en.get(path_of(url_of(visit, now=clock.now(), settings=settings))).text)
    first = en.post("/scan", data=form)
    clock.advance(seconds=3)
    second = en.post("/scan", data=form)
    assert first.status_code == second.status_code == 200
    assert "Visit confirmed" in second.text
    assert "Already confirmed" not in second.text
    assert len(scans(db)) == 1


def test_the_typed_short_code_works_with_spaces_and_lowercase(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    sign_in(en, "manager1")
    typed = "  " + code_of(visit, now=now, settings=settings).lower().replace("-", " ") + " "
    assert "Type the code" in en.get("/scan/enter").text
    page = en.get("/scan", params={"c": typed})
    assert "Confirm: these inspectors are here" in page.text
    result = en.post("/scan", data=_form(page.text))
    assert result.status_code == 200
    assert "Visit confirmed" in result.text
    assert scans(db)[0].presented_as == "code"


def test_an_expired_pass_is_a_plain_refusal_that_a_manager_can_record(
    en: TestClient, db: Session, world: World, clock: FixedClock, settings: Settings
) -> None:
    visit = make_visit(db, world, now=clock.now())
    screenshot = path_of(url_of(visit, now=clock.now(), settings=settings))
    clock.advance(seconds=120)
    anonymous = en.get(screenshot)
    assert "This code has expired: ask the inspector to show the live code." in anonymous.text
    assert "Alice Li" not in anonymous.text
    assert 'name="idempotency_key"' not in anonymous.text

    sign_in(en, "manager1")
    page = en.get(screenshot)
    assert "This code has expired" in page.text
    assert "Record this refused scan for the supervisor" in page.text
    assert counts(db) == (0, counts(db)[1], 0)
    result = en.post("/scan", data=_form(page.text))
    assert result.status_code == 400
    assert "This code has expired" in result.text
    [scan] = scans(db)
    assert (scan.reason_code, scan.visit_id) == ("pass_expired", visit.id)
    assert [f.kind for f in flags(db)] == [FlagKind.refused_scan]


@pytest.mark.parametrize(
    "kind",
    [
        "flipped_signature",
        "other_secret",
        "alg_none",
        "missing_claims",
        "huge",
        "garbage",
        "rs256_header",
        "bad_short_code",
        "unknown_visit_url",
    ],
)
def test_forged_passes_are_refused_as_pages_never_a_500(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings, kind: str
) -> None:
    visit = make_visit(db, world, now=now)
    forged = forged_tokens(visit, now=now, settings=settings)[kind]
    page = en.get("/scan", params={"c": forged} if "." not in forged else {"p": forged})
    assert page.status_code == 200
    assert "This is not a valid pass" in page.text
    assert "Alice Li" not in page.text
    csrf = sign_in(en, "manager1")
    response = en.post("/scan", data={"pass": forged, "csrf_token": csrf, "idempotency_key": kind})
    assert response.status_code == 400
    assert "This is not a valid pass" in response.text
    [scan] = scans(db)
    assert (scan.reason_code, scan.visit_id) == ("pass_invalid", None)
    assert _visit(db, visit.id).status == VisitStatus.registered


def test_cancelled_and_outside_window_are_refused_in_plain_words(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    cancelled = make_visit(db, world, now=now, status=VisitStatus.cancelled)
    later = make_visit(
        db, world, now=now, window=(now + timedelta(hours=5), now + timedelta(hours=8))
    )
    csrf = sign_in(en, "manager1")
    page = en.get(path_of(url_of(cancelled, now=now, settings=settings)))
    assert "This visit was cancelled" in page.text
    page = en.get(path_of(url_of(later, now=now, settings=settings)))
    assert (
        "This visit is not registered for this time: its time window is 14:00 – 17:00." in page.text
    )
    for visit, status, code in (
        (cancelled, 409, "visit_cancelled"),
        (later, 409, "outside_window"),
    ):
        response = en.post(
            "/scan",
            data={
                "pass": url_of(visit, now=now, settings=settings),
                "csrf_token": csrf,
                "idempotency_key": code,
            },
        )
        assert response.status_code == status
        assert f'data-code="{code}"' in response.text
    assert [s.reason_code for s in scans(db)] == ["visit_cancelled", "outside_window"]
    assert len(flags(db)) == 2


def test_a_cross_site_post_is_refused_and_records_nothing(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    sign_in(en, "manager1")
    form = _form(en.get(path_of(url_of(visit, now=now, settings=settings))).text)
    before = counts(db)
    response = en.post("/scan", data=form, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    missing_token = en.post("/scan", data={**form, "csrf_token": "forged"})
    assert missing_token.status_code == 403
    assert counts(db) == before
    assert _visit(db, visit.id).status == VisitStatus.registered


def test_posting_without_signing_in_records_nothing(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    visit = make_visit(db, world, now=now)
    response = en.post(
        "/scan", data={"pass": url_of(visit, now=now, settings=settings)}, follow_redirects=False
    )
    assert response.status_code in (303, 403)
    assert counts(db) == (0, 0, 0)


def test_extra_visit_waiting_for_approval_is_shown_but_not_confirmed(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    from webapp.enums import ExtraReason

    visit = make_visit(
        db, world, now=now, extra=ExtraReason.complaint, registered_at=now - timedelta(minutes=5)
    )
    sign_in(en, "manager1")
    before = counts(db)
    page = en.get(path_of(url_of(visit, now=now, settings=settings)))
    assert "Complaint or hotline report" in page.text
    assert "Pending approval" in page.text
    assert 'data-code="approval_pending"' in page.text
    assert "has not been approved by a supervisor yet" in page.text
    assert "Alice Li" in page.text  # who is at the gate, for the manager to check
    assert counts(db) == before  # looking writes nothing
    # The manager may still record the refused scan for the supervisor.
    recorded = en.post("/scan", data=_form(page.text))
    assert recorded.status_code == 409
    assert "Scan refused" in recorded.text
    assert [f.kind.value for f in flags(db)] == ["refused_scan"]
    assert all(f.visit_id == visit.id for f in flags(db))


def test_a_browser_post_with_origin_null_counts_as_same_site_only_when_the_browser_says_so(
    en: TestClient, db: Session, world: World, now: datetime, settings: Settings
) -> None:
    """Under `Referrer-Policy: no-referrer` Chromium sends `Origin: null` on same-origin form
    posts; only its own Sec-Fetch-Site header can then vouch for the request."""
    visit = make_visit(db, world, now=now)
    sign_in(en, "manager1")
    form = _form(en.get(path_of(url_of(visit, now=now, settings=settings))).text)
    for headers in (
        {"Origin": "null"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null", "Sec-Fetch-Site": "same-site"},
    ):
        assert en.post("/scan", data=form, headers=headers).status_code == 403
    assert counts(db)[0] == 0
    same = en.post("/scan", data=form, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200
    assert "Visit confirmed" in same.text
