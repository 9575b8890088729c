"""JSON shapes of the check-in API (/api/v1): confirming scans, unregistered-visit reports,
and the enterprise's own confirmed visits."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from webapp.enums import Approval, ExtraReason, ScanOutcome, VisitStatus


class CheckinIn(BaseModel):
    """A pass as the safety manager's phone read it."""

    model_config = ConfigDict(populate_by_name=True)

    pass_: str = Field(
        alias="pass",
        max_length=10000,
        description="The pass: the scanned URL, the bare token, or the short code typed in "
        "(spaces, dashes and case do not matter).",
        examples=["https://example.gov.cn/scan?p=eyJ...", "K7Q2M-481-903"],
    )
    device_time: datetime | None = Field(
        default=None,
        description="The phone's own clock at the scan (ISO 8601), stored beside the "
        "server's time. Without a zone it is read in the configured local zone.",
    )


class InspectorOut(BaseModel):
    name: str
    photo_url: str | None = Field(description="The photo as a data: URI.")
    credential_number: str | None
    credential_status: str | None
    valid_from: date | None
    valid_until: date | None
    valid: bool = Field(description="Whether the credential is valid on the visit's dates.")
    agency_name: str


class ItemOut(BaseModel):
    code: str
    title: str
    legal_basis: str


class VisitOut(BaseModel):
    """A visit as its enterprise sees it once confirmed (or at the scan)."""

    public_id: str
    status: VisitStatus
    agency_name: str
    enterprise_name: str
    window_start: datetime
    window_end: datetime
    is_extra: bool
    plan_month: str | None
    plan_title: str | None
    extra_reason: ExtraReason | None
    extra_reason_text: str
    approval: Approval
    registered_at: datetime
    confirmed_at: datetime | None
    inspectors: list[InspectorOut]
    items: list[ItemOut]


class CheckinOut(BaseModel):
    scan_id: int
    outcome: ScanOutcome
    confirmed_at: datetime
    message: str = Field(description="The confirmation, in the request's language.")
    visit: VisitOut


class ReportIn(BaseModel):
    occurred_at: datetime | None = Field(
        default=None,
        description="When the visit happened (ISO 8601; without a zone it is read in the "
        "configured local zone). Not in the future.",
    )
    who: str = Field(
        default="",
        max_length=10000,
        description="Who came: names, agency, credential numbers seen.",
    )
    what_they_said: str = Field(
        default="", max_length=10000, description="What they said they came to check."
    )


class ReportOut(BaseModel):
    id: int
    occurred_at: datetime
    who: str
    what_they_said: str
    created_at: datetime
