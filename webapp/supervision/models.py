"""Flags raised by the rules, and their resolutions (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.agencies.models import Agency
from webapp.checkin.models import Scan, UnregisteredReport
from webapp.db import Base, UTCDateTime
from webapp.enterprises.models import Enterprise
from webapp.enums import FlagKind, Severity, sa_enum
from webapp.plans.models import PlanEntry
from webapp.visits.models import Visit


class Flag(Base):
    __tablename__ = "flags"
    __table_args__ = (
        # A rule raises its flag on a visit once, however many workers sweep.
        UniqueConstraint("kind", "dedupe_key"),
        Index("ix_flags_agency_raised", "agency_id", "raised_at"),
        # The flag list filtered by kind, newest first.
        Index("ix_flags_kind_raised", "kind", "raised_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[FlagKind] = mapped_column(sa_enum(FlagKind, "flag_kind"), index=True)
    severity: Mapped[Severity] = mapped_column(sa_enum(Severity, "severity"))
    dedupe_key: Mapped[str] = mapped_column(String(80))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("unregistered_reports.id"))
    plan_entry_id: Mapped[int | None] = mapped_column(ForeignKey("plan_entries.id"))
    detail: Mapped[str] = mapped_column(Text, default="")  # JSON: the rule's parameters
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)

    agency: Mapped[Agency] = relationship()
    enterprise: Mapped[Enterprise | None] = relationship()
    visit: Mapped[Visit | None] = relationship()
    scan: Mapped[Scan | None] = relationship()
    report: Mapped[UnregisteredReport | None] = relationship()
    plan_entry: Mapped[PlanEntry | None] = relationship()
    resolutions: Mapped[list[FlagResolution]] = relationship(
        back_populates="flag", order_by="FlagResolution.resolved_at"
    )


class FlagResolution(Base):
    __tablename__ = "flag_resolutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    flag_id: Mapped[int] = mapped_column(ForeignKey("flags.id"), index=True)
    note: Mapped[str] = mapped_column(Text)
    resolved_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime())

    flag: Mapped[Flag] = relationship(back_populates="resolutions")
