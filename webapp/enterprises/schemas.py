"""JSON shapes of the enterprises API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from webapp.enums import EnterpriseClass


class EnterpriseOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    uscc: str
    address: str
    industry: str
    enterprise_class: EnterpriseClass
    risk_grade: str
    agency_id: int


class EnterpriseRef(BaseModel):
    """An enterprise as named inside another object."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    uscc: str
