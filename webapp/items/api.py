"""GET /api/v1/items: the inspection item list."""

from __future__ import annotations

from fastapi import APIRouter

from webapp.auth.deps import DB, ApiUser
from webapp.items import service
from webapp.items.schemas import InspectionItemOut

router = APIRouter(tags=["items"])


@router.get("/items", response_model=list[InspectionItemOut])
def list_items(db: DB, user: ApiUser) -> list[InspectionItemOut]:
    return [InspectionItemOut.model_validate(item) for item in service.list_items(db)]
