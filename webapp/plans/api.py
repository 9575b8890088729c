"""GET /api/v1/plan-entries?month=YYYY-MM and GET /api/v1/plans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from webapp.auth.deps import DB, ApiUser
from webapp.plans import service
from webapp.plans.schemas import PlanEntryOut, PlanOut

router = APIRouter(tags=["plans"])


@router.get("/plan-entries", response_model=list[PlanEntryOut])
def plan_entries(
    db: DB,
    user: ApiUser,
    month: Annotated[str, Query(max_length=7, description="YYYY-MM, e.g. 2026-11")],
) -> list[PlanEntryOut]:
    entries = service.plan_entries_for(db, actor=user, month=month)
    return [PlanEntryOut.model_validate(e) for e in entries]


@router.get("/plans", response_model=list[PlanOut])
def plans(db: DB, user: ApiUser) -> list[PlanOut]:
    return [PlanOut.model_validate(p) for p in service.list_plans(db, actor=user)]
