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
    Items default to the plan entry's items. Times carry their offset (UTC or +08:00).
    A re-check (复查) names the confirmed visit it re-checks in `recheck_of` (its public
    id, same enterprise); its reason is then `recheck` (the default when none is given)."""

    enterprise_id: int | None = None
    plan_entry_id: int | None = None
    extra_reason: ExtraReason | None = None
    extra_reason_text: str = Field(default="", max_length=4000)
    co_inspector_ids: list[int] = Field(default_factory=list, max_length=50)
    item_ids: list[int] = Field(default_factory=list, max_length=200)
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
    recheck_of: str | None = Field(default=None, max_length=64)

    def to_input(self) -> RegistrationInput:
        reason = self.extra_reason
        if reason is None and self.recheck_of and self.plan_entry_id is None:
            reason = ExtraReason.recheck
        return RegistrationInput(
            enterprise_id=self.enterprise_id,
            plan_entry_id=self.plan_entry_id,
            extra_reason=reason,
            extra_reason_text=self.extra_reason_text,
            co_inspector_ids=list(self.co_inspector_ids),
            item_ids=list(self.item_ids),
            window_start=self.window_start,
            window_end=self.window_end,
            recheck_of=self.recheck_of,
        )


class CancelIn(BaseModel):
    reason: str = Field(max_length=4000)


class JoinIn(BaseModel):
    """Join another agency's registered visit (a joint visit): you and the co-inspectors of
    your agency named here are added to its team; the items named are checked by your
    agency. At least two of you, with credentials valid on the visit's date."""

    inspector_ids: list[int] = Field(
        default_factory=list, max_length=50, description="Your co-inspectors (you are added)."
    )
    item_ids: list[int] = Field(default_factory=list, max_length=200)


class RuleFindingOut(BaseModel):
    """A rule's warning: the visit would be (or is) flagged for this."""

    rule: str
    kind: FlagKind
    severity: Severity
    message: str
    params: dict[str, Any]

    @classmethod
    def of(cls, finding: Finding, lang: str) -> RuleFindingOut:
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
    agency_id: int
    agency_name: str
    joined_at: datetime | None = Field(
        default=None, description="When the inspector joined the registered visit (joint visit)."
    )
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
    agency_id: int = Field(description="The agency that checks this item.")


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
    joint: bool = Field(description="Inspectors of several agencies (a joint visit).")
    agencies: list[AgencyRef] = Field(description="Every agency on the visit, its own first.")
    recheck_of: str | None = Field(
        default=None, description="The public id of the visit this one re-checks."
    )
    findings: list[RuleFindingOut] = Field(
        description="Warnings of the rules (too few valid credentials, extra visit awaiting "
        "approval, merge candidate with the visits that could be joined, over the yearly cap, "
        "item frequency, credential field, short notice, ...)."
    )

    @classmethod
    def of(
        cls, card: VisitCard, lang: str, findings: list[Finding] | None = None
    ) -> VisitDetailOut:
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
                    agency_id=m.agency_id,
                    agency_name=m.agency_name,
                    joined_at=m.joined_at,
                    credential_number=m.credential_number,
                    credential_status=m.credential_status,
                    valid_from=m.valid_from,
                    valid_until=m.valid_until,
                    valid=m.valid,
                )
                for m in card.members
            ],
            items=[
                VisitItemOut(
                    id=i.id,
                    code=i.code,
                    title=i.title,
                    legal_basis=i.legal_basis,
                    agency_id=i.agency_id,
                )
                for i in card.items
            ],
            joint=card.is_joint,
            agencies=[AgencyRef(id=g.agency_id, name=g.agency_name) for g in card.groups],
            recheck_of=card.recheck_of_public_id,
            findings=[
                RuleFindingOut.of(f, lang)
                for f in (card.findings if findings is None else findings)
                if f.severity != Severity.info
            ],
        )


class PassOut(BaseModel):
    url: str = Field(description="The scan URL the QR code holds.")
    code: str = Field(description="The short code to type when no camera works.")
    expires_at: datetime = Field(description="When this pass stops confirming.")
