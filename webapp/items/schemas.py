"""JSON shapes of the inspection item list."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class InspectionItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    title: str
    legal_basis: str
    description: str
    max_per_year: int | None
