"""Annual and monthly inspection plans and their entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.agencies.models import Agency
from webapp.db import Base, UTCDateTime
from webapp.enterprises.models import Enterprise
from webapp.enums import PlanKind, sa_enum
from webapp.items.models import InspectionItem

plan_entry_items = Table(
    "plan_entry_items",
    Base.metadata,
    Column("plan_entry_id", ForeignKey("plan_entries.id"), primary_key=True),
    Column("item_id", ForeignKey("inspection_items.id"), primary_key=True),
)


class Plan(Base):
    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("agency_id", "kind", "year", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    kind: Mapped[PlanKind] = mapped_column(sa_enum(PlanKind, "plan_kind"))
    year: Mapped[int] = mapped_column()
    month: Mapped[int | None] = mapped_column()  # None for an annual plan
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    agency: Mapped[Agency] = relationship()
    entries: Mapped[list[PlanEntry]] = relationship(back_populates="plan")


class PlanEntry(Base):
    """One enterprise to inspect in one month, with the items to check."""

    __tablename__ = "plan_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    # "YYYY-MM": the month the visit is due in.
    month: Mapped[str] = mapped_column(String(7), index=True)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    plan: Mapped[Plan] = relationship(back_populates="entries")
    agency: Mapped[Agency] = relationship()
    enterprise: Mapped[Enterprise] = relationship()
    items: Mapped[list[InspectionItem]] = relationship(
        secondary=plan_entry_items, order_by=InspectionItem.code
    )


class VisitCap(Base):
    """Yearly visit cap per enterprise class and grade (data an administrator edits).

    `enterprise_class` is an EnterpriseClass value, or "supervisory" (with grade "*") for
    the cap on visits by offices above the enterprise's own agency (督导)."""

    __tablename__ = "visit_caps"
    __table_args__ = (UniqueConstraint("enterprise_class", "risk_grade"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_class: Mapped[str] = mapped_column(String(32))
    risk_grade: Mapped[str] = mapped_column(String(16))
    max_per_year: Mapped[int] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
