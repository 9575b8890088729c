"""Who may see what: agency subtrees, in one place for every domain's service."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.agencies.models import Agency
from webapp.auth.models import User
from webapp.enums import Role


def agency_subtree_ids(session: Session, agency_id: int) -> set[int]:
    """The agency and every agency below it (county -> towns, ...)."""
    rows = session.execute(select(Agency.id, Agency.parent_id)).all()
    children: dict[int | None, list[int]] = {}
    for aid, parent in rows:
        children.setdefault(parent, []).append(aid)
    found, todo = {agency_id}, [agency_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def visible_agency_ids(session: Session, user: User) -> set[int] | None:
    """Agencies whose visits and flags the user may see; None means all (admin).
    Inspectors see their own agency; supervisors theirs and everything below; managers none
    (they see their enterprise's confirmed visits through the enterprise, not an agency)."""
    if user.role == Role.admin:
        return None
    if user.role == Role.supervisor and user.agency_id is not None:
        return agency_subtree_ids(session, user.agency_id)
    if user.role == Role.inspector and user.agency_id is not None:
        return {user.agency_id}
    return set()
