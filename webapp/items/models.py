"""The published inspection item list (行政检查事项清单)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db import Base, UTCDateTime


class InspectionItem(Base):
    __tablename__ = "inspection_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    legal_basis: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    max_per_year: Mapped[int | None] = mapped_column()
    # The enforcement field (执法领域) a credential must cover to check this item, e.g.
    # "hazchem", "mining", "industry_trade"; "" means any credential will do.
    field: Mapped[str] = mapped_column(String(32), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
