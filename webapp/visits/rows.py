"""A visit as plain rows: what the gate card, a pass's check and the confirmation's rules read
of it, read in three statements built once (`load`) or taken from a loaded visit (`of_visit`).

A confirmation is the busiest write of the app (every gate, every visit). Loading the visit
as ORM objects with its agency, enterprise, plan entry, team, credentials and items, then
writing through the unit of work, cost several times the SQL: the confirmation reads these
rows and writes with plain statements instead. Pages that load ORM visits build the same
rows from them, so the card and the rules have one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.orm import Session, aliased

from webapp.agencies.models import Agency, Credential, Inspector
from webapp.db import plain_reads
from webapp.enterprises.models import Enterprise
from webapp.enums import Approval, CredentialStatus, EnterpriseClass, ExtraReason, VisitStatus
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry
from webapp.visits.models import Visit, VisitInspector, visit_items


@dataclass(frozen=True, slots=True)
class CredentialRow:
    id: int
    number: str
    status: CredentialStatus
    valid_from: date
    valid_until: date
    fields: str


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One inspector of the team, in team order (the lead first)."""

    inspector_id: int
    name: str
    agency_id: int
    agency_name: str
    photo: bytes | None
    photo_type: str | None
    added_at: datetime | None  # joined an already registered visit
    credentials: tuple[CredentialRow, ...]


@dataclass(frozen=True, slots=True)
class ItemRow:
    """One item of the checklist, in code order, with the agency covering it in a joint
    visit (None: the visit's own agency)."""

    id: int
    code: str
    title: str
    legal_basis: str
    field: str
    max_per_year: int | None
    covering_agency_id: int | None


@dataclass(frozen=True, slots=True)
class EnterpriseRow:
    id: int
    name: str
    uscc: str
    address: str
    agency_id: int
    enterprise_class: EnterpriseClass
    risk_grade: str


@dataclass(frozen=True, slots=True)
class VisitRow:
    id: int
    public_id: str
    status: VisitStatus
    agency_id: int
    agency_name: str
    enterprise: EnterpriseRow
    plan_entry_id: int | None
    plan_month: str | None
    plan_title: str | None
    extra_reason: ExtraReason | None
    extra_reason_text: str
    approval: Approval
    window_start: datetime
    window_end: datetime
    registered_at: datetime
    confirmed_at: datetime | None
    confirmed_by_id: int | None
    cancelled_at: datetime | None
    cancel_reason: str
    recheck_of_public_id: str | None
    recheck_of_window_start: datetime | None
    pass_secret: bytes
    code_prefix: str
    team: tuple[MemberRow, ...]
    items: tuple[ItemRow, ...]

    @property
    def enterprise_id(self) -> int:
        return self.enterprise.id

    @property
    def is_extra(self) -> bool:
        return self.plan_entry_id is None


# --- reading them -----------------------------------------------------------------------------

_RECHECKED = aliased(Visit)


def _visit_statement(column: Any, *, lock: bool) -> Select[*tuple[Any, ...]]:
    query: Select[*tuple[Any, ...]] = (
        select(
            Visit.id,
            Visit.public_id,
            Visit.status,
            Visit.agency_id,
            Agency.name,
            Enterprise.id.label("enterprise_id"),
            Enterprise.name,
            Enterprise.uscc,
            Enterprise.address,
            Enterprise.agency_id,
            Enterprise.enterprise_class,
            Enterprise.risk_grade,
            Visit.plan_entry_id,
            PlanEntry.month,
            Plan.title,
            Visit.extra_reason,
            Visit.extra_reason_text,
            Visit.approval,
            Visit.window_start,
            Visit.window_end,
            Visit.registered_at,
            Visit.confirmed_at,
            Visit.confirmed_by_id,
            Visit.cancelled_at,
            Visit.cancel_reason,
            _RECHECKED.public_id,
            _RECHECKED.window_start,
            Visit.pass_secret,
            Visit.code_prefix,
        )
        .join(Agency, Agency.id == Visit.agency_id)
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .outerjoin(PlanEntry, PlanEntry.id == Visit.plan_entry_id)
        .outerjoin(Plan, Plan.id == PlanEntry.plan_id)
        .outerjoin(_RECHECKED, _RECHECKED.id == Visit.recheck_of_visit_id)
        .where(column == bindparam("value"))
    )
    if lock:
        # OF visits: two confirmations of one pass run one after the other; the joined rows
        # are not locked (PostgreSQL; SQLite's write transaction already serialises).
        query = query.with_for_update(of=Visit.__table__)
    return query


_TEAM = (
    select(
        VisitInspector.inspector_id,
        Inspector.name,
        Inspector.agency_id,
        Agency.name,
        Inspector.photo,
        Inspector.photo_type,
        VisitInspector.added_at,
        Credential.id,
        Credential.number,
        Credential.status,
        Credential.valid_from,
        Credential.valid_until,
        Credential.fields,
    )
    .join(Inspector, Inspector.id == VisitInspector.inspector_id)
    .join(Agency, Agency.id == Inspector.agency_id)
    .outerjoin(Credential, Credential.inspector_id == Inspector.id)
    .where(VisitInspector.visit_id == bindparam("visit_id"))
    # The inspector as a tie-break: `load` groups an inspector's credential rows by their
    # being consecutive, and nothing makes positions unique.
    .order_by(VisitInspector.position, VisitInspector.inspector_id, Credential.id)
)
_ITEMS = (
    select(
        InspectionItem.id,
        InspectionItem.code,
        InspectionItem.title,
        InspectionItem.legal_basis,
        InspectionItem.field,
        InspectionItem.max_per_year,
        visit_items.c.agency_id,
    )
    .join(visit_items, visit_items.c.item_id == InspectionItem.id)
    .where(visit_items.c.visit_id == bindparam("visit_id"))
    .order_by(InspectionItem.code)
)

# By public id (a pass's token, a replayed answer) or by the short code's prefix; locked
# or not. Built once: building a statement costs more than running a cached one.
STATEMENTS = {
    (name, lock): _visit_statement(column, lock=lock)
    for name, column in (("public_id", Visit.public_id), ("code_prefix", Visit.code_prefix))
    for lock in (False, True)
}


def find(
    session: Session, by: str, value: str, *, lock: bool = False
) -> Row[*tuple[Any, ...]] | None:
    """The visit's own row (`complete` adds its team and items) whose `by` ("public_id" or
    "code_prefix") is `value`: enough to verify a pass (`pass_secret`, `enterprise_id`)
    before reading more. `lock`: FOR UPDATE (a confirming scan)."""
    found: Row[*tuple[Any, ...]] | None = (
        plain_reads(session).execute(STATEMENTS[by, lock], {"value": value}).first()
    )
    return found


def load(session: Session, by: str, value: str, *, lock: bool = False) -> VisitRow | None:
    """The visit whose `by` is `value` (see `find`), with its team and items."""
    row = find(session, by, value, lock=lock)
    return None if row is None else complete(session, row)


def complete(session: Session, row: Row[*tuple[Any, ...]]) -> VisitRow:
    """The visit of a row `find` gave, with its team and items."""
    connection = plain_reads(session)
    (
        visit_id,
        public_id,
        status,
        agency_id,
        agency_name,
        enterprise_id,
        enterprise_name,
        uscc,
        address,
        enterprise_agency_id,
        enterprise_class,
        risk_grade,
        plan_entry_id,
        plan_month,
        plan_title,
        extra_reason,
        extra_reason_text,
        approval,
        window_start,
        window_end,
        registered_at,
        confirmed_at,
        confirmed_by_id,
        cancelled_at,
        cancel_reason,
        recheck_public_id,
        recheck_window_start,
        pass_secret,
        code_prefix,
    ) = row
    team: list[MemberRow] = []
    credentials: list[CredentialRow] = []
    current: tuple[Any, ...] | None = None
    for r in connection.execute(_TEAM, {"visit_id": visit_id}):
        if current is None or r[0] != current[0]:
            if current is not None:
                team.append(_member(current, credentials))
            current, credentials = tuple(r[:7]), []
        if r[7] is not None:
            credentials.append(CredentialRow(r[7], r[8], r[9], r[10], r[11], r[12]))
    if current is not None:
        team.append(_member(current, credentials))
    items = tuple(ItemRow(*r) for r in connection.execute(_ITEMS, {"visit_id": visit_id}))
    return VisitRow(
        id=visit_id,
        public_id=public_id,
        status=status,
        agency_id=agency_id,
        agency_name=agency_name,
        enterprise=EnterpriseRow(
            id=enterprise_id,
            name=enterprise_name,
            uscc=uscc,
            address=address,
            agency_id=enterprise_agency_id,
            enterprise_class=enterprise_class,
            risk_grade=risk_grade,
        ),
        plan_entry_id=plan_entry_id,
        plan_month=plan_month,
        plan_title=plan_title,
        extra_reason=extra_reason,
        extra_reason_text=extra_reason_text,
        approval=approval,
        window_start=window_start,
        window_end=window_end,
        registered_at=registered_at,
        confirmed_at=confirmed_at,
        confirmed_by_id=confirmed_by_id,
        cancelled_at=cancelled_at,
        cancel_reason=cancel_reason,
        recheck_of_public_id=recheck_public_id,
        recheck_of_window_start=recheck_window_start,
        pass_secret=pass_secret,
        code_prefix=code_prefix,
        team=tuple(team),
        items=items,
    )


def _member(values: tuple[Any, ...], credentials: list[CredentialRow]) -> MemberRow:
    inspector_id, name, agency_id, agency_name, photo, photo_type, added_at = values
    return MemberRow(
        inspector_id, name, agency_id, agency_name, photo, photo_type, added_at, tuple(credentials)
    )


# --- from a loaded visit ----------------------------------------------------------------------


def credential_row(credential: Credential) -> CredentialRow:
    return CredentialRow(
        id=credential.id,
        number=credential.number,
        status=credential.status,
        valid_from=credential.valid_from,
        valid_until=credential.valid_until,
        fields=credential.fields,
    )


def enterprise_row(enterprise: Enterprise) -> EnterpriseRow:
    return EnterpriseRow(
        id=enterprise.id,
        name=enterprise.name,
        uscc=enterprise.uscc,
        address=enterprise.address,
        agency_id=enterprise.agency_id,
        enterprise_class=enterprise.enterprise_class,
        risk_grade=enterprise.risk_grade,
    )


def of_visit(visit: Visit, covering: dict[int, int | None]) -> VisitRow:
    """The rows of a loaded visit; `covering`: item id -> the agency covering it."""
    entry = visit.plan_entry
    original = visit.recheck_of
    return VisitRow(
        id=visit.id,
        public_id=visit.public_id,
        status=visit.status,
        agency_id=visit.agency_id,
        agency_name=visit.agency.name,
        enterprise=enterprise_row(visit.enterprise),
        plan_entry_id=visit.plan_entry_id,
        plan_month=entry.month if entry else None,
        plan_title=entry.plan.title if entry else None,
        extra_reason=visit.extra_reason,
        extra_reason_text=visit.extra_reason_text,
        approval=visit.approval,
        window_start=visit.window_start,
        window_end=visit.window_end,
        registered_at=visit.registered_at,
        confirmed_at=visit.confirmed_at,
        confirmed_by_id=visit.confirmed_by_id,
        cancelled_at=visit.cancelled_at,
        cancel_reason=visit.cancel_reason,
        recheck_of_public_id=original.public_id if original else None,
        recheck_of_window_start=original.window_start if original else None,
        pass_secret=visit.pass_secret,
        code_prefix=visit.code_prefix,
        team=tuple(
            MemberRow(
                inspector_id=link.inspector.id,
                name=link.inspector.name,
                agency_id=link.inspector.agency_id,
                agency_name=link.inspector.agency.name,
                photo=link.inspector.photo,
                photo_type=link.inspector.photo_type,
                added_at=link.added_at,
                credentials=tuple(
                    credential_row(c) for c in sorted(link.inspector.credentials, key=_by_id)
                ),
            )
            for link in visit.team
        ),
        items=tuple(
            ItemRow(
                id=item.id,
                code=item.code,
                title=item.title,
                legal_basis=item.legal_basis,
                field=item.field,
                max_per_year=item.max_per_year,
                covering_agency_id=covering.get(item.id),
            )
            for item in visit.items
        ),
    )


def _by_id(credential: Credential) -> int:
    return credential.id
