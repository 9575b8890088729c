"""Annual and monthly plans and their entries: read by the agencies, written by the admin."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from webapp.agencies.models import Agency
from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.auth.scope import visible_agency_ids
from webapp.db import begin_write
from webapp.enterprises.models import Enterprise
from webapp.enums import PlanKind, Role
from webapp.errors import DomainError, FieldError, forbidden, not_found, validation_error
from webapp.items import service as items_service
from webapp.plans.models import Plan, PlanEntry

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MIN_YEAR, MAX_YEAR = 2000, 2100
PLAN_READERS = (Role.inspector, Role.supervisor, Role.admin)


def parse_month(month: str) -> tuple[int, int] | None:
    """ "2026-11" -> (2026, 11); None for anything else."""
    match = _MONTH.match(month.strip())
    if match is None:
        return None
    year = int(match.group(1))
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    return year, int(match.group(2))


def month_error(field: str, month: str) -> FieldError:
    return FieldError(
        field,
        "'%(month)s' is not a month: write it as YYYY-MM, for example 2026-11.",
        month=month,
    )


def _readable_agencies(session: Session, actor: User) -> set[int] | None:
    # Plans announce visits; the enterprise side never sees them (unannounced inspections).
    if actor.role not in PLAN_READERS:
        raise forbidden()
    return visible_agency_ids(session, actor)


def plan_entries_for(session: Session, *, actor: User, month: str) -> list[PlanEntry]:
    """The plan entries of `month` ("YYYY-MM") in the agencies the actor may see."""
    agencies = _readable_agencies(session, actor)
    if parse_month(month) is None:
        raise validation_error([month_error("month", month)])
    stmt = (
        select(PlanEntry)
        .join(Enterprise, Enterprise.id == PlanEntry.enterprise_id)
        .where(PlanEntry.month == month.strip())
        .options(
            selectinload(PlanEntry.items),
            selectinload(PlanEntry.enterprise),
            selectinload(PlanEntry.agency),
        )
        .order_by(Enterprise.name, PlanEntry.id)
    )
    if agencies is not None:
        stmt = stmt.where(PlanEntry.agency_id.in_(agencies))
    return list(session.scalars(stmt))


def get_plan_entry(session: Session, *, actor: User, entry_id: int) -> PlanEntry:
    """One plan entry the actor may see, or not_found()."""
    agencies = _readable_agencies(session, actor)
    entry = session.get(PlanEntry, entry_id)
    if entry is None or (agencies is not None and entry.agency_id not in agencies):
        raise not_found("plan entry")
    return entry


def list_plans(session: Session, *, actor: User) -> list[Plan]:
    """The plans of the agencies the actor may see, newest first."""
    agencies = _readable_agencies(session, actor)
    stmt = (
        select(Plan)
        .options(selectinload(Plan.agency))
        .order_by(Plan.year.desc(), Plan.month.desc(), Plan.agency_id, Plan.kind, Plan.id)
    )
    if agencies is not None:
        stmt = stmt.where(Plan.agency_id.in_(agencies))
    return list(session.scalars(stmt))


def create_plan(
    session: Session,
    *,
    actor: User,
    agency_id: int,
    kind: PlanKind,
    year: int,
    month: int | None,
    title: str,
    now: datetime,
) -> Plan:
    """Admin: an agency's annual plan (month None) or monthly plan (month 1-12)."""
    if actor.role != Role.admin:
        raise forbidden()
    begin_write(session)
    errors: list[FieldError] = []
    agency = session.get(Agency, agency_id)
    if agency is None:
        errors.append(
            FieldError("agency_id", "No agency with id %(id)s: choose an agency.", id=agency_id)
        )
    if not MIN_YEAR <= year <= MAX_YEAR:
        errors.append(
            FieldError("year", "The year must be between 2000 and 2100, not %(year)s.", year=year)
        )
    if kind == PlanKind.annual and month is not None:
        errors.append(
            FieldError("month", "An annual plan covers the whole year: leave the month empty.")
        )
    if kind == PlanKind.monthly and (month is None or not 1 <= month <= 12):
        errors.append(FieldError("month", "A monthly plan needs its month (1 to 12)."))
    title = title.strip()
    if not title:
        errors.append(FieldError("title", "Give the plan a title, e.g. '2026-11 monthly plan'."))
    elif len(title) > 200:
        errors.append(FieldError("title", "The title can be at most 200 characters."))
    if not errors:
        clash = session.scalar(
            select(Plan).where(
                Plan.agency_id == agency_id,
                Plan.kind == kind,
                Plan.year == year,
                Plan.month.is_(None) if month is None else Plan.month == month,
            )
        )
        if clash is not None:
            errors.append(
                FieldError(
                    "kind",
                    "This agency already has that plan: '%(title)s'. Add entries to it instead.",
                    title=clash.title,
                )
            )
    if errors:
        raise validation_error(errors)
    plan = Plan(
        agency_id=agency_id,
        kind=kind,
        year=year,
        month=month,
        title=title,
        created_at=now,
        created_by_id=actor.id,
    )
    session.add(plan)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="plan.created",
        object_type="plan",
        object_id=plan.id,
        now=now,
        data={
            "agency_id": agency_id,
            "kind": kind.value,
            "year": year,
            "month": month,
            "title": title,
        },
    )
    session.commit()
    return plan


def add_plan_entry(
    session: Session,
    *,
    actor: User,
    plan_id: int,
    enterprise_id: int,
    month: str,
    item_ids: list[int],
    note: str,
    now: datetime,
) -> PlanEntry:
    """Admin: put an enterprise into a plan for a month within the plan's period."""
    if actor.role != Role.admin:
        raise forbidden()
    begin_write(session)
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise DomainError(
            "not_found", "No plan with id %(id)s.", field="plan_id", status=404, id=plan_id
        )
    errors: list[FieldError] = []
    if session.get(Enterprise, enterprise_id) is None:
        errors.append(
            FieldError(
                "enterprise_id",
                "No enterprise with id %(id)s: choose an enterprise.",
                id=enterprise_id,
            )
        )
    month = month.strip()
    parsed = parse_month(month)
    if parsed is None:
        errors.append(month_error("month", month))
    elif plan.kind == PlanKind.monthly and parsed != (plan.year, plan.month):
        errors.append(
            FieldError(
                "month",
                "This monthly plan covers %(plan_month)s; %(month)s is outside it.",
                plan_month=f"{plan.year:04d}-{plan.month or 0:02d}",
                month=month,
            )
        )
    elif plan.kind == PlanKind.annual and parsed[0] != plan.year:
        errors.append(
            FieldError(
                "month",
                "This annual plan covers %(year)s; %(month)s is outside it.",
                year=plan.year,
                month=month,
            )
        )
    items, unknown = items_service.items_by_ids(session, item_ids)
    if unknown:
        errors.append(
            FieldError(
                "item_ids",
                "Unknown item id(s): %(ids)s. Choose items from the item list.",
                ids=", ".join(str(i) for i in unknown),
            )
        )
    elif not items:
        errors.append(FieldError("item_ids", "Choose at least one item from the item list."))
    note = note.strip()
    if len(note) > 300:
        errors.append(FieldError("note", "The note can be at most 300 characters."))
    if not errors:
        duplicate = session.scalar(
            select(PlanEntry.id).where(
                PlanEntry.plan_id == plan.id,
                PlanEntry.enterprise_id == enterprise_id,
                PlanEntry.month == month,
            )
        )
        if duplicate is not None:
            errors.append(
                FieldError(
                    "enterprise_id",
                    "This enterprise is already in this plan for %(month)s: merge the items "
                    "into that entry instead of adding a second one.",
                    month=month,
                )
            )
    if errors:
        raise validation_error(errors)
    entry = PlanEntry(
        plan_id=plan.id,
        agency_id=plan.agency_id,
        enterprise_id=enterprise_id,
        month=month,
        note=note,
        created_at=now,
    )
    entry.items = items
    session.add(entry)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="plan_entry.added",
        object_type="plan_entry",
        object_id=entry.id,
        now=now,
        data={
            "plan_id": plan.id,
            "agency_id": plan.agency_id,
            "enterprise_id": enterprise_id,
            "month": month,
            "items": [item.code for item in items],
            "note": note,
        },
    )
    session.commit()
    session.refresh(entry)  # items in the list's order (by code)
    return entry
