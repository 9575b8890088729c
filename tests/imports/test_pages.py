"""The import pages as an administrator uses them: templates, upload, the check page,
Apply, the progress fragment; refusals for other roles and for files that are not
spreadsheets."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import World, login
from tests.imports.helpers import codes, csv_bytes, enterprise_rows, wrong_check, xlsx_bytes
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportKind, ImportStatus
from webapp.imports import readers, service
from webapp.imports.models import ImportBatch
from webapp.plans.models import PlanEntry

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _upload(
    client: TestClient,
    token: str,
    data: bytes,
    *,
    kind: str = "enterprises",
    name: str = "enterprises.xlsx",
    **fields: str,
) -> httpx.Response:
    response: httpx.Response = client.post(
        "/admin/imports",
        data={"kind": kind, "csrf_token": token, **fields},
        files={"file": (name, data, XLSX)},
        follow_redirects=False,
    )
    return response


def _batch_id(response: httpx.Response) -> int:
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/admin/imports/(\d+)", response.headers["location"])
    assert match
    return int(match.group(1))


def _enterprises(db: Session) -> int:
    db.rollback()  # a fresh snapshot: the app wrote through its own connection
    return db.scalar(select(func.count()).select_from(Enterprise)) or 0


def test_upload_check_apply(client: TestClient, db: Session, world: World) -> None:
    token = login(client, "admin")
    assert 'href="/admin/imports"' in client.get("/admin").text
    before = _enterprises(db)
    rows = enterprise_rows(world.county.code, 3)
    data = xlsx_bytes(rows)  # once: an XLSX file carries the time it was written
    batch_id = _batch_id(_upload(client, token, data))

    page = client.get(f"/admin/imports/{batch_id}")
    assert page.status_code == 200
    assert "3 rows: 3 to add, 0 to change, 0 already as in the file." in page.text
    assert str(rows[1][0]) in page.text  # a sample of what is added
    assert f'action="/admin/imports/{batch_id}/apply"' in page.text
    assert _enterprises(db) == before

    applied = client.post(
        f"/admin/imports/{batch_id}/apply", data={"csrf_token": token}, follow_redirects=False
    )
    assert applied.status_code == 303
    assert _enterprises(db) == before + 3
    done = client.get(f"/admin/imports/{batch_id}").text
    assert "Applied: 3 added, 0 changed." in done
    assert "/apply" not in done
    listing = client.get("/admin/imports").text
    assert f'href="/admin/imports/{batch_id}"' in listing
    assert "Applied" in listing

    # Applying twice is refused; the same file again has nothing to change.
    twice = client.post(f"/admin/imports/{batch_id}/apply", data={"csrf_token": token})
    assert twice.status_code == 409
    again = _batch_id(_upload(client, token, data))
    second = client.get(f"/admin/imports/{again}").text
    assert "Nothing to change" in second
    assert f"This same file was applied before: import #{batch_id}" in second


def test_a_bad_file_lists_every_problem(client: TestClient, db: Session, world: World) -> None:
    token = login(client, "admin")
    rows = enterprise_rows(world.county.code, 2)
    bad, expected = wrong_check(str(rows[2][0]))
    rows[2][0] = bad
    batch_id = _batch_id(_upload(client, token, csv_bytes(rows), name="e.csv"))
    page = client.get(f"/admin/imports/{batch_id}").text
    assert "Nothing was imported: 1 problem." in page
    assert (
        f"The check character is wrong: with these first 17 characters it must be "
        f"&#39;{expected}&#39;" in page
    )
    assert '<td data-label="Line">3</td>' in page
    assert "统一社会信用代码 / Credit code" in page
    assert "/apply" not in page


@pytest.mark.parametrize(
    ("data", "name", "status", "message"),
    [
        (b"\x89PNG\r\n\x1a\n", "photo.png", 422, "Upload an Excel workbook (.xlsx) or a CSV file"),
        (b"PK\x03\x04garbage", "e.xlsx", 422, "cannot be read as an Excel workbook"),
        (b"", "e.csv", 422, "The file is empty."),
    ],
)
def test_files_that_are_not_spreadsheets_come_back_with_a_reason(
    client: TestClient, db: Session, world: World, data: bytes, name: str, status: int, message: str
) -> None:
    token = login(client, "admin")
    response = _upload(client, token, data, name=name)
    assert response.status_code == status
    assert message in response.text
    assert 'id="err-file"' in response.text
    db.rollback()
    assert db.scalar(select(func.count()).select_from(ImportBatch)) == 0


def test_a_file_over_the_size_limit(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "MAX_BYTES", 100)
    token = login(client, "admin")
    response = _upload(client, token, b"x" * 500, name="big.csv")
    assert response.status_code == 413
    assert "larger than" in response.text


def test_missing_choices_are_asked_for(client: TestClient, world: World) -> None:
    token = login(client, "admin")
    response = client.post("/admin/imports", data={"kind": "nonsense", "csrf_token": token})
    assert response.status_code == 422
    assert 'id="err-kind"' in response.text
    assert 'id="err-file"' in response.text
    plan = _upload(client, token, csv_bytes([["a"]]), kind="monthly_plan", name="p.csv")
    assert plan.status_code == 422
    assert 'id="err-agency_id"' in plan.text


def test_plan_upload_shows_its_plan_hygiene_warning_before_applying(
    client: TestClient, db: Session, world: World
) -> None:
    token = login(client, "admin")
    rows: list[list[object]] = [
        ["Credit code", "Month", "Item codes"],
        [world.ent_a.uscc, "12", "AQ-001"],
        [world.ent_a.uscc, "12", "AQ-002"],
    ]
    response = _upload(
        client,
        token,
        xlsx_bytes(rows),
        kind="monthly_plan",
        agency_id=str(world.county.id),
        year="2026",
    )
    page = client.get(f"/admin/imports/{_batch_id(response)}").text
    assert "Plan hygiene: merge proposed" in page
    assert "puts Alpha Chemicals into 2026-12 2 times (rows 2, 3 of the file)" in page
    assert "Plan 2026-12 will be created: 2 rows" in page


def test_large_files_apply_in_the_background_and_the_page_polls(
    client: TestClient, db: Session, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BACKGROUND_ROWS", 1)
    token = login(client, "admin")
    before = _enterprises(db)
    batch_id = _batch_id(_upload(client, token, xlsx_bytes(enterprise_rows(world.county.code, 3))))
    applied = client.post(
        f"/admin/imports/{batch_id}/apply", data={"csrf_token": token}, follow_redirects=False
    )
    assert applied.status_code == 303
    # The test client runs the background task before it returns.
    assert _enterprises(db) == before + 3
    fragment = client.get(f"/admin/imports/{batch_id}/progress", headers={"HX-Request": "true"})
    assert fragment.headers.get("HX-Refresh") == "true"  # done: reload the page
    assert "hx-trigger" not in fragment.text
    assert "3 of 3 rows applied" in fragment.text


def test_progress_fragment_polls_while_applying(
    client: TestClient, db: Session, world: World, now: object
) -> None:
    token = login(client, "admin")
    batch_id = _batch_id(_upload(client, token, xlsx_bytes(enterprise_rows(world.county.code, 2))))
    db.rollback()
    service.start_apply(db, actor=world.admin, batch_id=batch_id, now=world.admin.created_at)
    page = client.get(f"/admin/imports/{batch_id}").text
    assert 'hx-get="/admin/imports/' in page
    fragment = client.get(f"/admin/imports/{batch_id}/progress", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert 'hx-trigger="every 1s"' in fragment.text
    assert '<progress max="2" value="0">' in fragment.text
    assert "HX-Refresh" not in fragment.headers
    assert token


def test_a_stale_batch_is_refused_on_the_page(
    client: TestClient, db: Session, world: World
) -> None:
    token = login(client, "admin")
    rows = enterprise_rows(world.county.code, 1)
    first = _batch_id(_upload(client, token, xlsx_bytes(rows)))
    client.post(f"/admin/imports/{first}/apply", data={"csrf_token": token})
    rows[1][1] = "Changed in the file"
    second = _batch_id(_upload(client, token, xlsx_bytes(rows)))
    db.rollback()
    ent = db.scalar(select(Enterprise).where(Enterprise.uscc == rows[1][0]))
    assert ent is not None
    ent.name = "Changed meanwhile"
    db.commit()
    refused = client.post(f"/admin/imports/{second}/apply", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "The data changed after this file was checked" in refused.text
    assert "Upload the file again" in refused.text
    db.rollback()
    batch = db.get(ImportBatch, second)
    assert batch is not None
    assert batch.status == ImportStatus.failed


def test_discard(client: TestClient, db: Session, world: World) -> None:
    token = login(client, "admin")
    batch_id = _batch_id(_upload(client, token, xlsx_bytes(enterprise_rows(world.county.code, 1))))
    response = client.post(
        f"/admin/imports/{batch_id}/discard", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    db.rollback()
    batch = db.get(ImportBatch, batch_id)
    assert batch is not None
    assert batch.status == ImportStatus.discarded
    assert (
        client.post(f"/admin/imports/{batch_id}/apply", data={"csrf_token": token}).status_code
        == 409
    )


@pytest.mark.parametrize("kind", list(ImportKind))
def test_templates_download_in_both_formats_with_bilingual_headers(
    client: TestClient, world: World, kind: ImportKind
) -> None:
    login(client, "admin")
    xlsx = client.get(f"/admin/imports/template/{kind.value}.xlsx")
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"] == XLSX
    assert f'filename="{kind.value}-template.xlsx"' in xlsx.headers["content-disposition"]
    csv = client.get(f"/admin/imports/template/{kind.value}.csv")
    assert csv.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens it as UTF-8
    sheet = readers.read_sheet(xlsx.content, "t.xlsx")
    assert sheet.headers == readers.read_sheet(csv.content, "t.csv").headers
    assert all(" / " in h for h in sheet.headers)
    assert len(sheet.rows) == 1  # the example row


def test_unknown_template(client: TestClient, world: World) -> None:
    login(client, "admin")
    assert client.get("/admin/imports/template/visits.xlsx").status_code == 404
    assert client.get("/admin/imports/template/enterprises.pdf").status_code == 404


def test_template_round_trip_download_fill_import(
    client: TestClient, db: Session, world: World
) -> None:
    """Download the plan template, fill it in Excel's way (keep the header, replace the
    example row), upload it."""
    token = login(client, "admin")
    data = client.get("/admin/imports/template/enterprises.xlsx").content
    import io

    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    [new_code] = codes(1)
    values = [
        new_code,
        "Round Trip Ltd",
        "1 Road",
        "chemicals",
        "危险化学品",
        "二级",
        world.county.code,
    ]
    for column, value in enumerate(values, start=1):
        sheet.cell(row=2, column=column, value=value)
    out = io.BytesIO()
    workbook.save(out)
    batch_id = _batch_id(_upload(client, token, out.getvalue()))
    page = client.get(f"/admin/imports/{batch_id}").text
    assert "1 rows: 1 to add" in page, page
    client.post(f"/admin/imports/{batch_id}/apply", data={"csrf_token": token})
    db.rollback()
    made = db.scalar(select(Enterprise).where(Enterprise.uscc == new_code))
    assert made is not None
    assert (made.risk_grade, made.industry) == ("2", "chemicals")

    plan = client.get("/admin/imports/template/monthly_plan.csv").content.decode("utf-8-sig")
    filled = plan.splitlines()[0] + f"\r\n{new_code},Round Trip Ltd,2026-12,AQ-001;AQ-003,\r\n"
    response = _upload(
        client,
        token,
        filled.encode("gb18030"),
        kind="monthly_plan",
        name="plan.csv",
        agency_id=str(world.county.id),
    )
    plan_batch = _batch_id(response)
    client.post(f"/admin/imports/{plan_batch}/apply", data={"csrf_token": token})
    db.rollback()
    entry = db.scalar(select(PlanEntry).where(PlanEntry.enterprise_id == made.id))
    assert entry is not None
    assert (entry.month, [i.code for i in entry.items]) == ("2026-12", ["AQ-001", "AQ-003"])


@pytest.mark.parametrize("username", ["supervisor1", "inspector1", "manager1"])
def test_import_pages_are_for_the_admin_only(
    client: TestClient, world: World, username: str
) -> None:
    token = login(client, username)
    for url in ("/admin/imports", "/admin/imports/new", "/admin/imports/template/items.csv"):
        assert client.get(url).status_code == 403, url
    response = _upload(client, token, csv_bytes(enterprise_rows(world.county.code, 1)))
    assert response.status_code == 403


def test_signed_out_users_are_sent_to_sign_in(client: TestClient, world: World) -> None:
    response = client.get("/admin/imports", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
