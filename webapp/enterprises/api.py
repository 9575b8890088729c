"""GET /api/v1/enterprises?q=: search by name or credit code."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from webapp.auth.deps import DB, ApiUser
from webapp.enterprises import service
from webapp.enterprises.schemas import EnterpriseOut

router = APIRouter(tags=["enterprises"])


@router.get("/enterprises", response_model=list[EnterpriseOut])
def search(
    db: DB,
    user: ApiUser,
    q: Annotated[
        str, Query(max_length=100, description="Part of the name, or the start of the credit code")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[EnterpriseOut]:
    found = service.search_enterprises(db, actor=user, q=q, limit=limit)
    return [EnterpriseOut.model_validate(e) for e in found]
