"""Flags raised by the rules, and their resolutions (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.agencies.models import Agency
from webapp.checkin.models import Scan, UnregisteredReport
from webapp.db import Base, UTCDateTime
from webapp.enterprises.models import Enterprise
from webapp.enums import FlagKind, Severity, VisitStatus, sa_enum
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


# --- derived summaries of the monthly report (webapp/supervision/summary.py) -----------------
# NOT evidence: rebuilt from the records at any time (`python -m webapp reports rebuild`),
# updated and deleted freely, never audited.


class AgencyClosure(Base):
    """Every (ancestor, agency) pair of the agency tree; an agency is its own ancestor.
    Derived from `agencies.parent_id` (rebuildable)."""

    __tablename__ = "agency_closure"

    ancestor_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class ReportVisitUnit(Base):
    """What one visit adds to one report unit in the month its window starts (local time,
    Settings.timezone: changing TIMEZONE needs `python -m webapp reports rebuild`).

    A unit is an agency's own work (`tree` false) or its whole subtree (`tree` true); a
    row exists when the visit counts for the unit at all. `inspection` 1: the visit is
    confirmed and someone of the unit took part (registered it, was on the team, covered an
    item); `extra`: such an inspection without a plan entry; `cases`, `fines_fen`: the
    newest inspection record, when the unit registered the visit (any status);
    `hazards`, `major_hazards`, `rectified_on_time`: findings of the newest record whose
    covering agency is in the unit (confirmed visits). Derived: NOT evidence, recomputed
    per visit from the records (the writer queues it, `summary.catch_up` recomputes it
    before the next read; rebuildable)."""

    __tablename__ = "report_visit_units"
    __table_args__ = (
        # Plan coverage's "merged" (reports._merging): the month's inspections of an
        # agency's own work by enterprise (migration 0010; each engine's spelling of the
        # query's `tree = false`).
        Index(
            "ix_report_visit_units_merge",
            "month",
            "agency_id",
            "enterprise_id",
            postgresql_where=text("NOT tree AND inspection = 1"),
            sqlite_where=text("tree = 0 AND inspection = 1"),
        ),
    )

    agency_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    visit_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    enterprise_id: Mapped[int] = mapped_column(Integer)
    inspection: Mapped[int] = mapped_column(Integer)
    extra: Mapped[int] = mapped_column(Integer)
    cases: Mapped[int] = mapped_column(Integer)
    fines_fen: Mapped[int] = mapped_column(BigInteger)
    hazards: Mapped[int] = mapped_column(Integer)
    major_hazards: Mapped[int] = mapped_column(Integer)
    rectified_on_time: Mapped[int] = mapped_column(Integer)


# Plan coverage's reads of `visits` (migration 0010), declared here beside the coverage's
# other index rather than in webapp/visits/models.py: "done" (reports._done) looks each plan
# entry up in the first, the extra visits (reports._extra_in) read the second alone.
_visits = Visit.__table__.c
CONFIRMED_ONLY = f"status = '{VisitStatus.confirmed.value}'"
EXTRA_NOT_CANCELLED = f"plan_entry_id IS NULL AND status <> '{VisitStatus.cancelled.value}'"
Index(
    "ix_visits_confirmed_plan_entry",
    _visits.plan_entry_id,
    postgresql_where=text(CONFIRMED_ONLY),
    sqlite_where=text(CONFIRMED_ONLY),
)
Index(
    "ix_visits_extra_window",
    _visits.window_start,
    _visits.agency_id,
    _visits.approval,
    postgresql_where=text(EXTRA_NOT_CANCELLED),
    sqlite_where=text(EXTRA_NOT_CANCELLED),
)


class ReportMonthVersion(Base):
    """A counter per local month of `report_visit_units`, bumped in the transaction that
    changes the rows of a month before the current one (summary.refresh_visits): a
    `report_chart_cache` row is valid only while its version is the month's. Derived."""

    __tablename__ = "report_month_versions"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class ReportChartCache(Base):
    """The 12-month chart's figures of one closed month for one scope (the sorted root
    agencies of a report), computed from `report_visit_units` at `version` of the month.
    Derived: deleted freely, refilled by the next read (PostgreSQL)."""

    __tablename__ = "report_chart_cache"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspections: Mapped[int] = mapped_column(Integer)
    extra: Mapped[int] = mapped_column(Integer)
    enterprises: Mapped[int] = mapped_column(Integer)
    cases: Mapped[int] = mapped_column(Integer)
    fines_fen: Mapped[int] = mapped_column(BigInteger)
    hazards: Mapped[int] = mapped_column(Integer)
    major_hazards: Mapped[int] = mapped_column(Integer)
    rectified_on_time: Mapped[int] = mapped_column(Integer)


class ReportSummaryQueue(Base):
    """Visits whose `report_visit_units` rows may be out of date: queued in the transaction
    that writes their records (summary's hooks, `summary.mark_written`), recomputed by
    `summary.catch_up` before the summary is read and by the background sweep. Keeps the
    recompute (a DELETE and an INSERT ... SELECT over the visit's records) off the writing
    request: a confirmation queues one row. Derived: rows deleted once applied."""

    __tablename__ = "report_summary_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    visit_id: Mapped[int] = mapped_column(Integer)
