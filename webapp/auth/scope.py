"""Who may see what: agency subtrees, in one place for every domain's service."""

from __future__ import annotations

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from webapp.agencies.models import Agency
from webapp.auth.models import User
from webapp.enums import Role


def _subtree_statement() -> Select[int]:
    below = select(Agency.id).where(Agency.id == bindparam("root_id")).cte("below", recursive=True)
    # UNION, not UNION ALL: a (corrupt) cycle ends instead of looping.
    below = below.union(select(Agency.id).where(Agency.parent_id == below.c.id))
    return select(below.c.id)


# Built once. Down the tree by the parent index: a city's supervisor reads the city's dozen
# agencies, not the province's thousand (every page a supervisor opens asks).
_SUBTREE = _subtree_statement()


def agency_subtree_ids(session: Session, agency_id: int) -> set[int]:
    """The agency and every agency below it (county -> towns, ...)."""
    found = set(session.scalars(_SUBTREE, {"root_id": agency_id}))
    found.add(agency_id)
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
