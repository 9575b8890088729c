"""Plan coverage and the monthly report as JSON: the same service functions as the pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from webapp.auth.deps import DB, ApiUser, Now
from webapp.supervision import reports
from webapp.supervision.report_schemas import (
    AgencyOut,
    CoverageFiguresOut,
    CoverageOut,
    CoverageRowOut,
    FiguresOut,
    MonthOut,
    ReportOut,
    ReportRowOut,
    UnitOut,
)

router = APIRouter(prefix="/supervision", tags=["supervision"])

Month = Annotated[str | None, Query(max_length=7, description="YYYY-MM; default: this month.")]
AgencyId = Annotated[
    int | None, Query(description="The report's agency; default: your own agency.")
]


def _agency(ref: reports.AgencyRef | None) -> AgencyOut | None:
    return AgencyOut(id=ref.id, code=ref.code, name=ref.name) if ref else None


def _unit(unit: reports.Unit) -> UnitOut:
    return UnitOut(
        agency_id=unit.agency_id,
        agency_code=unit.code,
        agency_name=unit.name,
        scope="own" if unit.scope == reports.Scope.own else "tree",
    )


def _figures(f: reports.Figures) -> FiguresOut:
    return FiguresOut(
        inspections=f.inspections,
        enterprises=f.enterprises,
        hazards=f.hazards,
        major_hazards=f.major_hazards,
        rectified_on_time=f.rectified_on_time,
        rectified_share=f.rectified_share,
        cases=f.cases,
        case_rate=f.case_rate,
        fines_fen=f.fines_fen,
        fines_yuan=f.fines_yuan,
        extra=f.extra,
        extra_share=f.extra_share,
        unconfirmed=f.unconfirmed,
        unregistered_reports=f.unregistered_reports,
        refused_scans=f.refused_scans,
    )


@router.get("/report", response_model=ReportOut)
def monthly_report(
    db: DB,
    now: Now,
    user: ApiUser,
    month: Month = None,
    agency: AgencyId = None,
    sort: Annotated[str | None, Query(max_length=40)] = None,
    descending: bool = True,
) -> ReportOut:
    """The monthly report (月通报): a ranked row per unit, the total, the last 12 months."""
    report = reports.monthly_report(
        db,
        actor=user,
        month=month,
        now=now,
        agency_id=agency,
        sort=sort,
        descending=descending,
    )
    return ReportOut(
        month=report.month,
        closed=report.closed,
        agency=_agency(report.root),
        sort=report.sort,
        descending=report.descending,
        rows=[
            ReportRowOut(rank=row.rank, unit=_unit(row.unit), figures=_figures(row.figures))
            for row in report.rows
        ],
        total=_figures(report.total),
        months=[MonthOut(month=p.month, figures=_figures(p.figures)) for p in report.series],
    )


def _coverage(f: reports.CoverageFigures) -> CoverageFiguresOut:
    return CoverageFiguresOut(**{name: f.value(name) for name in reports.COVERAGE_COLUMNS})


@router.get("/coverage", response_model=CoverageOut)
def plan_coverage(
    db: DB, now: Now, user: ApiUser, month: Month = None, agency: AgencyId = None
) -> CoverageOut:
    """Plan coverage per unit: planned, done, merged, missed (open while the month lasts),
    extra visits approved and not approved."""
    coverage = reports.plan_coverage(db, actor=user, month=month, now=now, agency_id=agency)
    return CoverageOut(
        month=coverage.month,
        closed=coverage.closed,
        agency=_agency(coverage.root),
        rows=[
            CoverageRowOut(unit=_unit(row.unit), figures=_coverage(row.figures))
            for row in coverage.rows
        ],
        total=_coverage(coverage.total),
    )
