"""Agencies (a hierarchy), inspectors and their credentials."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db import Base, UTCDateTime
from webapp.enums import AgencyLevel, CredentialStatus, sa_enum


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[AgencyLevel] = mapped_column(sa_enum(AgencyLevel, "agency_level"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    parent: Mapped[Agency | None] = relationship(remote_side=[id])


class Inspector(Base):
    __tablename__ = "inspectors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    photo: Mapped[bytes | None] = mapped_column(LargeBinary)
    photo_type: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    agency: Mapped[Agency] = relationship()
    credentials: Mapped[list[Credential]] = relationship(
        back_populates="inspector", order_by="Credential.valid_until.desc()"
    )


class Credential(Base):
    """An enforcement credential (执法证)."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    inspector_id: Mapped[int] = mapped_column(ForeignKey("inspectors.id"), index=True)
    issuing_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    status: Mapped[CredentialStatus] = mapped_column(sa_enum(CredentialStatus, "credential_status"))
    # Enforcement fields (执法领域) the credential covers, space-separated codes matching
    # InspectionItem.field; "" means not restricted (older credentials carry no field).
    fields: Mapped[str] = mapped_column(String(200), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    inspector: Mapped[Inspector] = relationship(back_populates="credentials")
    issuing_agency: Mapped[Agency] = relationship()
