"""JSON shapes of the visits API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from webapp.enums import Approval, ExtraReason, FlagKind, Severity, VisitStatus
from webapp.rules import Finding
from webapp.visits.service import RegistrationInput, VisitCard
from webapp.web import translate


class VisitCreate(BaseModel):
    """A registration. Give either `plan_entry_id` or, for an extra visit, `extra_reason`
    with `extra_reason_text`. You are the lead inspector; name at least one co-inspector.
    Items default to the plan entry's items. Times carry their offset (UTC or +08:00)."""

    enterprise_id: int | None = None
    plan_entry_id: int | None = None
    extra_reason: ExtraReason | None = None
    extra_reason_text: str = Field(default="", max_length=4000)
    co_inspector_ids: list[int] = Field(default_factory=list, max_length=50)
    item_ids: list[int] = Field(default_factory=list, max_length=200)
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None

    def to_input(self) -> RegistrationInput:
        return RegistrationInput(
            enterprise_id=self.enterprise_id,
            plan_entry_id=self.plan_entry_id,
            extra_reason=self.extra_reason,
            extra_reason_text=self.extra_reason_text,
            co_inspector_ids=list(self.co_inspector_ids),
            item_ids=list(self.item_ids),
            window_start=self.window_start,
            window_end=self.window_end,
        )


class CancelIn(BaseModel):
    reason: str = Field(max_length=4000)


class FindingOut(BaseModel):
    """A rule's warning: the visit would be (or is) flagged for this."""

    rule: str
    kind: FlagKind
    severity: Severity
    message: str
    params: dict[str, Any]

    @classmethod
    def of(cls, finding: Finding, lang: str) -> FindingOut:
        return cls(
            rule=finding.rule,
            kind=finding.kind,
            severity=finding.severity,
            message=translate(lang, finding.message, finding.params),
            params=finding.params,
        )


class VisitTeamMemberOut(BaseModel):
    inspector_id: int
    name: str
    lead: bool
    agency_name: str
    credential_number: str | None
    credential_status: str | None
    valid_from: date | None
    valid_until: date | None
    valid: bool = Field(description="Credential valid on every day of the visit's window.")


class VisitItemOut(BaseModel):
    id: int
    code: str
    title: str
    legal_basis: str


class AgencyRef(BaseModel):
    id: int
    name: str


class VisitEnterprise(BaseModel):
    id: int
    name: str
    uscc: str


class PlanEntryRef(BaseModel):
    id: int
    month: str


class VisitDetailOut(BaseModel):
    public_id: str
    status: VisitStatus
    approval: Approval
    agency: AgencyRef
    enterprise: VisitEnterprise
    plan_entry: PlanEntryRef | None
    extra_reason: ExtraReason | None
    extra_reason_text: str
    window_start: datetime
    window_end: datetime
    registered_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    team: list[VisitTeamMemberOut]
    items: list[VisitItemOut]
    findings: list[FindingOut] = Field(
        description="Warnings of the rules (too few valid credentials, extra visit awaiting "
        "approval, ...)."
    )

    @classmethod
    def of(cls, card: VisitCard, lang: str) -> VisitDetailOut:
        return cls(
            public_id=card.public_id,
            status=card.status,
            approval=card.approval,
            agency=AgencyRef(id=card.agency_id, name=card.agency_name),
            enterprise=VisitEnterprise(
                id=card.enterprise_id, name=card.enterprise_name, uscc=card.enterprise_uscc
            ),
            plan_entry=PlanEntryRef(id=card.plan_entry_id, month=card.plan_month or "")
            if card.plan_entry_id is not None
            else None,
            extra_reason=card.extra_reason,
            extra_reason_text=card.extra_reason_text,
            window_start=card.window_start,
            window_end=card.window_end,
            registered_at=card.registered_at,
            confirmed_at=card.confirmed_at,
            cancelled_at=card.cancelled_at,
            cancel_reason=card.cancel_reason,
            team=[
                VisitTeamMemberOut(
                    inspector_id=m.inspector_id,
                    name=m.name,
                    lead=m.lead,
                    agency_name=m.agency_name,
                    credential_number=m.credential_number,
                    credential_status=m.credential_status,
                    valid_from=m.valid_from,
                    valid_until=m.valid_until,
                    valid=m.valid,
                )
                for m in card.members
            ],
            items=[
                VisitItemOut(id=i.id, code=i.code, title=i.title, legal_basis=i.legal_basis)
                for i in card.items
            ],
            findings=[FindingOut.of(f, lang) for f in card.findings],
        )


class PassOut(BaseModel):
    url: str = Field(description="The scan URL the QR code holds.")
    code: str = Field(description="The short code to type when no camera works.")
    expires_at: datetime = Field(description="When this pass stops confirming.")
