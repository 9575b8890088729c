"""JSON shapes of plans and plan entries."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from webapp.enterprises.schemas import EnterpriseRef
from webapp.enums import PlanKind
from webapp.items.schemas import InspectionItemOut


class PlanEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    plan_id: int
    agency_id: int
    enterprise: EnterpriseRef
    month: str
    note: str
    items: list[InspectionItemOut]


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    agency_id: int
    kind: PlanKind
    year: int
    month: int | None
    title: str
