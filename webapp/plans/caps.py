"""Yearly visit caps per enterprise class and grade: data the administrator edits
(DOMAIN.md's published table is the migration's default), read by the over-cap rule."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.db import begin_write, plain_reads
from webapp.enterprises.service import RISK_GRADES
from webapp.enums import EnterpriseClass, Role
from webapp.errors import FieldError, forbidden, not_found, validation_error
from webapp.plans.models import VisitCap

# Visits by an office above the enterprise's own agency (督导) have one cap, any grade.
SUPERVISORY = "supervisory"
ANY_GRADE = "*"
SUPERVISORY_KEY = (SUPERVISORY, ANY_GRADE)
MAX_CAP = 366

CAP_CLASS_LABELS = {
    "hazchem_metallurgy": "Hazardous chemicals and metallurgy",
    "other": "Other, non-high-risk industries",
    "coal_mine": "Coal mine",
    "supervisory": "Supervisory visits by higher offices",
}
CAP_GRADE_LABELS = {
    "1": "Standardisation level 1",
    "2": "Standardisation level 2",
    "3": "Standardisation level 3",
    "none": "Not standardised",
    "A": "Risk grade A",
    "B": "Risk grade B",
    "C": "Risk grade C",
    "D": "Risk grade D",
    "*": "Any grade",
}

# Every (class, grade) a cap can be set for, in the order the table is shown.
CAP_KEYS: list[tuple[str, str]] = [
    *((klass.value, grade) for klass in EnterpriseClass for grade in RISK_GRADES[klass]),
    SUPERVISORY_KEY,
]


def _require_admin(actor: User) -> None:
    if actor.role != Role.admin:
        raise forbidden()


_CAPS = select(VisitCap.enterprise_class, VisitCap.risk_grade, VisitCap.max_per_year)


def load_caps(session: Session) -> dict[tuple[str, str], int]:
    """(enterprise class, grade) -> visits per year; ("supervisory", "*") for visits by
    offices above the enterprise's own agency. One query; no permission needed (rules)."""
    rows = plain_reads(session).execute(_CAPS)
    return {(klass, grade): cap for klass, grade, cap in rows}


def _order(cap: VisitCap) -> tuple[int, str]:
    key = (cap.enterprise_class, cap.risk_grade)
    return (CAP_KEYS.index(key) if key in CAP_KEYS else len(CAP_KEYS), f"{key}")


def list_caps(session: Session, *, actor: User) -> list[VisitCap]:
    """Admin: the caps table, by class then grade as DOMAIN.md lists them."""
    _require_admin(actor)
    return sorted(session.scalars(select(VisitCap)), key=_order)


def cap_problem(max_per_year: int | None, field: str = "max_per_year") -> FieldError | None:
    if max_per_year is None or not 0 <= max_per_year <= MAX_CAP:
        return FieldError(
            field,
            "Give the cap as a whole number of visits per year, from 0 to %(max)s.",
            max=MAX_CAP,
        )
    return None


def set_cap(
    session: Session, *, actor: User, cap_id: int, max_per_year: int | None, now: datetime
) -> VisitCap:
    """Admin: change one cap; the old and new value are an audit event. Setting the value it
    already has changes nothing and records nothing."""
    _require_admin(actor)
    begin_write(session)
    cap = session.get(VisitCap, cap_id)
    if cap is None:
        session.rollback()
        raise not_found("cap")
    problem = cap_problem(max_per_year)
    if problem is not None:
        session.rollback()
        raise validation_error([problem])
    assert max_per_year is not None
    if cap.max_per_year == max_per_year:
        session.commit()
        return cap
    previous = cap.max_per_year
    cap.max_per_year = max_per_year
    cap.updated_at = now
    cap.updated_by_id = actor.id
    audit.record(
        session,
        actor_id=actor.id,
        action="visit_cap.changed",
        object_type="visit_cap",
        object_id=cap.id,
        now=now,
        data={
            "enterprise_class": cap.enterprise_class,
            "risk_grade": cap.risk_grade,
            "from": previous,
            "to": max_per_year,
        },
    )
    session.commit()
    return cap
