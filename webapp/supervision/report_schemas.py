"""JSON shapes of the coverage and monthly-report API (/api/v1/supervision/...)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class AgencyOut(BaseModel):
    id: int
    code: str
    name: str


class UnitOut(BaseModel):
    agency_id: int
    agency_code: str
    agency_name: str
    scope: Literal["own", "tree"] = Field(
        description="own: the agency's own work only; tree: it and every agency below it."
    )


class FiguresOut(BaseModel):
    inspections: int = Field(description="Confirmed visits the unit took part in.")
    enterprises: int = Field(description="Distinct enterprises of those inspections.")
    hazards: int
    major_hazards: int
    rectified_on_time: int
    rectified_share: float | None = Field(description="Rectified on time / hazards.")
    cases: int
    case_rate: float | None = Field(description="Cases opened / inspections.")
    fines_fen: int
    fines_yuan: float
    extra: int = Field(description="Extra visits (no plan entry) among the inspections.")
    extra_share: float | None = Field(description="Extra visits / inspections.")
    unconfirmed: int
    unregistered_reports: int
    refused_scans: int


class ReportRowOut(BaseModel):
    rank: int = Field(description="1 is first; equal values share a rank; 0: no value.")
    unit: UnitOut
    figures: FiguresOut


class MonthOut(BaseModel):
    month: str
    figures: FiguresOut


class ReportOut(BaseModel):
    month: str
    closed: bool = Field(description="The month is over.")
    agency: AgencyOut | None
    sort: str
    descending: bool
    rows: list[ReportRowOut]
    total: FiguresOut = Field(description="A joint visit counts once here.")
    months: list[MonthOut] = Field(description="The last 12 months, oldest first.")


class CoverageFiguresOut(BaseModel):
    planned: int
    done: int
    merged: int
    missed: int
    open: int
    extra_approved: int
    extra_not_approved: int


class CoverageRowOut(BaseModel):
    unit: UnitOut
    figures: CoverageFiguresOut


class CoverageOut(BaseModel):
    month: str
    closed: bool = Field(description="The month is over: entries neither done nor merged missed.")
    agency: AgencyOut | None
    rows: list[CoverageRowOut]
    total: CoverageFiguresOut
