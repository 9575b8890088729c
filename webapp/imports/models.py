"""Import batches: a checked file waiting for confirmation, then its application."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import Base, UTCDateTime
from webapp.enums import ImportKind, ImportStatus, sa_enum


class ImportBatch(Base):
    """One uploaded file: every row checked, the diff against the database computed, the
    normalised rows kept so a confirmation applies exactly what was shown."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ImportKind] = mapped_column(sa_enum(ImportKind, "import_kind"))
    status: Mapped[ImportStatus] = mapped_column(sa_enum(ImportStatus, "import_status"))
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    # The agency a plan import belongs to (None for reference data).
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"))
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[str] = mapped_column(Text, default="")  # JSON: normalised rows + diff
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
