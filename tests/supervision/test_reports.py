"""The monthly report (月通报): every figure against a hand-built month, the drill-down lists
behind them, ranking, scope, month boundaries, the chart, the exports and the API."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from tests.factories import World, api_token, login, make_visit
from tests.supervision.report_helpers import (
    LATER,
    MONTH,
    Month,
    build_month,
    local,
    record_inspection,
    rectify,
)
from webapp.auth.models import User
from webapp.clock import FixedClock
from webapp.enums import FindingOutcome
from webapp.errors import DomainError
from webapp.supervision import reports
from webapp.supervision.report_chart import build_chart, nice_step
from webapp.supervision.reports import Figures, Scope


@pytest.fixture
def month(db: Session, world: World, now: datetime) -> Month:
    return build_month(db, world, now)


def _rows(report: reports.MonthlyReport) -> dict[str, reports.ReportRow]:
    return {row.unit.name: row for row in report.rows}


# --- figures -------------------------------------------------------------------------------------


def test_every_figure_per_unit_and_in_the_total(db: Session, world: World, month: Month) -> None:
    report = reports.monthly_report(db, actor=world.supervisor, month=MONTH, now=LATER)
    rows = _rows(report)
    assert [r.unit.name for r in report.rows] == ["Example County Bureau", "Example Town Office"]
    county, town = rows["Example County Bureau"], rows["Example Town Office"]
    assert county.unit.scope == Scope.own
    assert town.unit.scope == Scope.tree
    # County: planned + joint (alice on the town's team) + complaint + campaign (30 Nov 23:30).
    assert county.figures == Figures(
        inspections=4,
        enterprises=3,  # Alpha twice, Beta, Gamma
        extra=2,  # the complaint (case-driven) and the campaign
        unconfirmed=3,  # pending, rejected, entry E's: not the cancelled one
        cases=2,  # planned and complaint; the joint visit's case would be the town's
        fines_fen=500_000,
        hazards=3,  # planned: hazard + major hazard; joint: the item the county covered
        major_hazards=1,
        rectified_on_time=1,  # 20 Nov 23:30 local on a 20 Nov deadline; the major one was late
        refused_scans=1,  # the December one is December's
        unregistered_reports=0,
    )
    assert town.figures == Figures(
        inspections=1,
        enterprises=1,
        hazards=1,  # version 2 of the record corrected its major hazard to a hazard
        major_hazards=0,
        unregistered_reports=1,
    )
    # The joint visit counts for both units and once in the total; the rest adds up.
    assert report.total == Figures(
        inspections=4,
        enterprises=3,
        extra=2,
        unconfirmed=3,
        cases=2,
        fines_fen=500_000,
        hazards=4,
        major_hazards=1,
        rectified_on_time=1,
        refused_scans=1,
        unregistered_reports=1,
    )
    assert county.figures.case_rate == 0.5
    assert county.figures.extra_share == 0.5
    assert county.figures.rectified_share == pytest.approx(1 / 3)
    assert town.figures.case_rate == 0.0
    assert report.total.fines_yuan == 5000.0
    assert report.closed


def test_month_boundaries_are_local_calendar_months(
    db: Session, world: World, month: Month
) -> None:
    def total(m: str) -> Figures:
        return reports.monthly_report(db, actor=world.supervisor, month=m, now=LATER).total

    # 31 Oct 23:30 local is still October (15:30 UTC); 1 Dec 00:00 local is December
    # (30 Nov 16:00 UTC), as is the refused scan at 1 Dec 00:30 local.
    assert total("2026-10") == Figures(inspections=1, enterprises=1)
    assert total("2026-12") == Figures(inspections=1, enterprises=1, extra=1, refused_scans=1)
    november = reports.report_records(
        db,
        actor=world.supervisor,
        month=MONTH,
        now=LATER,
        column="inspections",
        unit_id=None,
        scope=Scope.all,
    )
    ids = {r.visit.id for r in november.visits}
    assert month.campaign.id in ids  # 30 Nov 23:30 local
    assert month.october.id not in ids
    assert month.december.id not in ids


def test_a_window_still_within_its_tolerance_is_not_unconfirmed(
    db: Session, world: World, now: datetime
) -> None:
    def visit(end: datetime) -> None:
        make_visit(
            db,
            agency=world.county,
            enterprise=world.ent_a,
            inspectors=[world.alice, world.bob],
            items=world.items[:1],
            registered_by=world.inspector1,
            now=now,
            plan_entry=world.entry_a,
            window_start=end - timedelta(hours=1),
            window_end=end,
        )

    visit(now - timedelta(minutes=20))  # tolerance is 30 minutes: not yet
    visit(now - timedelta(minutes=40))  # passed
    db.commit()
    report = reports.monthly_report(db, actor=world.supervisor, month=MONTH, now=now)
    assert report.total.unconfirmed == 1
    assert not report.closed


def test_a_joint_visit_with_an_agency_covering_items_counts_for_that_agency(
    db: Session, world: World, month: Month
) -> None:
    """The joint visit was registered by the town; the county took part through Alice and
    covers item 3: it is one of the county's inspections, and item 3's hazard is the
    county's, item 4's the town's."""
    records = reports.report_records(
        db,
        actor=world.supervisor,
        month=MONTH,
        now=LATER,
        column="hazards",
        unit_id=world.county.id,
        scope=Scope.own,
    )
    joint_items = {r.item.code for r in records.findings if r.visit.id == month.joint.id}
    assert joint_items == {"AQ-003"}
    town = reports.report_records(
        db,
        actor=world.supervisor,
        month=MONTH,
        now=LATER,
        column="hazards",
        unit_id=world.town.id,
        scope=Scope.tree,
    )
    assert [r.item.code for r in town.findings] == ["AQ-004"]


# --- ranking -------------------------------------------------------------------------------------


def test_rows_are_ranked_by_the_chosen_column(db: Session, world: World, month: Month) -> None:
    def ranked(sort: str | None, descending: bool = True) -> list[tuple[int, str]]:
        report = reports.monthly_report(
            db, actor=world.supervisor, month=MONTH, now=LATER, sort=sort, descending=descending
        )
        return [(r.rank, r.unit.name) for r in report.rows]

    county, town = "Example County Bureau", "Example Town Office"
    assert ranked(None) == [(1, county), (2, town)]  # by inspections
    assert ranked("unregistered_reports") == [(1, town), (2, county)]
    assert ranked("inspections", descending=False) == [(1, town), (2, county)]
    assert ranked("extra_share") == [(1, county), (2, town)]
    assert ranked("unit") == [(1, town), (2, county)]  # by code, descending
    with pytest.raises(DomainError) as refused:
        ranked("nonsense")
    assert refused.value.code == "validation_error"


def test_equal_values_share_a_rank_and_empty_shares_come_last() -> None:
    def unit(n: int) -> reports.Unit:
        return reports.Unit(n, f"A{n}", f"Unit {n}", Scope.tree, frozenset({n}))

    rows = reports.rank_rows(
        [
            (unit(1), Figures(inspections=2, cases=1)),
            (unit(2), Figures(inspections=4, cases=2)),
            (unit(3), Figures()),
            (unit(4), Figures(inspections=1)),
        ],
        "case_rate",
        True,
    )
    assert [(r.rank, r.unit.agency_id) for r in rows] == [(1, 1), (1, 2), (3, 4), (0, 3)]


# --- scope ---------------------------------------------------------------------------------------


def test_a_town_supervisor_sees_only_the_town(db: Session, world: World, month: Month) -> None:
    report = reports.monthly_report(db, actor=month.town_supervisor, month=MONTH, now=LATER)
    assert [(r.unit.name, r.unit.scope) for r in report.rows] == [
        ("Example Town Office", Scope.own)
    ]
    assert report.total == Figures(inspections=1, enterprises=1, hazards=1, unregistered_reports=1)
    with pytest.raises(DomainError) as refused:
        reports.monthly_report(
            db, actor=month.town_supervisor, month=MONTH, now=LATER, agency_id=world.county.id
        )
    assert refused.value.code == "not_found"


def test_the_other_county_sees_its_own_and_nothing_of_ours(
    db: Session, world: World, month: Month
) -> None:
    report = reports.monthly_report(db, actor=world.supervisor_other, month=MONTH, now=LATER)
    assert [r.unit.name for r in report.rows] == ["Other County Bureau"]
    assert report.total == Figures(
        inspections=1,
        enterprises=1,
        extra=1,
        cases=1,
        fines_fen=100,
        hazards=1,
        major_hazards=1,
        refused_scans=1,
    )
    ours = reports.monthly_report(db, actor=world.supervisor, month=MONTH, now=LATER)
    assert ours.total.fines_fen == 500_000  # not 500,100


def test_an_administrator_sees_every_top_level_agency(
    db: Session, world: World, month: Month
) -> None:
    report = reports.monthly_report(db, actor=world.admin, month=MONTH, now=LATER)
    assert report.root is None
    assert {r.unit.name: r.figures.inspections for r in report.rows} == {
        "Example County Bureau": 4,  # its town included
        "Other County Bureau": 1,
    }
    assert report.total.inspections == 5


def test_an_administrators_total_lists_the_inspections_of_every_top_level_agency(
    db: Session, world: World, month: Month
) -> None:
    """The total row's list reads the summary rows of the roots of the reader's agencies
    (taken from the report's tree): both counties for an administrator, a joint visit once."""

    def listed(actor: User, column: str) -> reports.ReportRecords:
        return reports.report_records(
            db, actor=actor, month=MONTH, now=LATER, column=column, unit_id=None, scope=Scope.all
        )

    everyone = listed(world.admin, "inspections")
    assert everyone.count == 5
    assert month.far_visit.id in {r.visit.id for r in everyone.visits}
    assert listed(world.admin, "enterprises").count == (
        reports.monthly_report(db, actor=world.admin, month=MONTH, now=LATER).total.enterprises
    )
    ours = {r.visit.id for r in listed(world.supervisor, "inspections").visits}
    assert len(ours) == 4
    assert month.far_visit.id not in ours


def test_inspectors_cannot_see_the_report(db: Session, world: World, month: Month) -> None:
    with pytest.raises(DomainError) as refused:
        reports.monthly_report(db, actor=world.inspector1, month=MONTH, now=LATER)
    assert refused.value.code == "forbidden"


# --- the page and its drill-down links -----------------------------------------------------------

_FIGURE = re.compile(
    r'<a href="(/supervision/report/records\?[^"]+)" data-figure="(\w+)">([^<]+)</a>'
)


def _ids(html: str) -> list[str]:
    return re.findall(r'<tr id="((?:visit|finding|flag|enterprise)-[^"]+)"', html)


@pytest.fixture
def signed_in(client: TestClient, clock: FixedClock, month: Month) -> TestClient:
    clock.at = LATER
    login(client, "supervisor1")
    return client


def test_each_figure_links_to_exactly_the_records_it_counts(
    signed_in: TestClient, world: World, month: Month
) -> None:
    html = signed_in.get(f"/supervision/report?month={MONTH}").text
    links = _FIGURE.findall(html)
    assert len(links) > 20
    for href, column, shown in links:
        count = int(shown.split(" (")[-1].rstrip(")")) if "(" in shown else None
        page = signed_in.get(href.replace("&amp;", "&"))
        assert page.status_code == 200, href
        listed = len(_ids(page.text))
        if column == "fines":
            continue  # a sum: its list holds the inspections with a fine
        if count is None and column not in ("case_rate",):
            count = int(shown.replace(",", ""))
        if column == "case_rate":
            continue  # a share: its list is the cases
        assert listed == count, (column, href, listed, count)
        assert f'id="record-count">{count}<' in page.text


def test_drill_down_lists_name_the_right_records(
    signed_in: TestClient, world: World, month: Month
) -> None:
    def listed(column: str, unit: int | None, scope: str) -> list[str]:
        query = f"month={MONTH}&column={column}&scope={scope}" + (f"&unit={unit}" if unit else "")
        response = signed_in.get(f"/supervision/report/records?{query}")
        assert response.status_code == 200, response.text
        return _ids(response.text)

    c = world.county.id
    assert listed("inspections", c, "own") == [
        f"visit-{v.public_id}"
        for v in (month.planned, month.joint, month.complaint, month.campaign)
    ]
    assert listed("extra", c, "own") == [
        f"visit-{v.public_id}" for v in (month.complaint, month.campaign)
    ]
    assert listed("unconfirmed", c, "own") == [
        f"visit-{v.public_id}" for v in (month.pending, month.rejected, month.unconfirmed_e)
    ]
    assert listed("cases", c, "own") == [
        f"visit-{v.public_id}" for v in (month.planned, month.complaint)
    ]
    assert listed("fines", c, "own") == [f"visit-{month.planned.public_id}"]
    assert listed("refused_scans", c, "own") == [f"flag-{month.refused_flag.id}"]
    assert listed("unregistered_reports", world.town.id, "tree") == [f"flag-{month.report_flag.id}"]
    assert listed("unregistered_reports", c, "own") == []
    assert len(listed("rectified_on_time", None, "all")) == 1
    assert len(listed("major_hazards", None, "all")) == 1
    assert listed("enterprises", world.town.id, "tree") == [f"enterprise-{world.ent_b.id}"]
    # Outside the reader's agencies: answered like a missing one.
    other = signed_in.get(
        f"/supervision/report/records?month={MONTH}&column=inspections"
        f"&unit={world.other_county.id}&scope=tree"
    )
    assert other.status_code == 404
    bad = signed_in.get(f"/supervision/report/records?month={MONTH}&column=gossip")
    assert bad.status_code == 422


def test_the_page_ranks_sorts_and_explains(signed_in: TestClient, world: World) -> None:
    html = signed_in.get(f"/supervision/report?month={MONTH}").text
    assert re.findall(r'data-rank="(\d+)">\d+</span> ([^<]+)</th>', html) == [
        ("1", "Example County Bureau (itself)"),
        ("2", "Example Town Office"),
    ]
    assert 'aria-sort="descending"' in html
    sorted_html = signed_in.get(
        f"/supervision/report?month={MONTH}&sort=unregistered_reports&dir=desc"
    ).text
    assert re.findall(r'data-rank="(\d+)">\d+</span> ([^<]+)</th>', sorted_html) == [
        ("1", "Example Town Office"),
        ("2", "Example County Bureau (itself)"),
    ]
    assert "How the figures are counted" in html
    assert 'rel="prev" href="/supervision/report?month=2026-10' in html
    assert 'rel="next" href="/supervision/report?month=2026-12' in html
    assert signed_in.get("/supervision/report?month=2026-13").status_code == 422
    assert signed_in.get(f"/supervision/report?month={MONTH}&dir=sideways").status_code == 422


def test_the_chart_shows_twelve_months_as_inline_svg(signed_in: TestClient) -> None:
    html = signed_in.get(f"/supervision/report?month={MONTH}").text
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg
    assert "<title id=" in svg
    assert "<desc id=" in svg
    bars = re.findall(r'<rect class="chart-bar[^"]*" [^>]*data-month="(\d{4}-\d{2})"', svg)
    assert bars == [reports.shift_month(MONTH, i) for i in range(-11, 1)]
    assert "style=" not in html  # CSP: no inline styles
    assert "<script>" not in html
    assert svg.count('class="chart-line hazards"') == 1
    table = re.findall(r'<tr data-month="(\d{4}-\d{2})">', html)
    assert table == bars
    assert "2026-11: 4 inspections, 4 hazards, 2 cases opened." in svg


def test_chart_geometry() -> None:
    assert [nice_step(n) for n in (1, 4, 5, 9, 37, 120, 1500)] == [1, 1, 2, 5, 10, 50, 500]
    series = [
        reports.MonthPoint(reports.shift_month("2026-11", i - 11), Figures(inspections=i))
        for i in range(12)
    ]
    chart = build_chart(series)
    assert len(chart.slots) == 12
    assert chart.slots[0].bar_height == 0
    assert [t.value for t in chart.ticks] == [0, 5, 10, 15]  # round steps above the largest
    assert chart.ticks[-1].y == chart.top
    assert chart.slots[-1].bar_height == pytest.approx(11 * chart.slots[1].bar_height, abs=0.6)
    assert chart.slots[-1].bar_y + chart.slots[-1].bar_height == chart.bottom
    assert [s.show_year for s in chart.slots].count(True) == 2  # Dec 2025 and Jan 2026


# --- exports -------------------------------------------------------------------------------------


def test_xlsx_export(signed_in: TestClient, db: Session, world: World) -> None:
    world.county.name = "示例县应急管理局"
    db.commit()
    response = signed_in.get(f"/supervision/report.xlsx?month={MONTH}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = response.headers["content-disposition"]
    code = world.county.code
    assert f'filename="monthly-report-{code}-{MONTH}.xlsx"' in disposition
    encoded = disposition.split("filename*=UTF-8''")[1]
    assert unquote(encoded) == f"Monthly report-示例县应急管理局-{MONTH}.xlsx"
    book = load_workbook(io.BytesIO(response.content))
    sheet = book[MONTH]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["Rank", "Agency code", "Unit", "Inspections made"]
    assert all(c.font.bold for c in sheet[1])
    column = {name: i + 1 for i, name in enumerate(header)}
    county = [c.value for c in sheet[2]]
    assert county[:3] == [1, code, "示例县应急管理局 (itself)"]
    assert county[column["Inspections made"] - 1] == 4
    assert county[column["Fines (yuan)"] - 1] == 5000.0
    assert county[column["Case rate"] - 1] == 0.5
    assert sheet.cell(row=2, column=column["Case rate"]).number_format == "0.0%"
    assert sheet.cell(row=2, column=column["Fines (yuan)"]).number_format == "#,##0.00"
    town = [c.value for c in sheet[3]]
    assert town[column["Unregistered reports"] - 1] == 1
    assert town[column["Case rate"] - 1] == 0.0
    total = [c.value for c in sheet[4]]
    assert total[2] == "Total"
    assert total[column["Inspections made"] - 1] == 4
    assert total[column["Hazards"] - 1] == 4
    assert sheet.cell(row=4, column=3).font.bold
    assert sheet.column_dimensions["C"].width >= 20
    months = book.worksheets[1]
    assert [c.value for c in months[1]][:2] == ["Month", "Inspections made"]
    assert [r[0].value for r in months.iter_rows(min_row=2)][-1] == MONTH
    assert months.max_row == 13


def test_csv_export_has_a_bom_a_header_and_the_page_rows(
    signed_in: TestClient, world: World
) -> None:
    response = signed_in.get(f"/supervision/report.csv?month={MONTH}&sort=unregistered_reports")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert 'filename="monthly-report-' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[:4] == ["Rank", "Agency code", "Unit", "Inspections made"]
    assert [r[:3] for r in rows[1:]] == [
        ["1", world.town.code, "Example Town Office"],
        ["2", world.county.code, "Example County Bureau (itself)"],
        ["", world.county.code, "Total"],
    ]
    county = dict(zip(header, rows[2], strict=True))
    assert county["Case rate"] == "50.0%"
    assert county["Fines (yuan)"] == "5000.00"
    assert county["Rectified on time (share)"] == "33.3%"


def test_exports_in_chinese_name_the_file_in_chinese(signed_in: TestClient, world: World) -> None:
    signed_in.cookies.set("lang", "zh_CN")
    response = signed_in.get(f"/supervision/report.xlsx?month={MONTH}")
    book = load_workbook(io.BytesIO(response.content))
    assert book.worksheets[1]["A1"].value == "月份"
    # The ASCII fallback keeps the agency code; filename* carries the reader's words.
    assert (
        f"monthly-report-{world.county.code}-{MONTH}.xlsx"
        in response.headers["content-disposition"]
    )


# --- the JSON API --------------------------------------------------------------------------------


def test_api_report_shape(
    client: TestClient, clock: FixedClock, world: World, month: Month
) -> None:
    clock.at = LATER
    headers = api_token(client, "supervisor1")
    response = client.get(f"/api/v1/supervision/report?month={MONTH}", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["month"] == MONTH
    assert body["closed"] is True
    assert body["agency"] == {
        "id": world.county.id,
        "code": world.county.code,
        "name": "Example County Bureau",
    }
    assert body["sort"] == "inspections"
    assert body["descending"] is True
    first = body["rows"][0]
    assert first["rank"] == 1
    assert first["unit"] == {
        "agency_id": world.county.id,
        "agency_code": world.county.code,
        "agency_name": "Example County Bureau",
        "scope": "own",
    }
    assert first["figures"]["inspections"] == 4
    assert first["figures"]["case_rate"] == 0.5
    assert first["figures"]["fines_yuan"] == 5000.0
    assert body["rows"][1]["figures"]["case_rate"] == 0.0
    assert body["total"]["inspections"] == 4
    assert [m["month"] for m in body["months"]][-1] == MONTH
    assert len(body["months"]) == 12
    by_town = client.get(
        f"/api/v1/supervision/report?month={MONTH}&agency={world.town.id}", headers=headers
    ).json()
    assert [r["unit"]["scope"] for r in by_town["rows"]] == ["own"]
    refused = client.get(
        f"/api/v1/supervision/report?month={MONTH}&agency={world.other_county.id}",
        headers=headers,
    )
    assert refused.status_code == 404
    assert refused.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/supervision/report").status_code == 401
    inspector = api_token(client, "inspector1")
    assert client.get("/api/v1/supervision/report", headers=inspector).status_code == 403


def test_report_records_refuse_a_bad_scope(signed_in: TestClient) -> None:
    response = signed_in.get(f"/supervision/report/records?month={MONTH}&column=cases&scope=x")
    assert response.status_code == 422


def test_the_month_defaults_to_this_month_where_the_users_are(db: Session, world: World) -> None:
    # 30 Nov 16:30 UTC is 1 Dec 00:30 in Shanghai.
    at = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    assert reports.monthly_report(db, actor=world.supervisor, month=None, now=at).month == (
        "2026-12"
    )
    assert local(2026, 12, 1, 0, 30) == at


def test_a_rectification_recorded_before_a_correction_still_counts(
    db: Session, world: World, now: datetime
) -> None:
    """A hazard is one item of one visit: a verdict recorded against version 1 of the
    findings counts after version 2 corrected them (and kept the hazard)."""
    visit = make_visit(
        db,
        agency=world.county,
        enterprise=world.ent_a,
        inspectors=[world.alice, world.bob],
        items=world.items[:1],
        registered_by=world.inspector1,
        now=now,
        plan_entry=world.entry_a,
        status="confirmed",
        window_start=local(2026, 11, 3),
        registered_at=local(2026, 11, 2),
    )
    deadline = date(2026, 11, 20)
    (first,) = record_inspection(
        db,
        visit=visit,
        by=world.inspector1,
        findings=[(world.items[0], FindingOutcome.hazard, deadline)],
    )
    rectify(db, finding=first, by=world.inspector1, at=local(2026, 11, 10))
    record_inspection(
        db,
        visit=visit,
        by=world.inspector1,
        findings=[(world.items[0], FindingOutcome.hazard, deadline)],
        version=2,
        at=local(2026, 11, 12),
    )
    db.commit()
    report = reports.monthly_report(db, actor=world.supervisor, month=MONTH, now=LATER)
    county = _rows(report)["Example County Bureau"].figures
    assert county.hazards == 1
    assert county.rectified_on_time == 1


def test_exports_keep_typed_text_as_text(signed_in: TestClient, db: Session, world: World) -> None:
    """A unit named like a formula stays text in both spreadsheets (CSV/formula injection)."""
    world.town.name = '=HYPERLINK("https://evil.example","click")'
    world.town.code = "+1-TOWN"
    db.commit()
    xlsx = signed_in.get(f"/supervision/report.xlsx?month={MONTH}")
    sheet = load_workbook(io.BytesIO(xlsx.content))[MONTH]
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    assert not [c.coordinate for c in cells if c.data_type == "f"]  # no formula anywhere
    assert '\'=HYPERLINK("https://evil.example","click")' in [c.value for c in cells]
    assert "'+1-TOWN" in [c.value for c in cells]
    csv_text = signed_in.get(f"/supervision/report.csv?month={MONTH}").content.decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_text
    assert "\n=HYPERLINK" not in csv_text
    assert ",=HYPERLINK" not in csv_text
