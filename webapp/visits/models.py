"""Visits: the registration and every decision on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, String, Table, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.agencies.models import Agency, Inspector
from webapp.db import Base, UTCDateTime
from webapp.enterprises.models import Enterprise
from webapp.enums import Approval, ExtraReason, VisitStatus, sa_enum
from webapp.items.models import InspectionItem
from webapp.plans.models import PlanEntry

visit_items = Table(
    "visit_items",
    Base.metadata,
    Column("visit_id", ForeignKey("visits.id"), primary_key=True),
    Column("item_id", ForeignKey("inspection_items.id"), primary_key=True),
    # In a joint visit, the agency that covers this item; NULL means the visit's own agency.
    Column("agency_id", ForeignKey("agencies.id"), nullable=True, index=True),
)

# The partial index's predicate (migration 0008), the value written in the SQL.
REGISTERED_ONLY = f"status = '{VisitStatus.registered.value}'"


class Visit(Base):
    __tablename__ = "visits"
    # An enterprise's visits in a period (its history, the caps, merged plan entries).
    __table_args__ = (
        Index("ix_visits_enterprise_window", "enterprise_id", "window_start"),
        # Confirmed (or registered) visits of a period: the reports, the sweep.
        Index("ix_visits_status_window", "status", "window_start"),
        # The report's unconfirmed counts read the registered visits by window from this
        # small index alone (migration 0008); the value is written in the predicate.
        Index(
            "ix_visits_registered_window",
            "window_start",
            "window_end",
            "agency_id",
            postgresql_where=text(REGISTERED_ONLY),
            sqlite_where=text(REGISTERED_ONLY),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unguessable id used in URLs and in the pass; the integer id never leaves the server.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    plan_entry_id: Mapped[int | None] = mapped_column(ForeignKey("plan_entries.id"), index=True)
    extra_reason: Mapped[ExtraReason | None] = mapped_column(sa_enum(ExtraReason, "extra_reason"))
    extra_reason_text: Mapped[str] = mapped_column(Text, default="")
    approval: Mapped[Approval] = mapped_column(sa_enum(Approval, "approval"))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[VisitStatus] = mapped_column(sa_enum(VisitStatus, "visit_status"), index=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # Per-visit key of the rotating pass; the phone gets it to keep rotating offline.
    pass_secret: Mapped[bytes] = mapped_column(LargeBinary(32))
    # First part of the short typed-in code; the rest is time-based.
    code_prefix: Mapped[str] = mapped_column(String(8), unique=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    # A re-check (复查) names the visit whose ordered rectification it checks.
    recheck_of_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)

    agency: Mapped[Agency] = relationship()
    enterprise: Mapped[Enterprise] = relationship()
    plan_entry: Mapped[PlanEntry | None] = relationship()
    recheck_of: Mapped[Visit | None] = relationship(remote_side=[id])
    team: Mapped[list[VisitInspector]] = relationship(
        back_populates="visit",
        order_by="(VisitInspector.position, VisitInspector.inspector_id)",  # as visits.rows
    )
    items: Mapped[list[InspectionItem]] = relationship(
        secondary=visit_items, order_by=InspectionItem.code
    )
    decisions: Mapped[list[VisitDecision]] = relationship(
        back_populates="visit", order_by="VisitDecision.decided_at"
    )

    @property
    def is_extra(self) -> bool:
        return self.plan_entry_id is None


class VisitInspector(Base):
    __tablename__ = "visit_inspectors"

    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), primary_key=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"), primary_key=True)
    position: Mapped[int] = mapped_column()  # 0 is the lead inspector
    # When an inspector joined an already registered visit (a joint visit); NULL means
    # named at registration.
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    visit: Mapped[Visit] = relationship(back_populates="team")
    inspector: Mapped[Inspector] = relationship()


class VisitDecision(Base):
    """A supervisor's approval or rejection of an extra visit (append-only)."""

    __tablename__ = "visit_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    decision: Mapped[Approval] = mapped_column(sa_enum(Approval, "decision"))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())

    visit: Mapped[Visit] = relationship(back_populates="decisions")
