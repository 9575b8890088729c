"""What the administration pages need beyond each domain's own use cases: the account list,
a plan with its entries, the latest enterprises, and picking an enterprise by its credit
code for a form (then handing over to the domain's own service function)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from webapp.agencies.models import Agency
from webapp.auth import service as auth_service
from webapp.auth.models import User
from webapp.db import begin_write
from webapp.enterprises import uscc as uscc_codes
from webapp.enterprises.models import Enterprise
from webapp.enums import Role
from webapp.errors import DomainError, FieldError, forbidden, not_found, validation_error
from webapp.plans import service as plans_service
from webapp.plans.models import Plan, PlanEntry

LATEST = 50
T = TypeVar("T")


def _require_admin(actor: User) -> None:
    if actor.role != Role.admin:
        raise forbidden()


def list_users(session: Session, *, actor: User) -> list[User]:
    """Every account, by user name, with what scopes it."""
    _require_admin(actor)
    return list(
        session.scalars(
            select(User)
            .options(
                selectinload(User.inspector),
                selectinload(User.agency),
                selectinload(User.enterprise),
            )
            .order_by(User.username)
        )
    )


def latest_enterprises(session: Session, *, actor: User, limit: int = LATEST) -> list[Enterprise]:
    """The enterprises added last (the list page before anyone searches)."""
    _require_admin(actor)
    return list(
        session.scalars(
            select(Enterprise)
            .options(selectinload(Enterprise.agency))
            .order_by(Enterprise.created_at.desc(), Enterprise.id.desc())
            .limit(limit)
        )
    )


def get_plan(session: Session, *, actor: User, plan_id: int) -> Plan:
    """A plan with its entries (enterprise and items loaded), for the admin's plan page."""
    _require_admin(actor)
    plan = session.scalar(
        select(Plan)
        .where(Plan.id == plan_id)
        .options(
            selectinload(Plan.agency),
            selectinload(Plan.entries).selectinload(PlanEntry.enterprise),
            selectinload(Plan.entries).selectinload(PlanEntry.items),
        )
    )
    if plan is None:
        raise not_found("plan")
    return plan


def _enterprise_by_code(
    session: Session, *, code: str, field: str
) -> tuple[int | None, FieldError | None]:
    """The enterprise with this full credit code: (id, None), or (None, why not); (None, None)
    when no code was typed."""
    text = code.strip()
    if not text:
        return None, None
    problem = uscc_codes.problem(text)
    if problem is not None:
        return None, FieldError(field, problem.message, **problem.params)
    normal = uscc_codes.normalize(text)
    found = session.scalar(select(Enterprise.id).where(Enterprise.uscc == normal))
    if found is None:
        return None, FieldError(
            field,
            "No enterprise has the credit code %(code)s: add the enterprise first.",
            code=normal,
        )
    return found, None


def _hand_over(call: Callable[[], T], *, field: str, problem: FieldError | None) -> T:
    """Run the domain's own use case after our lookup of `field`. Its field errors come back
    with its complaint about `field` replaced by ours (`problem`), so the form shows every
    mistake at once. The domain refuses the missing `field` before writing anything, so a
    `problem` always ends as a refusal."""
    try:
        result = call()
    except DomainError as exc:
        if exc.code != "validation_error":
            raise
        errors = [e for e in exc.errors if not (problem is not None and e.field == field)]
        if problem is not None:
            errors.insert(0, problem)
        raise validation_error(errors) from exc
    if problem is not None:  # not reached: the domain refused first (see above)
        raise validation_error([problem])
    return result


def add_plan_entry(
    session: Session,
    *,
    actor: User,
    plan_id: int,
    enterprise_id: int | None,
    enterprise_code: str,
    month: str,
    item_ids: list[int],
    note: str,
    now: datetime,
) -> PlanEntry:
    """Add an entry to a plan, the enterprise picked from a search (its id) or typed as its
    full credit code; then webapp.plans.service.add_plan_entry does the rest."""
    _require_admin(actor)
    begin_write(session)  # one write transaction for the lookup and the domain's change
    if session.get(Plan, plan_id) is None:
        raise not_found("plan")
    problem: FieldError | None = None
    if enterprise_id is None:
        enterprise_id, problem = _enterprise_by_code(
            session, code=enterprise_code, field="enterprise_id"
        )
        if enterprise_id is None and problem is None:
            problem = FieldError(
                "enterprise_id",
                "Type the enterprise's credit code, or search by name and pick it from the list.",
            )
    chosen = enterprise_id if enterprise_id is not None else 0  # 0: the domain's "no such"
    return _hand_over(
        lambda: plans_service.add_plan_entry(
            session,
            actor=actor,
            plan_id=plan_id,
            enterprise_id=chosen,
            month=month,
            item_ids=item_ids,
            note=note,
            now=now,
        ),
        field="enterprise_id",
        problem=problem,
    )


def create_account(
    session: Session,
    *,
    actor: User,
    username: str,
    display_name: str,
    password: str,
    role: Role | None,
    inspector_id: int | None,
    agency_id: int | None,
    enterprise_code: str,
    now: datetime,
) -> User:
    """Create an account; a manager's enterprise is given by its credit code. Then
    webapp.auth.service.create_user checks and writes the rest."""
    _require_admin(actor)
    if role is None:
        raise validation_error(
            [FieldError("role", "Choose the role: inspector, manager, supervisor or admin.")]
        )
    begin_write(session)  # one write transaction for the lookup and the account
    enterprise_id, problem = None, None
    if role == Role.supervisor and agency_id is not None and session.get(Agency, agency_id) is None:
        raise validation_error([FieldError("agency_id", "Choose the agency from the list.")])
    if role == Role.manager:
        enterprise_id, problem = _enterprise_by_code(
            session, code=enterprise_code, field="enterprise_id"
        )
    return _hand_over(
        lambda: auth_service.create_user(
            session,
            actor=actor,
            username=username,
            display_name=display_name,
            password=password,
            role=role,
            now=now,
            inspector_id=inspector_id,
            agency_id=agency_id,
            enterprise_id=enterprise_id,
        ),
        field="enterprise_id",
        problem=problem,
    )


def set_account_active(
    session: Session, *, actor: User, user_id: int, active: bool, now: datetime
) -> User:
    """Disable or enable an account (disabling ends every session of it); an administrator
    cannot lock themselves out."""
    _require_admin(actor)
    if user_id == actor.id and not active:
        raise DomainError(
            "cannot_disable_self",
            "You cannot disable your own account: ask another administrator.",
            status=409,
        )
    return auth_service.set_user_active(
        session, actor=actor, user_id=user_id, active=active, now=now
    )
