"""Every scan of a pass (refused ones too) and unregistered-visit reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db import Base, UTCDateTime
from webapp.enterprises.models import Enterprise
from webapp.enums import ScanOutcome, sa_enum
from webapp.visits.models import Visit


class Scan(Base):
    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None when the pass names no visit we know (forged, garbled).
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    # The scanning manager's enterprise.
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)  # server time
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime())  # as the phone said
    outcome: Mapped[ScanOutcome] = mapped_column(sa_enum(ScanOutcome, "scan_outcome"))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    # How the pass was presented (url, token, code) and a digest of it; never the token.
    presented_as: Mapped[str] = mapped_column(String(8))
    presented_digest: Mapped[str] = mapped_column(String(64))

    visit: Mapped[Visit | None] = relationship()
    enterprise: Mapped[Enterprise | None] = relationship()


class UnregisteredReport(Base):
    """An enterprise's report of a visit that showed no valid pass (未报备检查)."""

    __tablename__ = "unregistered_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    who: Mapped[str] = mapped_column(Text)  # who came: names, agency, credential numbers seen
    what_they_said: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    enterprise: Mapped[Enterprise] = relationship()
