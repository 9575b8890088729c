"""The inspection item list (行政检查事项清单): read by everyone, written by the admin."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.db import begin_write
from webapp.enums import Role
from webapp.errors import FieldError, forbidden, validation_error
from webapp.items.models import InspectionItem


def list_items(session: Session) -> list[InspectionItem]:
    """The whole item list, by code."""
    return list(session.scalars(select(InspectionItem).order_by(InspectionItem.code)))


def items_by_ids(session: Session, ids: Iterable[int]) -> tuple[list[InspectionItem], list[int]]:
    """The items with these ids (in the order given, without repeats) and the unknown ids."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return [], []
    found = {
        item.id: item
        for item in session.scalars(select(InspectionItem).where(InspectionItem.id.in_(wanted)))
    }
    return [found[i] for i in wanted if i in found], [i for i in wanted if i not in found]


def create_item(
    session: Session,
    *,
    actor: User,
    code: str,
    title: str,
    legal_basis: str,
    description: str,
    max_per_year: int | None,
    now: datetime,
) -> InspectionItem:
    """Admin: add an item to the list; its code is unique."""
    if actor.role != Role.admin:
        raise forbidden()
    begin_write(session)
    errors: list[FieldError] = []
    code = code.strip().upper()
    title = title.strip()
    legal_basis = legal_basis.strip()
    if not code:
        errors.append(FieldError("code", "Give the item's code from the published list."))
    elif len(code) > 32:
        errors.append(FieldError("code", "The code can be at most 32 characters."))
    elif session.scalar(select(InspectionItem.id).where(InspectionItem.code == code)):
        errors.append(
            FieldError("code", "The item list already has an item with code %(code)s.", code=code)
        )
    if not title:
        errors.append(FieldError("title", "Give the item's title."))
    elif len(title) > 300:
        errors.append(FieldError("title", "The title can be at most 300 characters."))
    if not legal_basis:
        errors.append(
            FieldError(
                "legal_basis",
                "Give the legal basis (law and article): the enterprise is shown it.",
            )
        )
    if max_per_year is not None and not 1 <= max_per_year <= 366:
        errors.append(
            FieldError(
                "max_per_year",
                "The maximum per year must be between 1 and 366, or empty for no maximum.",
            )
        )
    if errors:
        raise validation_error(errors)
    item = InspectionItem(
        code=code,
        title=title,
        legal_basis=legal_basis,
        description=description.strip(),
        max_per_year=max_per_year,
        created_at=now,
    )
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="item.created",
        object_type="inspection_item",
        object_id=item.id,
        now=now,
        data={"code": code, "title": title, "max_per_year": max_per_year},
    )
    session.commit()
    return item
