"""The findings pages: the phone form (record, refuse with each field, correct), the card's
link, the record with its versions, the enterprise's notice and acknowledgement, the
supervisor's hazard list and the history block."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, login
from tests.findings.helpers import confirmed_visit, day_of, picture, results
from webapp.findings import service
from webapp.findings.models import FindingPhoto, Inspection, NoticeAcknowledgement
from webapp.visits.models import Visit


def _key(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _form_data(visit: Visit, csrf: str, key: str, **extra: str) -> dict[str, str]:
    a, b = visit.items
    due = (day_of(visit) + timedelta(days=14)).isoformat()
    data = {
        "csrf_token": csrf,
        "idempotency_key": key,
        "base_version": "0",
        f"outcome_{a.id}": "compliant",
        f"note_{a.id}": "",
        f"rectify_by_{a.id}": "",
        f"outcome_{b.id}": "major_hazard",
        f"note_{b.id}": "No gas detector at the chlorine store",
        f"rectify_by_{b.id}": due,
        "summary": "One major hazard.",
        "case_opened": "1",
        "case_number": "AJ-2026-088",
        "fine": "20,000",
    }
    data.update(extra)
    return data


def test_the_card_links_the_team_to_the_findings(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    registered = confirmed_visit(db, world, now, status="registered")
    login(client, "inspector1")
    assert (
        f'href="/visits/{visit.public_id}/findings"'
        in client.get(f"/visits/{visit.public_id}").text
    )
    assert "/findings" not in client.get(f"/visits/{registered.public_id}").text


def test_record_on_the_phone_form(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    csrf = login(client, "inspector1")
    first = client.get(f"/visits/{visit.public_id}/findings", follow_redirects=False)
    assert first.status_code == 303  # nothing recorded yet: straight to the form
    page = client.get(first.headers["location"])
    assert page.status_code == 200
    html = page.text
    a, b = visit.items
    assert f'name="outcome_{a.id}"' in html
    assert f'name="outcome_{b.id}"' in html
    assert 'enctype="multipart/form-data"' in html
    assert f'min="{(day_of(visit) + timedelta(days=1)).isoformat()}"' in html
    assert "correction_reason" not in html

    response = client.post(
        f"/visits/{visit.public_id}/findings",
        data=_form_data(visit, csrf, _key(html)),
        files=[(f"photo_{b.id}", ("detector.jpg", picture("JPEG", (1200, 900)), "image/jpeg"))],
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/visits/{visit.public_id}/findings?saved=1"
    record = client.get(response.headers["location"])
    assert "Version 1 of the findings was recorded." in record.text
    assert "No gas detector at the chlorine store" in record.text
    assert "AJ-2026-088" in record.text
    assert "20,000.00 yuan" in record.text
    db.rollback()
    inspection = db.scalars(select(Inspection)).one()
    assert inspection.fine_fen == 2_000_000
    assert inspection.case_opened
    photo = db.scalars(select(FindingPhoto)).one()
    assert f'src="/findings/photos/{photo.id}"' in record.text
    image = client.get(f"/findings/photos/{photo.id}")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"


def test_a_refused_form_shows_each_field_and_saves_nothing(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    csrf = login(client, "inspector1")
    html = client.get(f"/visits/{visit.public_id}/findings/new").text
    a, b = visit.items
    data = _form_data(visit, csrf, _key(html), fine="12abc", case_number="")
    del data[f"outcome_{a.id}"]
    data[f"rectify_by_{b.id}"] = ""
    response = client.post(
        f"/visits/{visit.public_id}/findings",
        data=data,
        files=[(f"photo_{b.id}", ("x.gif", b"GIF89a....", "image/gif"))],
    )
    assert response.status_code == 422
    text = response.text
    assert 'id="err-outcome_' in text
    assert "Choose the outcome for AQ-001" in text
    assert "Give the rectification deadline for the hazard at AQ-002." in text
    assert "A case was opened (立案): give its case number." in text
    assert "Write the fine in yuan, in figures" in text
    assert "A file chosen is not a JPEG or PNG picture." in text
    assert "Choose the photos again" in text
    assert "No gas detector at the chlorine store" in text  # what was typed stays
    assert 'value="12abc"' in text
    db.rollback()
    assert db.scalar(select(func.count()).select_from(Inspection)) == 0


def test_a_correction_needs_its_reason_and_makes_version_2(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "hazard"),
        now=now,
    )
    csrf = login(client, "inspector2")
    record = client.get(f"/visits/{visit.public_id}/findings")
    assert record.status_code == 200
    assert "Correct the findings" in record.text
    html = client.get(f"/visits/{visit.public_id}/findings/new").text
    assert 'name="base_version" value="1"' in html
    assert "Found at the tank" in html  # prefilled from version 1
    data = _form_data(visit, csrf, _key(html), base_version="1")
    refused = client.post(f"/visits/{visit.public_id}/findings", data=data)
    assert refused.status_code == 422
    assert "Version 1 is already recorded: say what this correction changes" in refused.text
    data["correction_reason"] = "Upgraded: the store holds chlorine"
    saved = client.post(f"/visits/{visit.public_id}/findings", data=data)
    assert saved.status_code == 200
    assert "Current findings (version 2)" in saved.text
    assert "Earlier versions (kept as evidence)" in saved.text
    assert "Upgraded: the store holds chlorine" in saved.text


def test_others_cannot_open_the_form(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    login(client, "supervisor1")
    response = client.get(f"/visits/{visit.public_id}/findings/new")
    assert response.status_code == 403
    record = client.get(f"/visits/{visit.public_id}/findings")
    assert record.status_code == 200
    assert "No findings recorded for this visit yet." in record.text
    client.cookies.clear()
    login(client, "inspector9")
    assert client.get(f"/visits/{visit.public_id}/findings").status_code == 404


def test_the_manager_reads_and_acknowledges_the_notice(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    inspection = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "major_hazard"),
        fine_fen=150000,
        now=now,
    )
    csrf = login(client, "manager1")
    home = client.get("/enterprise")
    assert 'hx-get="/enterprise/notices/pending"' in home.text
    pending = client.get("/enterprise/notices/pending")
    assert f"/enterprise/visits/{visit.public_id}/notice" in pending.text
    assert (
        f"/enterprise/visits/{visit.public_id}/notice"
        in client.get(f"/enterprise/visits/{visit.public_id}").text
    )
    notice = client.get(f"/enterprise/visits/{visit.public_id}/notice")
    assert notice.status_code == 200
    assert "Inspection result notice" in notice.text
    assert "Alice Li" in notice.text
    assert "Example County Bureau" in notice.text
    assert "1,500.00 yuan" in notice.text
    assert "Major hazard" in notice.text
    assert f'action="/enterprise/notices/{inspection.id}/acknowledge"' in notice.text

    response = client.post(
        f"/enterprise/notices/{inspection.id}/acknowledge",
        data={"csrf_token": csrf, "note": "Received"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    done = client.get(response.headers["location"])
    assert "Acknowledged. The agency sees your acknowledgement." in done.text
    assert "You acknowledged version 1" in done.text
    assert "None waiting." in client.get("/enterprise/notices/pending").text
    again = client.post(
        f"/enterprise/notices/{inspection.id}/acknowledge",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert again.status_code == 303
    db.rollback()
    assert db.scalar(select(func.count()).select_from(NoticeAcknowledgement)) == 1
    assert "To acknowledge" not in client.get("/enterprise/notices").text


def test_an_acknowledgement_of_a_superseded_version_goes_to_the_new_one(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    first = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "compliant"),
        now=now,
    )
    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "hazard"),
        correction_reason="Missed a hazard",
        now=now,
    )
    csrf = login(client, "manager1")
    response = client.post(
        f"/enterprise/notices/{first.id}/acknowledge",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("/notice?superseded=1")
    page = client.get(response.headers["location"])
    assert "corrected this notice meanwhile: read version 2" in page.text


def test_another_enterprise_never_sees_the_notice(
    client: TestClient, db: Session, world: World, now: datetime
) -> None:
    visit = confirmed_visit(db, world, now)
    inspection = service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(visit, "compliant", "compliant"),
        photos={visit.items[0].id: [picture("JPEG", (40, 40))]},
        now=now,
    )
    photo_id = inspection.findings[0].photos[0].id
    csrf = login(client, "manager2")
    assert client.get(f"/enterprise/visits/{visit.public_id}/notice").status_code == 404
    assert client.get(f"/findings/photos/{photo_id}").status_code == 404
    response = client.post(
        f"/enterprise/notices/{inspection.id}/acknowledge", data={"csrf_token": csrf}
    )
    assert response.status_code == 404
    assert "Alpha Chemicals" not in client.get("/enterprise/notices").text


def test_the_supervisor_pages(client: TestClient, db: Session, world: World, now: datetime) -> None:
    visit = confirmed_visit(db, world, now)
    service.record_inspection(
        db,
        actor=world.inspector1,
        public_id=visit.public_id,
        results=results(
            visit, "major_hazard", "hazard", deadline=day_of(visit) + timedelta(days=1)
        ),
        now=now,
    )
    login(client, "supervisor1")
    page = client.get("/supervision/hazards")
    assert page.status_code == 200
    assert 'href="/supervision/hazards" aria-current="page"' in page.text
    assert "Alpha Chemicals" in page.text
    assert "AQ-001" in page.text
    assert "AQ-002" not in page.text  # a general hazard: only with level=all
    assert f"/visits/new?recheck_of={visit.public_id}" in page.text
    every = client.get("/supervision/hazards?level=all", headers={"HX-Request": "true"})
    assert every.text.lstrip().startswith('<section id="hazard-results"')
    assert "AQ-002" in every.text
    later = client.get("/supervision/hazards?state=closed")
    assert "No hazards match these filters." in later.text
    assert client.get("/supervision/hazards?state=bogus").status_code == 422

    history = client.get(f"/supervision/visits/{visit.public_id}")
    assert f'hx-get="/supervision/visits/{visit.public_id}/inspections"' in history.text
    block = client.get(f"/supervision/visits/{visit.public_id}/inspections")
    assert block.status_code == 200
    assert 'data-version="1"' in block.text
    assert "Not yet acknowledged by the enterprise." in block.text

    client.cookies.clear()
    login(client, "supervisor9")
    assert "Alpha Chemicals" not in client.get("/supervision/hazards").text
    assert client.get(f"/supervision/visits/{visit.public_id}/inspections").status_code == 404
    client.cookies.clear()
    login(client, "inspector1")
    assert client.get("/supervision/hazards").status_code == 403
