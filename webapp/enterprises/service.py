"""Enterprises: search (inspectors, supervisors, admin) and creation (admin)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from webapp.agencies.models import Agency
from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.db import begin_write
from webapp.enterprises import uscc as uscc_codes
from webapp.enterprises.models import Enterprise
from webapp.enums import EnterpriseClass, Role
from webapp.errors import FieldError, forbidden, validation_error

MAX_LIMIT = 50
MIN_CODE_PREFIX = 2

# Safety-standardisation level (1/2/3/none) or coal-mine risk grade (A/B/C/D): DOMAIN.md.
RISK_GRADES: dict[EnterpriseClass, tuple[str, ...]] = {
    EnterpriseClass.hazchem_metallurgy: ("1", "2", "3", "none"),
    EnterpriseClass.other: ("1", "2", "3", "none"),
    EnterpriseClass.coal_mine: ("A", "B", "C", "D"),
}

SEARCH_ROLES = (Role.inspector, Role.supervisor, Role.admin)


def _as_code_prefix(text: str) -> str | None:
    """The text as the start of a credit code, or None if it cannot be one."""
    code = uscc_codes.normalize(text)
    if len(code) < MIN_CODE_PREFIX or len(code) > uscc_codes.LENGTH:
        return None
    if any(ch not in uscc_codes.VALUES for ch in code):
        return None
    return code


def search_statement(q: str, *, limit: int) -> Select[Enterprise]:
    """Enterprises whose name contains `q` (any case), or whose credit code starts with it,
    by name; at most `limit`. The code prefix is also given as a range (`uscc` between the
    prefix and the prefix followed by the highest code characters), which the unique index
    on `uscc` answers on either engine, whatever the collation (LIKE alone cannot use it)."""
    conditions: list[ColumnElement[bool]] = [Enterprise.name.icontains(q, autoescape=True)]
    prefix = _as_code_prefix(q)
    if prefix is not None:
        high = prefix + "Z" * (uscc_codes.LENGTH - len(prefix))
        conditions.append(
            and_(
                Enterprise.uscc >= prefix,
                Enterprise.uscc <= high,
                Enterprise.uscc.startswith(prefix, autoescape=True),
            )
        )
    return (
        select(Enterprise)
        .where(or_(*conditions))
        .order_by(Enterprise.name, Enterprise.id)
        .limit(limit)
    )


def search_enterprises(
    session: Session, *, actor: User, q: str, limit: int = 20
) -> list[Enterprise]:
    """Enterprises whose name contains `q`, or whose credit code starts with it.

    Managers cannot search: an enterprise sees only itself."""
    if actor.role not in SEARCH_ROLES:
        raise forbidden()
    text = q.strip()
    if not text:
        return []
    limit = max(1, min(limit, MAX_LIMIT))
    return list(session.scalars(search_statement(text, limit=limit)))


def get_enterprise(session: Session, *, enterprise_id: int) -> Enterprise | None:
    return session.get(Enterprise, enterprise_id)


def risk_grade_problem(enterprise_class: EnterpriseClass, risk_grade: str) -> FieldError | None:
    allowed = RISK_GRADES[enterprise_class]
    if risk_grade in allowed:
        return None
    return FieldError(
        "risk_grade",
        "Risk grade '%(grade)s' does not fit the class %(klass)s: choose one of %(allowed)s.",
        grade=risk_grade,
        klass=enterprise_class.value,
        allowed=", ".join(allowed),
    )


def create_enterprise(
    session: Session,
    *,
    actor: User,
    name: str,
    uscc: str,
    address: str,
    industry: str,
    enterprise_class: EnterpriseClass,
    risk_grade: str,
    agency_id: int,
    now: datetime,
) -> Enterprise:
    """Admin: add an enterprise after checking its credit code (GB 32100-2015)."""
    if actor.role != Role.admin:
        raise forbidden()
    begin_write(session)
    errors: list[FieldError] = []
    name = name.strip()
    if not name:
        errors.append(FieldError("name", "Give the enterprise's registered name."))
    elif len(name) > 200:
        errors.append(FieldError("name", "The name can be at most 200 characters."))
    code = uscc_codes.normalize(uscc)
    problem = uscc_codes.problem(uscc)
    if problem is not None:
        errors.append(FieldError("uscc", problem.message, **problem.params))
    else:
        existing = session.scalar(select(Enterprise).where(Enterprise.uscc == code))
        if existing is not None:
            errors.append(
                FieldError(
                    "uscc",
                    "An enterprise with the credit code %(code)s already exists: %(name)s.",
                    code=code,
                    name=existing.name,
                )
            )
    address = address.strip()
    if len(address) > 300:
        errors.append(FieldError("address", "The address can be at most 300 characters."))
    industry = industry.strip()
    if len(industry) > 100:
        errors.append(FieldError("industry", "The industry can be at most 100 characters."))
    risk_grade = risk_grade.strip()
    if len(risk_grade) == 1:
        risk_grade = risk_grade.upper()
    elif risk_grade.lower() == "none":
        risk_grade = "none"
    grade_error = risk_grade_problem(enterprise_class, risk_grade)
    if grade_error is not None:
        errors.append(grade_error)
    if session.get(Agency, agency_id) is None:
        errors.append(
            FieldError("agency_id", "No agency with id %(id)s: choose an agency.", id=agency_id)
        )
    if errors:
        raise validation_error(errors)
    enterprise = Enterprise(
        name=name,
        uscc=code,
        address=address,
        industry=industry,
        enterprise_class=enterprise_class,
        risk_grade=risk_grade,
        agency_id=agency_id,
        created_at=now,
    )
    session.add(enterprise)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="enterprise.created",
        object_type="enterprise",
        object_id=enterprise.id,
        now=now,
        data={
            "name": name,
            "uscc": code,
            "class": enterprise_class.value,
            "risk_grade": risk_grade,
            "agency_id": agency_id,
        },
    )
    session.commit()
    return enterprise
