"""The monthly report as a spreadsheet (XLSX, openpyxl) and as CSV (UTF-8 with a BOM, so
Excel opens the Chinese text correctly): the same rows as the page, headings in the reader's
language, numbers as numbers."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import quote

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from webapp.supervision.reports import Column, Figures, MonthlyReport, Scope, Unit
from webapp.web import N_, translate

FORMATS = {"count": "0", "share": "0.0%", "money": "#,##0.00"}
# The lead columns before the figures: rank, agency code, unit.
LEAD = (N_("Rank"), N_("Agency code"), N_("Unit"))


# A cell that starts with one of these is a formula to a spreadsheet program (and openpyxl
# writes such a string as a formula): text typed by people must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """Text as a spreadsheet will show it, never run it (CSV/formula injection)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def unit_name(lang: str, unit: Unit) -> str:
    if unit.scope == Scope.own:
        return inert(translate(lang, "%(name)s (itself)", {"name": unit.name}))
    return inert(unit.name)


def cell_value(column: Column, figures: Figures) -> int | float | None:
    """A figure as the number a spreadsheet holds (a share as a fraction, fines in yuan)."""
    if column.kind == "money":
        return figures.fines_yuan
    return figures.value(column.key)


def header(lang: str, report: MonthlyReport) -> list[str]:
    return [translate(lang, t) for t in LEAD] + [translate(lang, c.label) for c in report.columns]


def rows(lang: str, report: MonthlyReport) -> list[list[Any]]:
    """Each unit in rank order, then the total row."""
    out: list[list[Any]] = [
        [row.rank or None, inert(row.unit.code), unit_name(lang, row.unit)]
        + [cell_value(c, row.figures) for c in report.columns]
        for row in report.rows
    ]
    out.append(
        [None, inert(report.root.code) if report.root else "", translate(lang, "Total")]
        + [cell_value(c, report.total) for c in report.columns]
    )
    return out


def to_xlsx(lang: str, report: MonthlyReport) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = report.month
    bold = Font(bold=True)
    heading = header(lang, report)
    sheet.append(heading)
    for cell in sheet[1]:
        cell.font = bold
    body = rows(lang, report)
    for values in body:
        sheet.append(values)
    lead = len(LEAD)
    for r in range(2, len(body) + 2):
        for i, column in enumerate(report.columns, start=lead + 1):
            sheet.cell(row=r, column=i).number_format = FORMATS[column.kind]
    for cell in sheet[len(body) + 1]:
        cell.font = bold  # the total row
    widths = [6, 12, 28] + [max(10, min(24, len(h) * 2 + 2)) for h in heading[lead:]]
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "D2"

    months = book.create_sheet(translate(lang, "Last 12 months")[:31])
    months.append(
        [
            translate(lang, t)
            for t in ("Month", "Inspections made", "Hazards", "Major hazards", "Cases opened")
        ]
    )
    for cell in months[1]:
        cell.font = bold
    for point in report.series:
        f = point.figures
        months.append([point.month, f.inspections, f.hazards, f.major_hazards, f.cases])
    for i, width in enumerate((10, 14, 14, 16, 16), start=1):
        months.column_dimensions[get_column_letter(i)].width = width
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _csv_value(column: Column | None, value: Any) -> str:
    if value is None:
        return ""
    if column is not None and column.kind == "share":
        return f"{value * 100:.1f}%"
    if column is not None and column.kind == "money":
        return f"{value:.2f}"
    return str(value)


def to_csv(lang: str, report: MonthlyReport) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header(lang, report))
    lead = len(LEAD)
    for values in rows(lang, report):
        writer.writerow(
            [_csv_value(None, v) for v in values[:lead]]
            + [_csv_value(c, v) for c, v in zip(report.columns, values[lead:], strict=True)]
        )
    return buffer.getvalue().encode("utf-8-sig")


def content_disposition(ascii_name: str, name: str) -> str:
    """An attachment with an ASCII fallback name and the real one (RFC 5987 filename*)."""
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_names(lang: str, report: MonthlyReport, extension: str) -> tuple[str, str]:
    # The fallback name keeps to plain ASCII (an imported agency code may not).
    code = re.sub(r"[^A-Za-z0-9_-]", "_", report.root.code) if report.root else "all"
    name = report.root.name if report.root else translate(lang, "All agencies")
    title = translate(lang, "Monthly report")
    return (
        f"monthly-report-{code}-{report.month}.{extension}",
        f"{title}-{name}-{report.month}.{extension}",
    )
