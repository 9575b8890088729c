"""JSON shapes of the supervision API (/api/v1): flags, resolutions, decisions, history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from webapp.enums import Approval, FlagKind, Severity, VisitStatus


class ResolutionIn(BaseModel):
    note: str = Field(max_length=4000, description="What was checked and what was decided.")


class ResolutionOut(BaseModel):
    id: int
    note: str
    resolved_at: datetime
    resolved_by_id: int
    resolved_by: str


class FlagOut(BaseModel):
    id: int
    kind: FlagKind
    kind_label: str
    severity: Severity
    raised_at: datetime
    agency_id: int
    agency_name: str
    enterprise_id: int | None
    enterprise_name: str | None
    visit_public_id: str | None
    scan_id: int | None
    report_id: int | None
    message: str = Field(description="The rule's finding, in the request's language.")
    params: dict[str, Any]
    resolved: bool
    resolutions: list[ResolutionOut]


class FlagPageOut(BaseModel):
    items: list[FlagOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class DecisionIn(BaseModel):
    decision: Literal["approved", "rejected"]
    note: str = Field(default="", max_length=4000, description="Required for a rejection.")


class DecisionOut(BaseModel):
    id: int
    decision: Approval
    note: str
    decided_at: datetime
    decided_by_id: int


class DecidedVisitOut(BaseModel):
    public_id: str
    status: VisitStatus
    approval: Approval
    decisions: list[DecisionOut]


class TeamMemberOut(BaseModel):
    inspector_id: int
    name: str
    lead: bool
    credential_number: str | None
    credential_status: str | None
    valid_from: date | None
    valid_until: date | None
    valid: bool


class HistoryEventOut(BaseModel):
    at: datetime
    kind: Literal["registered", "decision", "scan", "flag", "resolution", "cancelled"]
    actor: str | None
    summary: str = Field(description="One line, in the request's language.")
    data: dict[str, Any]


class AuditEventOut(BaseModel):
    id: int
    occurred_at: datetime
    action: str
    actor: str | None
    object_type: str
    object_id: str
    data: dict[str, Any]
    hash: str


class VisitHistoryOut(BaseModel):
    public_id: str
    agency_id: int
    agency_name: str
    enterprise_id: int
    enterprise_name: str
    status: VisitStatus
    approval: Approval
    plan_entry_id: int | None
    extra_reason: str | None
    extra_reason_text: str
    window_start: datetime
    window_end: datetime
    registered_at: datetime
    registered_by: str
    team: list[TeamMemberOut]
    items: list[str] = Field(description="Item codes.")
    events: list[HistoryEventOut]
    audit_events: list[AuditEventOut]
