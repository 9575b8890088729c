"""Supervisor pages for the month: plan coverage, the monthly report (月通报) with its chart,
the records behind each figure, and the report's XLSX and CSV exports. Thin: parse, call
one service function, render."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from webapp.auth.deps import DB, CsrfProtected, Now, WebUser
from webapp.errors import FieldError
from webapp.supervision import report_export, reports, service
from webapp.supervision.report_chart import build_chart
from webapp.web import render

router = APIRouter(dependencies=[CsrfProtected])

E = TypeVar("E", bound=StrEnum)


def _id(value: str, field: str) -> int | None:
    """An optional agency id from a GET form ('' means none)."""
    if not value:
        return None
    if not value.isdigit():
        raise service.invalid(FieldError(field, "Choose an agency from the list."))
    return int(value)


def _choice(cls: type[E], value: str, field: str, default: E) -> E:
    if not value:
        return default
    try:
        return cls(value)
    except ValueError as exc:
        raise service.invalid(
            FieldError(
                field,
                "Unknown value '%(value)s' for the filter '%(filter)s': choose one from the list.",
                value=value[:40],
                filter=field,
            )
        ) from exc


class Direction(StrEnum):
    desc = "desc"
    asc = "asc"


def _lang(request: Request) -> str:
    return str(getattr(request.state, "lang", "zh_CN"))


# --- plan coverage -----------------------------------------------------------------------------


@router.get("/supervision/plan")
def coverage_page(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    month: str = "",
    agency: str = "",
    show: str = "",
    unit: str = "",
    scope: str = "",
) -> Response:
    agency_id = _id(agency, "agency")
    coverage = reports.plan_coverage(
        db,
        actor=user,
        month=month or None,
        now=now,
        agency_id=agency_id,
        show=show or None,
        unit_id=_id(unit, "unit"),
        scope=_choice(reports.Scope, scope, "scope", reports.Scope.all),
    )
    return render(
        request,
        "supervision/plan.html",
        {
            "coverage": coverage,
            "labels": reports.COVERAGE_LABELS,
            "agencies": service.supervised_agencies(db, actor=user),
            "f": {"month": coverage.month, "agency": str(agency_id or "")},
        },
    )


# --- the monthly report ------------------------------------------------------------------------


def _report(
    db: DB, now: Now, user: WebUser, month: str, agency: str, sort: str, direction: str
) -> reports.MonthlyReport:
    return reports.monthly_report(
        db,
        actor=user,
        month=month or None,
        now=now,
        agency_id=_id(agency, "agency"),
        sort=sort or None,
        descending=_choice(Direction, direction, "dir", Direction.desc) == Direction.desc,
    )


@router.get("/supervision/report")
def report_page(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    month: str = "",
    agency: str = "",
    sort: str = "",
    direction: Annotated[str, Query(alias="dir")] = "",
) -> Response:
    report = _report(db, now, user, month, agency, sort, direction)
    return render(
        request,
        "supervision/report.html",
        {
            "report": report,
            "chart": build_chart(report.series),
            "agencies": service.supervised_agencies(db, actor=user),
            "f": {"month": report.month, "agency": agency if agency.isdigit() else ""},
        },
    )


@router.get("/supervision/report/records")
def records_page(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    month: str = "",
    column: str = "",
    unit: str = "",
    scope: str = "",
    agency: str = "",
) -> Response:
    records = reports.report_records(
        db,
        actor=user,
        month=month or None,
        now=now,
        column=column,
        unit_id=_id(unit, "unit"),
        scope=_choice(reports.Scope, scope, "scope", reports.Scope.all),
    )
    return render(
        request,
        "supervision/report_records.html",
        {
            "records": records,
            "f": {"month": records.month, "agency": agency if agency.isdigit() else ""},
        },
    )


def _download(
    request: Request,
    report: reports.MonthlyReport,
    extension: str,
    content: bytes,
    media_type: str,
) -> Response:
    ascii_name, name = report_export.file_names(_lang(request), report, extension)
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": report_export.content_disposition(ascii_name, name)},
    )


@router.get("/supervision/report.xlsx")
def report_xlsx(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    month: str = "",
    agency: str = "",
    sort: str = "",
    direction: Annotated[str, Query(alias="dir")] = "",
) -> Response:
    report = _report(db, now, user, month, agency, sort, direction)
    return _download(
        request,
        report,
        "xlsx",
        report_export.to_xlsx(_lang(request), report),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@router.get("/supervision/report.csv")
def report_csv(
    request: Request,
    db: DB,
    now: Now,
    user: WebUser,
    month: str = "",
    agency: str = "",
    sort: str = "",
    direction: Annotated[str, Query(alias="dir")] = "",
) -> Response:
    report = _report(db, now, user, month, agency, sort, direction)
    return _download(
        request,
        report,
        "csv",
        report_export.to_csv(_lang(request), report),
        "text/csv; charset=utf-8",
    )
