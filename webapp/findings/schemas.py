"""JSON shapes of the findings API (/api/v1): inspection records and their versions, the
result notice's acknowledgement, hazards tracked to closure."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from webapp.enums import FindingOutcome, RectificationOutcome
from webapp.findings import service
from webapp.findings.service import InspectionView
from webapp.labels import label_msgid
from webapp.web import translate


class ItemResultIn(BaseModel):
    item_id: int
    outcome: FindingOutcome | None = Field(
        default=None, description="Required for every item of the visit's checklist."
    )
    note: str = Field(default="", max_length=8000, description="Required for a hazard.")
    rectify_by: date | None = Field(
        default=None,
        description="Rectification deadline, required for a hazard: after the visit's day, "
        "at most 365 days after it.",
    )
    photos: list[str] = Field(
        default_factory=list,
        max_length=service.MAX_PHOTOS_PER_ITEM,
        description="New photos, base64 (JPEG or PNG, at most 8 MB each).",
    )


class RectificationIn(BaseModel):
    finding_id: int = Field(description="The original visit's hazard (its finding id).")
    outcome: RectificationOutcome
    note: str = Field(default="", max_length=8000)


class InspectionIn(BaseModel):
    """The findings of a confirmed visit. Recording again makes a new version and needs a
    `correction_reason`; `base_version` (the version you corrected) guards against a
    version recorded meanwhile."""

    results: list[ItemResultIn] = Field(max_length=200)
    summary: str = Field(default="", max_length=20000)
    case_opened: bool = False
    case_number: str = Field(default="", max_length=200)
    fine_fen: int = Field(default=0, description="The fine in fen (0.01 yuan); 0 for none.")
    correction_reason: str = Field(default="", max_length=8000)
    base_version: int | None = None
    drop_photo_ids: list[int] = Field(
        default_factory=list,
        max_length=1000,
        description="Photos of the previous version not to carry over.",
    )
    rectifications: list[RectificationIn] = Field(default_factory=list, max_length=200)


class FindingOut(BaseModel):
    id: int
    item_id: int
    item_code: str
    item_title: str
    outcome: FindingOutcome
    outcome_label: str
    note: str
    rectify_by: date | None
    photo_urls: list[str]


class AcknowledgementOut(BaseModel):
    id: int
    acknowledged_at: datetime
    acknowledged_by: str
    note: str


class InspectionOut(BaseModel):
    id: int
    version: int
    summary: str
    case_opened: bool
    case_number: str
    fine_fen: int
    fine_yuan: str = Field(description="The fine in yuan, for reading (e.g. '1,500.50').")
    correction_reason: str
    recorded_at: datetime
    recorded_by: str
    hazards: int
    major_hazards: int
    findings: list[FindingOut]
    acknowledgements: list[AcknowledgementOut]

    @classmethod
    def of(cls, view: InspectionView, lang: str) -> InspectionOut:
        return cls(
            id=view.id,
            version=view.version,
            summary=view.summary,
            case_opened=view.case_opened,
            case_number=view.case_number,
            fine_fen=view.fine_fen,
            fine_yuan=view.fine_yuan,
            correction_reason=view.correction_reason,
            recorded_at=view.recorded_at,
            recorded_by=view.recorded_by,
            hazards=view.hazards,
            major_hazards=view.major_hazards,
            findings=[
                FindingOut(
                    id=f.id,
                    item_id=f.item_id,
                    item_code=f.item_code,
                    item_title=f.item_title,
                    outcome=f.outcome,
                    outcome_label=translate(lang, label_msgid("finding_outcome", f.outcome)),
                    note=f.note,
                    rectify_by=f.rectify_by,
                    photo_urls=[f"/api/v1/finding-photos/{p}" for p in f.photo_ids],
                )
                for f in view.findings
            ],
            acknowledgements=[
                AcknowledgementOut(
                    id=a.id,
                    acknowledged_at=a.acknowledged_at,
                    acknowledged_by=a.acknowledged_by,
                    note=a.note,
                )
                for a in view.acknowledgements
            ],
        )


class VisitInspectionsOut(BaseModel):
    visit_public_id: str
    current: InspectionOut | None = Field(description="The newest version; null if none yet.")
    versions: list[InspectionOut] = Field(description="Every version, newest first.")


class AcknowledgeIn(BaseModel):
    note: str = Field(default="", max_length=8000)


class AcknowledgedOut(BaseModel):
    inspection_id: int
    created: bool = Field(description="False: this version had been acknowledged already.")
    acknowledgement: AcknowledgementOut


class RectificationOut(BaseModel):
    id: int
    outcome: RectificationOutcome
    note: str
    recorded_at: datetime
    recheck_visit_public_id: str | None


class HazardOut(BaseModel):
    finding_id: int
    visit_public_id: str
    version: int
    agency_id: int
    agency_name: str
    enterprise_id: int
    enterprise_name: str
    item_code: str
    item_title: str
    outcome: FindingOutcome
    note: str
    rectify_by: date | None
    closed: bool
    rectified_on: date | None
    rectified_on_time: bool
    days_overdue: int
    latest_rectification: RectificationOut | None
    recheck_state: str = Field(description="none, registered or confirmed.")
    recheck_visits: list[str] = Field(description="Public ids of the re-check visits.")

    @classmethod
    def of(cls, row: service.HazardRow) -> HazardOut:
        f = row.finding
        latest = row.latest
        return cls(
            finding_id=f.id,
            visit_public_id=row.visit.public_id,
            version=row.version,
            agency_id=row.visit.agency_id,
            agency_name=row.visit.agency.name,
            enterprise_id=row.visit.enterprise_id,
            enterprise_name=row.visit.enterprise.name,
            item_code=f.item.code,
            item_title=f.item.title,
            outcome=f.outcome,
            note=f.note,
            rectify_by=f.rectify_by,
            closed=row.closed,
            rectified_on=row.rectified_on,
            rectified_on_time=row.rectified_on_time,
            days_overdue=row.days_overdue,
            latest_rectification=RectificationOut(
                id=latest.id,
                outcome=latest.outcome,
                note=latest.note,
                recorded_at=latest.recorded_at,
                recheck_visit_public_id=latest.recheck_visit.public_id
                if latest.recheck_visit
                else None,
            )
            if latest
            else None,
            recheck_state=row.recheck_state,
            recheck_visits=[v.public_id for v in row.rechecks],
        )


class HazardPageOut(BaseModel):
    items: list[HazardOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
