"""One month of one county, end to end over HTTP: the administrator loads the item list,
the enterprises, the inspectors and the monthly plan from spreadsheets (one bad file refused
row by row first); the plan's double entry is flagged with the merge proposed; inspectors
register planned and extra visits, the rules speak; safety managers confirm (one stale pass
refused); findings are recorded and acknowledged, a major hazard is re-checked and rectified;
a window passes unconfirmed; and when the month is over the supervisor's coverage and monthly
report (page, API, XLSX) show exactly what happened."""

from __future__ import annotations

import io
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import PASSWORD, login, make_user
from webapp.agencies.models import Agency, Inspector
from webapp.clock import FixedClock
from webapp.enterprises import uscc
from webapp.enterprises.models import Enterprise
from webapp.enums import FlagKind, Role
from webapp.supervision import service as supervision_service
from webapp.supervision.models import Flag
from webapp.web import tz

MONTH = "2026-12"


def local(day: int, hour: int, minute: int = 0, month: int = 12, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz()).astimezone(UTC)


class Admin:
    """The administrator's browser: sign in once, upload files, apply them."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = login(client, "admin")

    def agency(self, name: str, code: str, level: str, parent_id: str = "") -> None:
        response = self.client.post(
            "/admin/agencies",
            data={
                "name": name,
                "code": code,
                "level": level,
                "parent_id": parent_id,
                "csrf_token": self.csrf,
            },
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text

    def upload(self, kind: str, name: str, data: bytes, **fields: str) -> httpx.Response:
        response: httpx.Response = self.client.post(
            "/admin/imports",
            data={"kind": kind, "csrf_token": self.csrf, **fields},
            files={"file": (name, data, "text/csv")},
            follow_redirects=True,
        )
        return response

    def load(self, kind: str, name: str, data: bytes, **fields: str) -> str:
        """Upload, check, apply; the check page's text (the diff) is returned."""
        page = self.upload(kind, name, data, **fields)
        assert page.status_code == 200, page.text
        match = re.search(r'action="(/admin/imports/\d+/apply)"', page.text)
        assert match, page.text
        applied = self.client.post(match.group(1), data={"csrf_token": self.csrf})
        assert applied.status_code == 200, applied.text
        return page.text


def csv(rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    return "\n".join(",".join(r) for r in rows).encode(encoding)


def token(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", "Accept-Language": "en"}


def test_one_month_of_one_county(client: TestClient, db: Session, clock: FixedClock) -> None:
    clock.at = local(1, 8)  # Tuesday 1 December, 08:00 in the county
    now = clock.now()
    make_user(db, role=Role.admin, username="admin", now=now)
    db.commit()
    admin = Admin(client)

    # --- reference data and the plan, from spreadsheets ---------------------------------
    admin.agency("Lakeside County Bureau", "LC", "county")
    county = db.scalars(select(Agency).where(Agency.code == "LC")).one()
    admin.agency("Reed Town Office", "LC-R", "town", str(county.id))
    admin.agency("Hill County Bureau", "HC", "county")

    admin.load(
        "items",
        "items.csv",
        csv(
            [
                ["Code", "Title", "Legal basis", "Description", "Max per year", "Field"],
                ["AQ-01", "Safety management", "Work Safety Law art. 21", "", "", ""],
                ["AQ-02", "Hazardous chemicals storage", "Regulation art. 24", "", "2", "hazchem"],
                ["AQ-03", "Emergency exits", "Work Safety Law art. 42", "", "", ""],
            ]
        ),
    )
    rng = random.Random(7)
    codes = [uscc.generate(rng) for _ in range(4)]
    names = ["Lakeside Chemicals", "Reed Paper", "Lakeside Foundry", "Quiet Textiles"]
    header = ["Credit code", "Name", "Address", "Industry", "Class", "Risk grade", "Agency code"]
    rows = [
        [codes[0], names[0], "1 Lake Road", "chemicals", "hazchem_metallurgy", "2", "LC"],
        [codes[1], names[1], "2 Reed Lane", "paper", "other", "3", "LC"],
        [codes[2], names[2], "3 Lake Road", "metals", "hazchem_metallurgy", "1", "LC"],
        [codes[3], names[3], "4 Hill Street", "textiles", "other", "none", "LC"],
    ]
    bad = [*rows[:2], [codes[2][:17] + ("0" if codes[2][17] != "0" else "1"), *rows[2][1:]]]
    refused = admin.upload("enterprises", "enterprises.csv", csv([header, *bad]))
    problem = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", refused.text))
    # The line, the column, and the check character expected.
    assert f" 4 Credit code 校验码错误：按前 17 位计算，最后一位应为“{codes[2][17]}”" in problem
    assert db.scalar(select(Enterprise).where(Enterprise.uscc == codes[0])) is None  # none
    admin.load("enterprises", "enterprises.csv", csv([header, *rows]))

    admin.load(
        "inspectors",
        "inspectors.csv",
        csv(
            [
                [
                    "Name",
                    "Agency code",
                    "Credential number",
                    "Valid from",
                    "Valid until",
                    "Status",
                    "Fields",
                ],
                ["李明", "LC", "LC-0001", "2024-01-01", "2028-12-31", "有效", "hazchem general"],
                ["王芳", "LC", "LC-0002", "2024-01-01", "2028-12-31", "有效", "hazchem general"],
                ["赵强", "LC", "LC-0003", "2024-01-01", "2028-12-31", "有效", "general"],
                ["陈静", "LC-R", "LCR-0001", "2024-01-01", "2028-12-31", "有效", "general"],
                ["刘洋", "LC-R", "LCR-0002", "2024-01-01", "2028-12-31", "有效", "general"],
            ],
            encoding="gb18030",  # what offices still export
        ),
    )
    plan_rows = [
        ["Credit code", "Month", "Item codes", "Note"],
        [codes[0], MONTH, "AQ-01;AQ-02", ""],
        [codes[1], MONTH, "AQ-01、AQ-03", ""],
        [codes[2], MONTH, "AQ-01", ""],
        [codes[2], MONTH, "AQ-03", "second section"],  # the same enterprise twice
    ]
    diff = admin.load("monthly_plan", "plan.csv", csv(plan_rows), agency_id=str(county.id))
    assert names[2] in diff  # the double entry is shown before applying
    again = admin.upload("monthly_plan", "plan.csv", csv(plan_rows), agency_id=str(county.id))
    assert "apply" not in again.text.lower() or "0" in again.text  # nothing new to apply
    db.rollback()
    duplicate = db.scalars(select(Flag).where(Flag.kind == FlagKind.plan_duplicate)).all()
    assert len(duplicate) == 1
    assert duplicate[0].plan_entry_id is not None

    # --- accounts (people, not spreadsheet rows) ------------------------------------------
    people = {i.name: i for i in db.scalars(select(Inspector))}
    firms = {e.name: e for e in db.scalars(select(Enterprise))}
    make_user(db, role=Role.inspector, username="li", inspector=people["李明"], now=now)
    make_user(db, role=Role.inspector, username="zhao", inspector=people["赵强"], now=now)
    make_user(db, role=Role.inspector, username="chen", inspector=people["陈静"], now=now)
    for i, name in enumerate(names[:3]):
        make_user(db, role=Role.manager, username=f"m{i}", enterprise=firms[name], now=now)
    make_user(db, role=Role.supervisor, username="sup", agency=county, now=now)
    db.commit()

    # Bearer tokens last 12 hours: each step of the month signs in afresh.
    def li() -> dict[str, str]:
        return token(client, "li")

    def zhao() -> dict[str, str]:
        return token(client, "zhao")

    def chen() -> dict[str, str]:
        return token(client, "chen")

    def sup() -> dict[str, str]:
        return token(client, "sup")

    def manager(i: int) -> dict[str, str]:
        return token(client, f"m{i}")

    listed = client.get(f"/api/v1/plan-entries?month={MONTH}", headers=li())
    assert listed.status_code == 200, listed.text
    entries = listed.json()
    entry = {(e["enterprise"]["name"], len(e["items"])): e for e in entries}

    def register(who: dict[str, str], body: dict[str, Any], key: str) -> dict[str, Any]:
        response = client.post("/api/v1/visits", headers={**who, "Idempotency-Key": key}, json=body)
        assert response.status_code == 201, (response.text, who, key)
        result: dict[str, Any] = response.json()
        return result

    def window(day: int) -> dict[str, str]:
        return {"window_start": local(day, 9).isoformat(), "window_end": local(day, 12).isoformat()}

    def confirm(manager: dict[str, str], visit: dict[str, Any], team: dict[str, str]) -> Any:
        pass_url = client.get(f"/api/v1/visits/{visit['public_id']}/pass", headers=team).json()
        return client.post("/api/v1/checkins", headers=manager, json={"pass": pass_url["url"]})

    # Visit 1: Lakeside Chemicals, planned; 王芳 (no account) goes with 李明.
    chem = entry[(names[0], 2)]
    v1 = register(
        li(),
        {
            "enterprise_id": firms[names[0]].id,
            "plan_entry_id": chem["id"],
            "co_inspector_ids": [people["王芳"].id],
            **window(3),
        },
        "v1",
    )
    assert v1["status"] == "registered"
    # Visit 2: the town office registers the same enterprise in the same month: the rules
    # offer to merge with visit 1 (a joint visit) before anyone goes.
    v2 = register(
        chen(),
        {
            "enterprise_id": firms[names[0]].id,
            "extra_reason": "special_campaign",
            "extra_reason_text": "Winter hazardous chemicals campaign",
            "co_inspector_ids": [people["刘洋"].id],
            "item_ids": [chem["items"][0]["id"]],
            **window(4),
        },
        "v2",
    )
    spoken = {f["rule"] for f in v2["findings"]}
    assert {"merge.candidate", "extra.needs_approval"} <= spoken

    # The 3rd: a short-notice planned visit at Reed Paper by 赵强 (fields: general only) with
    # the hazchem-free items: no field warning.
    clock.at = local(3, 8)
    paper = entry[(names[1], 2)]
    v3 = register(
        zhao(),
        {
            "enterprise_id": firms[names[1]].id,
            "plan_entry_id": paper["id"],
            "co_inspector_ids": [people["李明"].id],
            **window(3),
        },
        "v3",
    )
    assert "credentials.field" not in {f["rule"] for f in v3["findings"]}

    # Confirmations at the gate on the 3rd.
    clock.at = local(3, 9, 30)
    assert confirm(manager(0), v1, li()).status_code == 201
    stale = client.get(f"/api/v1/visits/{v3['public_id']}/pass", headers=zhao()).json()["url"]
    clock.at = local(3, 10, 30)
    refused = client.post("/api/v1/checkins", headers=manager(1), json={"pass": stale})
    assert refused.status_code == 400
    assert refused.json()["code"] == "pass_expired"
    assert confirm(manager(1), v3, zhao()).status_code == 201

    # Visit 2 (extra) is refused at the gate until the supervisor approves it.
    clock.at = local(4, 9, 15)
    gate = confirm(manager(0), v2, chen())
    assert gate.json()["code"] == "approval_pending"
    decided = client.post(
        f"/api/v1/visits/{v2['public_id']}/decision",
        headers=sup(),
        json={"decision": "approved", "note": "Campaign approved by the bureau"},
    )
    assert decided.status_code == 200, decided.text
    assert confirm(manager(0), v2, chen()).status_code == 201

    # Findings of visit 1: a hazard and a major hazard, a case opened with a fine.
    items = {i["code"]: i["id"] for i in chem["items"]}
    recorded = client.post(
        f"/api/v1/visits/{v1['public_id']}/inspection",
        headers=li(),
        json={
            "results": [
                {
                    "item_id": items["AQ-01"],
                    "outcome": "hazard",
                    "note": "No safety officer",
                    "rectify_by": "2026-12-15",
                },
                {
                    "item_id": items["AQ-02"],
                    "outcome": "major_hazard",
                    "note": "Incompatible chemicals stored together",
                    "rectify_by": "2026-12-10",
                },
            ],
            "summary": "Two hazards found",
            "case_opened": True,
            "case_number": "LC-2026-118",
            "fine_fen": 3_000_000,
        },
    )
    assert recorded.status_code == 201, recorded.text
    inspection_id = recorded.json()["id"]
    ack = client.post(
        f"/api/v1/inspections/{inspection_id}/acknowledge", headers=manager(0), json={}
    )
    assert ack.status_code == 201, ack.text

    # Visit 4: Lakeside Foundry, registered for the 8th and never confirmed.
    foundry = entry[(names[2], 1)]
    clock.at = local(5, 10)
    v4 = register(
        li(),
        {
            "enterprise_id": firms[names[2]].id,
            "plan_entry_id": foundry["id"],
            "co_inspector_ids": [people["王芳"].id],
            **window(8),
        },
        "v4",
    )
    # The re-check of the major hazard on the 9th, by the same team: rectified.
    clock.at = local(8, 16)
    recheck = register(
        li(),
        {
            "enterprise_id": firms[names[0]].id,
            "recheck_of": v1["public_id"],
            "extra_reason_text": "Re-check of the ordered rectification",
            "co_inspector_ids": [people["王芳"].id],
            "item_ids": [items["AQ-02"]],
            **window(9),
        },
        "v5",
    )
    assert recheck["extra_reason"] == "recheck"
    client.post(
        f"/api/v1/visits/{recheck['public_id']}/decision",
        headers=sup(),
        json={"decision": "approved", "note": "Re-check"},
    )
    clock.at = local(9, 10)
    assert confirm(manager(0), recheck, li()).status_code == 201
    original = client.get(f"/api/v1/visits/{v1['public_id']}/inspection", headers=li()).json()
    major = next(f for f in original["current"]["findings"] if f["outcome"] == "major_hazard")
    rechecked = client.post(
        f"/api/v1/visits/{recheck['public_id']}/inspection",
        headers=li(),
        json={
            "results": [{"item_id": items["AQ-02"], "outcome": "compliant"}],
            "rectifications": [
                {"finding_id": major["id"], "outcome": "rectified", "note": "Separated"}
            ],
        },
    )
    assert rechecked.status_code == 201, rechecked.text

    # The background sweep after the 8th: visit 4's window passed unconfirmed.
    db.rollback()
    swept = supervision_service.sweep_unconfirmed(db, now=local(9, 12))
    assert swept == 1
    unconfirmed = db.scalars(
        select(Flag).where(Flag.kind == FlagKind.window_passed_unconfirmed)
    ).one()
    assert unconfirmed.visit is not None
    assert unconfirmed.visit.public_id == v4["public_id"]

    # --- the month is over: coverage and the monthly report ------------------------------
    clock.at = local(2, 10, month=1, year=2027)
    coverage = client.get(f"/api/v1/supervision/coverage?month={MONTH}", headers=sup()).json()
    assert coverage["closed"] is True
    total = coverage["total"]
    assert total["planned"] == 4  # the double entry is two entries until merged
    assert total["done"] == 2  # chemicals and paper
    assert total["missed"] == 2  # the foundry's two entries: registered, never confirmed
    assert total["extra_approved"] == 2  # the re-check, and the town's campaign visit

    report = client.get(f"/api/v1/supervision/report?month={MONTH}", headers=sup()).json()
    assert [r["unit"]["agency_code"] for r in report["rows"]] == ["LC", "LC-R"]
    own = report["rows"][0]["figures"]
    assert own["inspections"] == 3  # v1, v3 and the re-check
    assert own["enterprises"] == 2
    assert own["hazards"] == 2
    assert own["major_hazards"] == 1
    assert own["rectified_on_time"] == 1  # the major hazard, re-checked before its deadline
    assert own["cases"] == 1
    assert own["fines_yuan"] == 30_000
    assert own["extra"] == 1
    assert own["unconfirmed"] == 1
    assert own["refused_scans"] == 1  # the stale pass at Reed Paper
    town = report["rows"][1]["figures"]
    assert town["inspections"] == 1  # the campaign visit
    assert town["extra"] == 1
    assert town["refused_scans"] == 1  # its pass refused until the approval

    # The same figures on the page and in the spreadsheet the bureau circulates.
    login(client, "sup")
    page = client.get(f"/supervision/report?month={MONTH}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert "Lakeside County Bureau" in page.text
    assert "<svg" in page.text
    xlsx = client.get(f"/supervision/report.xlsx?month={MONTH}")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert any("Lakeside County Bureau" in str(v) for row in values for v in row)
    assert 3 in [v for row in values for v in row]  # the county's inspections

    # The supervisor's flag list holds every irregularity of the month.
    db.rollback()
    kinds = {f.kind for f in db.scalars(select(Flag))}
    assert {
        FlagKind.plan_duplicate,
        FlagKind.refused_scan,
        FlagKind.window_passed_unconfirmed,
        FlagKind.merge_candidate,
    } <= kinds
    assert timedelta(0) < clock.now() - local(1, 8)
