"""Inspection records (检查记录): findings per checklist item, photos, the result notice's
acknowledgement, rectification of hazards. Append-only: a correction is a new version."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db import Base, UTCDateTime
from webapp.enums import FindingOutcome, RectificationOutcome, sa_enum
from webapp.items.models import InspectionItem
from webapp.visits.models import Visit


class Inspection(Base):
    """The recorded result of one confirmed visit. The newest version is the current one;
    earlier versions stay as evidence of what was corrected."""

    __tablename__ = "inspections"
    __table_args__ = (UniqueConstraint("visit_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per visit
    summary: Mapped[str] = mapped_column(Text, default="")
    case_opened: Mapped[bool] = mapped_column(Boolean, default=False)  # 立案
    case_number: Mapped[str] = mapped_column(String(64), default="")
    fine_fen: Mapped[int] = mapped_column(Integer, default=0)  # fine in fen (0.01 yuan)
    correction_reason: Mapped[str] = mapped_column(Text, default="")  # for version > 1
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    visit: Mapped[Visit] = relationship()
    findings: Mapped[list[ItemFinding]] = relationship(
        back_populates="inspection", order_by="ItemFinding.id"
    )
    acknowledgements: Mapped[list[NoticeAcknowledgement]] = relationship(
        back_populates="inspection", order_by="NoticeAcknowledgement.acknowledged_at"
    )


# The partial index's predicate: the sweep's statement says the same, with the value written
# in the SQL (not a bound parameter, which PostgreSQL's generic plans cannot match).
MAJOR_HAZARD_ONLY = f"outcome = '{FindingOutcome.major_hazard.value}'"


class ItemFinding(Base):
    """The result for one checklist item: compliant, hazard or major hazard."""

    __tablename__ = "item_findings"
    __table_args__ = (
        # The hazard sweep's read (findings.service.sweep_overdue_hazards): the major hazards
        # past their deadline, in deadline order, from this small index alone (it holds the
        # columns the sweep needs), not by reading every finding. Migration 0007.
        Index(
            "ix_item_findings_major_hazard_due",
            "rectify_by",
            "id",
            "inspection_id",
            "item_id",
            postgresql_where=text(MAJOR_HAZARD_ONLY),
            sqlite_where=text(MAJOR_HAZARD_ONLY),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("inspection_items.id"), index=True)
    outcome: Mapped[FindingOutcome] = mapped_column(sa_enum(FindingOutcome, "finding_outcome"))
    note: Mapped[str] = mapped_column(Text, default="")
    rectify_by: Mapped[date | None] = mapped_column(Date)  # rectification deadline

    inspection: Mapped[Inspection] = relationship(back_populates="findings")
    item: Mapped[InspectionItem] = relationship()
    photos: Mapped[list[FindingPhoto]] = relationship(
        back_populates="finding", order_by="FindingPhoto.id"
    )
    rectifications: Mapped[list[Rectification]] = relationship(
        back_populates="finding", order_by="Rectification.recorded_at"
    )


class FindingPhoto(Base):
    __tablename__ = "finding_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_finding_id: Mapped[int] = mapped_column(ForeignKey("item_findings.id"), index=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    finding: Mapped[ItemFinding] = relationship(back_populates="photos")


class NoticeAcknowledgement(Base):
    """The enterprise's acknowledgement of the result notice (检查结果告知)."""

    __tablename__ = "notice_acknowledgements"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspections.id"), index=True)
    acknowledged_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text, default="")

    inspection: Mapped[Inspection] = relationship(back_populates="acknowledgements")


class Rectification(Base):
    """A re-check's verdict on a hazard found earlier (复查): rectified or not."""

    __tablename__ = "rectifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_finding_id: Mapped[int] = mapped_column(ForeignKey("item_findings.id"), index=True)
    recheck_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    outcome: Mapped[RectificationOutcome] = mapped_column(
        sa_enum(RectificationOutcome, "rectification_outcome")
    )
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    finding: Mapped[ItemFinding] = relationship(back_populates="rectifications")
    recheck_visit: Mapped[Visit | None] = relationship()


class HazardSweepQueue(Base):
    """The major hazards the hazard sweep still has to look at (DERIVED: not evidence; rows
    are deleted freely, never audited; rebuilt by `findings.service.requeue_major_hazards`).

    Database triggers (migration 0009) add a row whenever evidence that can change a major
    hazard's verdict is written: a major hazard's finding with a deadline (a first record or
    a correction: `due` its deadline) or any rectification (`due` NULL: look at once, the
    sweep sets the current deadline if it has not passed). The sweep reads only the rows due,
    judges each hazard by the evidence as before, and deletes the rows it has judged for good
    (flagged, rectified on time, or no longer a major hazard). A hazard settled before its
    deadline is thus never read again until new evidence about it is written."""

    __tablename__ = "hazard_sweep_queue"

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("inspection_items.id"))
    due: Mapped[date | None] = mapped_column(Date, index=True)  # NULL: look at the next sweep
