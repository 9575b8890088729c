"""JSON shapes of the auth API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from webapp.enums import Role


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime


class Me(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    agency_id: int | None
    enterprise_id: int | None
    inspector_id: int | None
