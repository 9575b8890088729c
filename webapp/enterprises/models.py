"""Enterprises (生产经营单位)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.agencies.models import Agency
from webapp.db import Base, UTCDateTime
from webapp.enums import EnterpriseClass, sa_enum


class Enterprise(Base):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    # Unified social credit code, validated (webapp.enterprises.uscc) before it is stored.
    uscc: Mapped[str] = mapped_column(String(18), unique=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    industry: Mapped[str] = mapped_column(String(100), default="")
    enterprise_class: Mapped[EnterpriseClass] = mapped_column(
        sa_enum(EnterpriseClass, "enterprise_class")
    )
    # Safety-standardisation level 1/2/3/none, or coal-mine grade A/B/C/D.
    risk_grade: Mapped[str] = mapped_column(String(16))
    # The agency in charge (属地监管): flags raised by the enterprise go to it.
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    agency: Mapped[Agency] = relationship()
