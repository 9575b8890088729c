"""Findings use cases: record what a confirmed visit found per checklist item (and correct
it as a new version), the result notice (检查结果告知) the enterprise acknowledges, and
hazards tracked until a re-check finds them rectified, with the sweep that flags major
hazards left past their deadline.

Append-only throughout: a correction is Inspection version N+1 with its reason (earlier
versions stay, with their photos and acknowledgements); each version is acknowledged on its
own; a re-check appends Rectification rows, the latest one deciding whether a hazard is
closed. A hazard is identified by (visit, item): its rectifications follow it across
corrected versions.

Who: the inspectors on the visit's team record (of any agency: joint visits); inspectors of
the visit's agency, supervisors of it or above, and administrators read; the enterprise's
safety managers read the notice of their own confirmed visits only. Anything else answers
`not_found`, exactly like a missing object.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import (
    Select,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, defer, selectinload

from webapp import idempotency
from webapp.agencies.models import Agency
from webapp.audit import service as audit
from webapp.auth import security
from webapp.auth.models import User
from webapp.auth.scope import agency_subtree_ids, visible_agency_ids
from webapp.db import begin_write
from webapp.enums import FindingOutcome, FlagKind, RectificationOutcome, Role, VisitStatus
from webapp.errors import DomainError, FieldError, forbidden, not_found
from webapp.findings.models import (
    FindingPhoto,
    HazardSweepQueue,
    Inspection,
    ItemFinding,
    NoticeAcknowledgement,
    Rectification,
)
from webapp.items.models import InspectionItem
from webapp.rules import hazards as hazard_rules
from webapp.supervision import service as supervision_service
from webapp.supervision.flags import raise_flag
from webapp.supervision.models import Flag
from webapp.visits import service as visits_service
from webapp.visits.models import Visit, VisitInspector
from webapp.web import to_local

IDEMPOTENCY_SCOPE = "findings.record"
MAX_NOTE_LENGTH = 4000
MAX_SUMMARY_LENGTH = 8000
MAX_CASE_NUMBER_LENGTH = 64
MAX_REASON_LENGTH = 4000
MIN_REASON_LENGTH = 4
# The largest single fine of the Work Safety Law (特别重大事故: up to 20 million yuan); it
# also keeps the fen within a 32-bit integer column on PostgreSQL.
MAX_FINE_YUAN = 20_000_000
MAX_FINE_FEN = MAX_FINE_YUAN * 100
MAX_PHOTOS_PER_ITEM = 4
MAX_PHOTO_BYTES = 8 * 1024 * 1024  # a phone camera's full-size JPEG
MAX_PHOTO_PIXELS = 64_000_000  # refuses decompression bombs before decoding them
PHOTO_LONG_SIDE = 1600  # enough to read a gauge or a label; a page stays light
PHOTO_TYPE = "image/jpeg"
HAZARDS_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
HAZARD_OUTCOMES = (FindingOutcome.hazard, FindingOutcome.major_hazard)


# --- input -----------------------------------------------------------------------------------


@dataclass
class ItemResult:
    """One checklist item's result as given (strings are checked by the service)."""

    item_id: int
    outcome: FindingOutcome | str | None
    note: str = ""
    rectify_by: date | str | None = None  # a date, or ISO text from a form


@dataclass
class RectificationInput:
    """A re-check's verdict on a hazard of the original visit (its ItemFinding id)."""

    finding_id: int
    outcome: RectificationOutcome | str | None
    note: str = ""


class _Problems:
    """Field errors, each with its stable code; the first code names the refusal."""

    def __init__(self) -> None:
        self.items: list[tuple[str, FieldError]] = []

    def add(self, code: str, field_name: str, *, message: str, **params: Any) -> None:
        self.items.append((code, FieldError(field_name, message, **params)))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        errors = [e for _, e in self.items]
        raise DomainError(
            self.items[0][0],
            "Some fields need correcting: %(fields)s.",
            status=422,
            errors=errors,
            codes=[c for c, _ in self.items],
            fields=", ".join(dict.fromkeys(e.field for e in errors)),
        )


# --- amounts and photos ----------------------------------------------------------------------

_YUAN = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def parse_fine_yuan(text: str) -> tuple[int | None, str | None, FieldError | None]:
    """A fine typed in yuan ("1500", "1,500.50", "¥1500", "1500元") as exact fen; empty is
    no fine. Returns (fen, None, None) or (None, code, why)."""
    cleaned = text.strip().replace("，", ",").replace(" ", "")
    cleaned = cleaned.lstrip("¥￥").removesuffix("元")
    if cleaned == "":
        return 0, None, None
    if cleaned.startswith("-"):
        return None, "fine_negative", FieldError("fine", "A fine cannot be negative.")
    if not _YUAN.match(cleaned):
        return (
            None,
            "fine_invalid",
            FieldError(
                "fine",
                "Write the fine in yuan, in figures, for example 1500 or 1,500.50.",
            ),
        )
    try:
        amount = Decimal(cleaned.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only figures
        return None, "fine_invalid", FieldError("fine", "Write the fine in yuan, in figures.")
    fen = amount * 100
    if fen != fen.to_integral_value():
        return (
            None,
            "fine_invalid",
            FieldError("fine", "A fine has at most two decimals (fen), e.g. 1500.50."),
        )
    return _check_fine(int(fen))


def _check_fine(fen: int) -> tuple[int | None, str | None, FieldError | None]:
    if fen < 0:
        return None, "fine_negative", FieldError("fine", "A fine cannot be negative.")
    if fen > MAX_FINE_FEN:
        return (
            None,
            "fine_too_large",
            FieldError(
                "fine",
                "A fine above %(max)s yuan is not possible: check the figure.",
                max=f"{MAX_FINE_YUAN:,}",
            ),
        )
    return fen, None, None


def format_fen(fen: int) -> str:
    """Fen as yuan for reading: 150050 -> '1,500.50'."""
    return f"{fen // 100:,}.{fen % 100:02d}"


def prepare_finding_photo(
    data: bytes, *, field_name: str
) -> tuple[bytes | None, str | None, FieldError | None]:
    """A JPEG or PNG of at most 8 MB, verified, turned upright and re-encoded as a JPEG at
    most PHOTO_LONG_SIDE px on its long side (metadata such as GPS is dropped). Returns
    (jpeg, None, None) or (None, code, why)."""
    if len(data) > MAX_PHOTO_BYTES:
        return (
            None,
            "photo_too_big",
            FieldError(
                field_name,
                "A photo is larger than %(max)s MB: send a smaller copy (or take it at a "
                "lower resolution).",
                max=MAX_PHOTO_BYTES // (1024 * 1024),
            ),
        )
    not_a_picture = FieldError(field_name, "A file chosen is not a JPEG or PNG picture.")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind = probe.format
            width, height = probe.size
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None, "photo_type", not_a_picture
    if kind not in ("JPEG", "PNG"):
        return (
            None,
            "photo_type",
            FieldError(
                field_name,
                "Photos must be JPEG or PNG pictures; one is %(format)s.",
                format=kind or "?",
            ),
        )
    if width * height > MAX_PHOTO_PIXELS:
        return (
            None,
            "photo_too_big",
            FieldError(
                field_name,
                "A picture of %(width)s × %(height)s pixels is too large: take it at a lower "
                "resolution.",
                width=width,
                height=height,
            ),
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            if kind == "JPEG":
                # Decode a big JPEG at a reduced scale straight away (less memory).
                image.draft("RGB", (PHOTO_LONG_SIDE, PHOTO_LONG_SIDE))
            picture = ImageOps.exif_transpose(image)
            if picture.mode in ("RGBA", "LA", "P"):
                picture = picture.convert("RGBA")
                background = Image.new("RGB", picture.size, (255, 255, 255))
                background.paste(picture, mask=picture.getchannel("A"))
                picture = background
            else:
                picture = picture.convert("RGB")
            picture.thumbnail((PHOTO_LONG_SIDE, PHOTO_LONG_SIDE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            picture.save(out, format="JPEG", quality=82, optimize=True)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None, "photo_type", not_a_picture
    return out.getvalue(), None, None


# --- who may see and record ------------------------------------------------------------------


def _load_visit(session: Session, public_id: str, *, for_update: bool = False) -> Visit | None:
    if not public_id or len(public_id) > 64:
        return None
    query = (
        select(Visit)
        .where(Visit.public_id == public_id)
        .options(
            selectinload(Visit.team).selectinload(VisitInspector.inspector),
            selectinload(Visit.items),
            selectinload(Visit.agency),
            selectinload(Visit.enterprise),
        )
    )
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def _on_team(visit: Visit, actor: User) -> bool:
    return visits_service.is_team_member(visit, actor)


def _can_read(session: Session, visit: Visit, actor: User) -> bool:
    """The visit's team, its agency's inspectors, supervisors above it, the administrator;
    the enterprise's own managers once the visit was confirmed (their notice)."""
    if actor.role == Role.manager:
        return (
            actor.enterprise_id is not None
            and visit.enterprise_id == actor.enterprise_id
            and visit.status == VisitStatus.confirmed
        )
    if _on_team(visit, actor):
        return True
    agencies = visible_agency_ids(session, actor)
    return agencies is None or visit.agency_id in agencies


def readable_visit(session: Session, *, actor: User, public_id: str) -> Visit:
    visit = _load_visit(session, public_id)
    if visit is None or not _can_read(session, visit, actor):
        raise not_found("visit")
    return visit


def _check_recorder(session: Session, visit: Visit | None, actor: User) -> Visit:
    """Only an inspector on the visit's team records its findings, once it was confirmed."""
    if visit is None or not _can_read(session, visit, actor):
        raise not_found("visit")
    if actor.role == Role.manager:
        raise not_found("visit")
    if not _on_team(visit, actor):
        raise DomainError(
            "not_on_team",
            "Only the inspectors on this visit's team record its findings.",
            status=403,
        )
    if visit.status != VisitStatus.confirmed:
        raise DomainError(
            "visit_not_confirmed",
            "Findings are recorded after the enterprise has confirmed the visit; this visit "
            "is %(visit_status)s.",
            status=409,
            visit_status=visit.status.value,
        )
    return visit


def can_record(visit: Visit, actor: User) -> bool:
    return _on_team(visit, actor) and visit.status == VisitStatus.confirmed


def visit_day(visit: Visit) -> date:
    """The local day the visit took place (its confirmation; else its window's start)."""
    return to_local(visit.confirmed_at or visit.window_start).date()


# --- reading inspections ---------------------------------------------------------------------


@dataclass(frozen=True)
class FindingView:
    id: int
    item_id: int
    item_code: str
    item_title: str
    legal_basis: str
    outcome: FindingOutcome
    note: str
    rectify_by: date | None
    photo_ids: list[int]

    @property
    def is_hazard(self) -> bool:
        return self.outcome in HAZARD_OUTCOMES


@dataclass(frozen=True)
class AckView:
    id: int
    acknowledged_at: datetime
    acknowledged_by: str
    note: str


@dataclass(frozen=True)
class InspectionView:
    id: int
    visit_id: int
    version: int
    summary: str
    case_opened: bool
    case_number: str
    fine_fen: int
    correction_reason: str
    recorded_at: datetime
    recorded_by: str
    findings: list[FindingView]
    acknowledgements: list[AckView]

    @property
    def fine_yuan(self) -> str:
        return format_fen(self.fine_fen)

    @property
    def hazards(self) -> int:
        return sum(1 for f in self.findings if f.outcome == FindingOutcome.hazard)

    @property
    def major_hazards(self) -> int:
        return sum(1 for f in self.findings if f.outcome == FindingOutcome.major_hazard)

    @property
    def acknowledged(self) -> AckView | None:
        return self.acknowledgements[0] if self.acknowledgements else None


def _names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {uid: name for uid, name in rows}


def _inspection_loads() -> list[Any]:
    return [
        selectinload(Inspection.findings).selectinload(ItemFinding.item),
        selectinload(Inspection.findings)
        .selectinload(ItemFinding.photos)
        .options(defer(FindingPhoto.content)),
        selectinload(Inspection.acknowledgements),
    ]


def _versions(session: Session, visit_id: int) -> list[Inspection]:
    """Every version of a visit's inspection record, newest first."""
    return list(
        session.scalars(
            select(Inspection)
            .where(Inspection.visit_id == visit_id)
            .options(*_inspection_loads())
            .order_by(Inspection.version.desc())
            .execution_options(populate_existing=True)
        )
    )


def inspection_views(session: Session, inspections: Sequence[Inspection]) -> list[InspectionView]:
    names = _names(
        session,
        [i.recorded_by_id for i in inspections]
        + [a.acknowledged_by_id for i in inspections for a in i.acknowledgements],
    )
    views = []
    for i in inspections:
        findings = sorted(i.findings, key=lambda f: (f.item.code, f.id))
        views.append(
            InspectionView(
                id=i.id,
                visit_id=i.visit_id,
                version=i.version,
                summary=i.summary,
                case_opened=i.case_opened,
                case_number=i.case_number,
                fine_fen=i.fine_fen,
                correction_reason=i.correction_reason,
                recorded_at=i.recorded_at,
                recorded_by=names.get(i.recorded_by_id, "?"),
                findings=[
                    FindingView(
                        id=f.id,
                        item_id=f.item_id,
                        item_code=f.item.code,
                        item_title=f.item.title,
                        legal_basis=f.item.legal_basis,
                        outcome=f.outcome,
                        note=f.note,
                        rectify_by=f.rectify_by,
                        photo_ids=[p.id for p in f.photos],
                    )
                    for f in findings
                ],
                acknowledgements=[
                    AckView(
                        id=a.id,
                        acknowledged_at=a.acknowledged_at,
                        acknowledged_by=names.get(a.acknowledged_by_id, "?"),
                        note=a.note,
                    )
                    for a in sorted(i.acknowledgements, key=lambda a: (a.acknowledged_at, a.id))
                ],
            )
        )
    return views


@dataclass(frozen=True)
class VisitInspections:
    """A visit with every version of its inspection record (newest first)."""

    visit: Visit
    versions: list[InspectionView]
    can_record: bool
    rectifications: list[RectificationView] = field(default_factory=list)

    @property
    def current(self) -> InspectionView | None:
        return self.versions[0] if self.versions else None


@dataclass(frozen=True)
class RectificationView:
    """A rectification a re-check recorded (shown on the re-check's own record)."""

    id: int
    item_code: str
    item_title: str
    outcome: RectificationOutcome
    note: str
    recorded_at: datetime
    recorded_by: str


def _recorded_rectifications(session: Session, visit_id: int) -> list[RectificationView]:
    rows = list(
        session.scalars(
            select(Rectification)
            .where(Rectification.recheck_visit_id == visit_id)
            .options(selectinload(Rectification.finding).selectinload(ItemFinding.item))
            .order_by(Rectification.recorded_at, Rectification.id)
        )
    )
    names = _names(session, (r.recorded_by_id for r in rows))
    return [
        RectificationView(
            id=r.id,
            item_code=r.finding.item.code,
            item_title=r.finding.item.title,
            outcome=r.outcome,
            note=r.note,
            recorded_at=r.recorded_at,
            recorded_by=names.get(r.recorded_by_id, "?"),
        )
        for r in rows
    ]


def visit_inspections(session: Session, *, actor: User, public_id: str) -> VisitInspections:
    """The inspection record of a visit, every version, for those who may read it."""
    visit = readable_visit(session, actor=actor, public_id=public_id)
    return VisitInspections(
        visit=visit,
        versions=inspection_views(session, _versions(session, visit.id)),
        can_record=can_record(visit, actor),
        rectifications=_recorded_rectifications(session, visit.id),
    )


def current_inspection(session: Session, *, visit_id: int) -> Inspection | None:
    """The current (newest) version of a visit's inspection record, or None."""
    return session.scalar(
        select(Inspection)
        .where(Inspection.visit_id == visit_id)
        .order_by(Inspection.version.desc())
        .limit(1)
    )


# --- hazards and their rectification ---------------------------------------------------------


@dataclass(frozen=True)
class HazardRow:
    """A hazard of a visit's current inspection version and where its rectification is."""

    finding: ItemFinding
    visit: Visit
    version: int
    rectifications: list[Rectification]
    rechecks: list[Visit]  # re-check visits registered for the original visit (not cancelled)
    today: date

    @property
    def latest(self) -> Rectification | None:
        return self.rectifications[-1] if self.rectifications else None

    @property
    def closed(self) -> bool:
        latest = self.latest
        return latest is not None and latest.outcome == RectificationOutcome.rectified

    @property
    def rectified_on(self) -> date | None:
        latest = self.latest
        return to_local(latest.recorded_at).date() if self.closed and latest else None

    @property
    def rectified_on_time(self) -> bool:
        return hazard_rules.rectified_on_time(self.finding.rectify_by, self.rectified_on)

    @property
    def days_overdue(self) -> int:
        return hazard_rules.days_overdue(self.finding.rectify_by, self.rectified_on, self.today)

    @property
    def recheck_state(self) -> str:
        """none | registered | confirmed: how far the re-check visits have got."""
        states = {v.status for v in self.rechecks}
        if VisitStatus.confirmed in states:
            return "confirmed"
        if VisitStatus.registered in states:
            return "registered"
        return "none"


def _rectifications_by_hazard(
    session: Session, visit_ids: Collection[int]
) -> dict[tuple[int, int], list[Rectification]]:
    """Rectifications of the given visits' hazards, oldest first, keyed by (visit, item)."""
    found: dict[tuple[int, int], list[Rectification]] = {}
    if not visit_ids:
        return found
    rows = session.execute(
        select(Rectification, Inspection.visit_id, ItemFinding.item_id)
        .join(ItemFinding, Rectification.item_finding_id == ItemFinding.id)
        .join(Inspection, ItemFinding.inspection_id == Inspection.id)
        .where(Inspection.visit_id.in_(list(visit_ids)))
        .order_by(Rectification.recorded_at, Rectification.id)
    )
    for rect, visit_id, item_id in rows:
        found.setdefault((visit_id, item_id), []).append(rect)
    return found


def _rechecks_of(session: Session, visit_ids: Collection[int]) -> dict[int, list[Visit]]:
    found: dict[int, list[Visit]] = {}
    if not visit_ids:
        return found
    for visit in session.scalars(
        select(Visit)
        .where(
            Visit.recheck_of_visit_id.in_(list(visit_ids)),
            Visit.status != VisitStatus.cancelled,
        )
        .order_by(Visit.window_start, Visit.id)
    ):
        assert visit.recheck_of_visit_id is not None
        found.setdefault(visit.recheck_of_visit_id, []).append(visit)
    return found


def _hazard_rows(
    session: Session, findings: Sequence[ItemFinding], *, today: date
) -> list[HazardRow]:
    visit_ids = {f.inspection.visit_id for f in findings}
    rects = _rectifications_by_hazard(session, visit_ids)
    rechecks = _rechecks_of(session, visit_ids)
    return [
        HazardRow(
            finding=f,
            visit=f.inspection.visit,
            version=f.inspection.version,
            rectifications=rects.get((f.inspection.visit_id, f.item_id), []),
            rechecks=rechecks.get(f.inspection.visit_id, []),
            today=today,
        )
        for f in findings
    ]


def _hazard_loads() -> list[Any]:
    return [
        selectinload(ItemFinding.item),
        selectinload(ItemFinding.inspection)
        .selectinload(Inspection.visit)
        .options(selectinload(Visit.enterprise), selectinload(Visit.agency)),
    ]


def _current_version_clause() -> Any:
    newer = aliased(Inspection)
    latest = (
        select(func.max(newer.version))
        .where(newer.visit_id == Inspection.visit_id)
        .correlate(Inspection)
        .scalar_subquery()
    )
    return Inspection.version == latest


def _latest_rectification(column: Any) -> Any:
    """`column` of the latest rectification, by (recorded_at, id), of the hazard (visit, item)
    in the outer query, over every inspection version of the visit, as a correlated scalar
    (NULL when none)."""
    other_finding = aliased(ItemFinding)
    other_inspection = aliased(Inspection)
    return (
        select(column)
        .join(other_finding, Rectification.item_finding_id == other_finding.id)
        .join(other_inspection, other_finding.inspection_id == other_inspection.id)
        .where(
            other_inspection.visit_id == Inspection.visit_id,
            other_finding.item_id == ItemFinding.item_id,
        )
        .order_by(Rectification.recorded_at.desc(), Rectification.id.desc())
        .limit(1)
        .correlate(Inspection, ItemFinding)
        .scalar_subquery()
    )


def open_hazards_of(session: Session, *, visit: Visit, today: date) -> list[HazardRow]:
    """Every hazard of a visit's current inspection version (open or closed), by item."""
    findings = list(
        session.scalars(
            select(ItemFinding)
            .join(Inspection, ItemFinding.inspection_id == Inspection.id)
            .join(InspectionItem, ItemFinding.item_id == InspectionItem.id)
            .where(
                Inspection.visit_id == visit.id,
                _current_version_clause(),
                ItemFinding.outcome.in_(HAZARD_OUTCOMES),
            )
            .options(*_hazard_loads())
            .order_by(InspectionItem.code, ItemFinding.id)
        )
    )
    return _hazard_rows(session, findings, today=today)


class HazardState(StrEnum):
    open = "open"
    closed = "closed"
    all = "all"


class HazardLevel(StrEnum):
    major = "major"  # major hazards only (重大事故隐患)
    all = "all"  # general hazards too


@dataclass(frozen=True)
class HazardPage:
    items: list[HazardRow]
    next_cursor: str | None


def _invalid(code: str, field_name: str, *, message: str, **params: Any) -> DomainError:
    return DomainError(
        code,
        message,
        field=field_name,
        status=422,
        errors=[FieldError(field_name, message, **params)],
        **params,
    )


def encode_hazard_cursor(rectify_by: date | None, finding_id: int) -> str:
    raw = f"{rectify_by.isoformat() if rectify_by else ''}:{finding_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_hazard_cursor(cursor: str) -> tuple[date, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        day_text, id_text = raw.split(":")
        return date.fromisoformat(day_text), int(id_text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise _invalid(
            "validation_error",
            "cursor",
            message="The page cursor is not valid: start again from the first page.",
        ) from exc


def list_hazards(
    session: Session,
    *,
    actor: User,
    now: datetime,
    state: HazardState = HazardState.open,
    level: HazardLevel = HazardLevel.major,
    agency_id: int | None = None,
    cursor: str | None = None,
    limit: int = HAZARDS_PAGE_SIZE,
) -> HazardPage:
    """Hazards of the current inspection versions in the supervisor's agencies, the
    earliest deadline first (the most overdue on top), `limit` a page (keyset on the
    deadline and the finding id)."""
    scope = supervision_service.supervised_agency_ids(session, actor=actor)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise _invalid(
            "validation_error",
            "limit",
            message="Ask for 1 to %(max)s rows a page.",
            max=MAX_PAGE_SIZE,
        )
    agencies = scope
    if agency_id is not None:
        if (scope is not None and agency_id not in scope) or session.get(Agency, agency_id) is None:
            raise not_found("agency")
        subtree = agency_subtree_ids(session, agency_id)
        agencies = subtree if scope is None else subtree & scope
    outcomes = [FindingOutcome.major_hazard] if level == HazardLevel.major else HAZARD_OUTCOMES
    query: Select[ItemFinding] = (
        select(ItemFinding)
        .join(Inspection, ItemFinding.inspection_id == Inspection.id)
        .join(Visit, Inspection.visit_id == Visit.id)
        .where(_current_version_clause(), ItemFinding.outcome.in_(list(outcomes)))
        .options(*_hazard_loads())
    )
    if agencies is not None:
        query = query.where(Visit.agency_id.in_(agencies))
    latest = _latest_rectification(Rectification.outcome)
    if state == HazardState.open:
        query = query.where(or_(latest.is_(None), latest != RectificationOutcome.rectified))
    elif state == HazardState.closed:
        query = query.where(latest == RectificationOutcome.rectified)
    if cursor:
        after_day, after_id = decode_hazard_cursor(cursor)
        query = query.where(
            or_(
                ItemFinding.rectify_by > after_day,
                and_(ItemFinding.rectify_by == after_day, ItemFinding.id > after_id),
            )
        )
    findings = list(
        session.scalars(query.order_by(ItemFinding.rectify_by, ItemFinding.id).limit(limit + 1))
    )
    next_cursor = None
    if len(findings) > limit:
        findings = findings[:limit]
        next_cursor = encode_hazard_cursor(findings[-1].rectify_by, findings[-1].id)
    return HazardPage(
        items=_hazard_rows(session, findings, today=to_local(now).date()),
        next_cursor=next_cursor,
    )


# --- the findings form -----------------------------------------------------------------------


@dataclass(frozen=True)
class FindingsForm:
    """What the recording form shows: the checklist, the current version to correct (if
    any), and for a re-check the original visit's hazards."""

    visit: Visit
    items: list[InspectionItem]
    current: InspectionView | None
    visit_day: date
    earliest_deadline: date
    latest_deadline: date
    recheck_of: Visit | None
    hazards: list[HazardRow]
    # This re-check's own latest verdict per original finding id, to prefill the form.
    verdicts: dict[int, Rectification]

    @property
    def next_version(self) -> int:
        return self.current.version + 1 if self.current else 1


def _verdicts(hazards: Sequence[HazardRow], recheck_visit_id: int) -> dict[int, Rectification]:
    found: dict[int, Rectification] = {}
    for row in hazards:
        mine = [r for r in row.rectifications if r.recheck_visit_id == recheck_visit_id]
        if mine:
            found[row.finding.id] = mine[-1]
    return found


def findings_form(session: Session, *, actor: User, public_id: str, now: datetime) -> FindingsForm:
    """The recording form of a confirmed visit, for an inspector on its team."""
    visit = _check_recorder(session, _load_visit(session, public_id), actor)
    versions = _versions(session, visit.id)
    current = inspection_views(session, versions[:1])[0] if versions else None
    day = visit_day(visit)
    original = visit.recheck_of
    hazards = (
        open_hazards_of(session, visit=original, today=to_local(now).date()) if original else []
    )
    return FindingsForm(
        visit=visit,
        items=list(visit.items),
        current=current,
        visit_day=day,
        earliest_deadline=date.fromordinal(day.toordinal() + 1),
        latest_deadline=date.fromordinal(day.toordinal() + hazard_rules.MAX_DEADLINE_DAYS),
        recheck_of=original,
        hazards=hazards,
        verdicts=_verdicts(hazards, visit.id),
    )


# --- recording -------------------------------------------------------------------------------

_DEADLINE_MESSAGES = {
    "deadline_required": "Give the rectification deadline for the hazard at %(item)s.",
    "deadline_too_early": "The deadline for %(item)s must fall after the visit's day "
    "(%(visit_day)s).",
    "deadline_too_late": "The deadline for %(item)s is more than %(days)s days after the "
    "visit: check the date.",
}


def _outcome(value: FindingOutcome | str | None) -> FindingOutcome | str | None:
    """The outcome, None when not given, or the raw text when it is not an outcome."""
    if value is None or value == "":
        return None
    if isinstance(value, FindingOutcome):
        return value
    try:
        return FindingOutcome(value)
    except ValueError:
        return str(value)


def _deadline(value: date | str | None) -> date | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return str(value)


@dataclass
class _CheckedItem:
    item: InspectionItem
    outcome: FindingOutcome
    note: str
    rectify_by: date | None
    photos: list[bytes]  # re-encoded new uploads
    kept: list[FindingPhoto]  # carried over from the previous version


@dataclass
class _CheckedRect:
    finding: ItemFinding
    outcome: RectificationOutcome
    note: str


def _request_digest(
    *,
    results: Sequence[ItemResult],
    summary: str,
    case_opened: bool,
    case_number: str,
    fine: str,
    correction_reason: str,
    photos: Mapping[int, Sequence[bytes]],
    drop_photo_ids: Collection[int],
    rectifications: Sequence[RectificationInput],
    base_version: int | None,
) -> str:
    body = {
        "results": [
            [
                r.item_id,
                str(r.outcome.value if isinstance(r.outcome, StrEnum) else r.outcome),
                r.note,
                str(r.rectify_by),
            ]
            for r in results
        ],
        "summary": summary,
        "case": [case_opened, case_number],
        "fine": fine,
        "correction_reason": correction_reason,
        "photos": {
            str(k): [hashlib.sha256(p).hexdigest() for p in v] for k, v in sorted(photos.items())
        },
        "drop": sorted(drop_photo_ids),
        "rect": [
            [
                r.finding_id,
                str(r.outcome.value if isinstance(r.outcome, StrEnum) else r.outcome),
                r.note,
            ]
            for r in rectifications
        ],
        "base": base_version,
    }
    return security.digest(json.dumps(body, sort_keys=True, separators=(",", ":")))


@dataclass
class _PreparedPhotos:
    jpegs: dict[int, list[bytes]] = field(default_factory=dict)  # per item id
    failed: dict[int, tuple[str, FieldError]] = field(default_factory=dict)


def _prepare_photos(photos: Mapping[int, Sequence[bytes]]) -> _PreparedPhotos:
    """Every upload checked and re-encoded, per item; the first bad one of an item is
    its refusal. Too many for an item is refused later (with the photos carried over)."""
    prepared = _PreparedPhotos()
    for item_id, uploads in photos.items():
        if len(uploads) > MAX_PHOTOS_PER_ITEM:
            continue
        jpegs = []
        for data in uploads:
            jpeg, code, error = prepare_finding_photo(data, field_name=f"photo_{item_id}")
            if error is not None:
                assert code is not None
                prepared.failed[item_id] = (code, error)
                break
            assert jpeg is not None
            jpegs.append(jpeg)
        else:
            prepared.jpegs[item_id] = jpegs
    return prepared


def _load_inspection(session: Session, inspection_id: int) -> Inspection:
    inspection = session.scalar(
        select(Inspection)
        .where(Inspection.id == inspection_id)
        .options(*_inspection_loads())
        .execution_options(populate_existing=True)
    )
    if inspection is None:  # records are never deleted
        raise not_found("inspection")
    return inspection


def record_inspection(
    session: Session,
    *,
    actor: User,
    public_id: str,
    results: Sequence[ItemResult],
    summary: str = "",
    case_opened: bool = False,
    case_number: str = "",
    fine_fen: int | None = None,
    fine_yuan: str | None = None,
    correction_reason: str = "",
    photos: Mapping[int, Sequence[bytes]] | None = None,
    drop_photo_ids: Collection[int] = (),
    rectifications: Sequence[RectificationInput] = (),
    base_version: int | None = None,
    now: datetime,
    idempotency_key: str | None = None,
) -> Inspection:
    """Record the findings of a confirmed visit: version 1, or version N+1 correcting the
    current one (a correction reason is required; the earlier versions stay as they are).

    Every checklist item needs an outcome; a hazard (general or major) needs a note and a
    rectification deadline after the visit's day. `photos` are new uploads per item id
    (checked and re-encoded); a correction carries the previous version's photos over
    except `drop_photo_ids`. The fine is given as exact fen, or as yuan text from a form.
    On a re-check visit, `rectifications` record the verdict on the original visit's
    hazards (appended only when it differs from this re-check's last verdict).
    `base_version`: the version the form was opened on; a newer one recorded meanwhile
    refuses with `inspection_changed`. With an idempotency key, a retry returns the
    version the first request recorded."""
    photos = photos or {}
    key = idempotency.check_key(idempotency_key)
    fine_text = fine_yuan if fine_yuan is not None else str(fine_fen or 0)
    request_digest = _request_digest(
        results=results,
        summary=summary,
        case_opened=case_opened,
        case_number=case_number,
        fine=fine_text,
        correction_reason=correction_reason,
        photos=photos,
        drop_photo_ids=drop_photo_ids,
        rectifications=rectifications,
        base_version=base_version,
    )
    # Decode and re-encode the photos before taking the write lock: pictures take time,
    # and every other writer (a scan at a gate) would wait for them.
    prepared = _prepare_photos(photos)
    begin_write(session)
    if key is not None:
        record = idempotency.replay(
            session,
            user_id=actor.id,
            scope=IDEMPOTENCY_SCOPE,
            key=key,
            request_digest=request_digest,
        )
        if record is not None:
            inspection = _load_inspection(session, int(json.loads(record.body)["inspection_id"]))
            session.commit()  # nothing written: end the write transaction
            return inspection

    visit = _check_recorder(session, _load_visit(session, public_id, for_update=True), actor)
    previous = session.scalar(
        select(Inspection)
        .where(Inspection.visit_id == visit.id)
        .options(*_inspection_loads())
        .order_by(Inspection.version.desc())
        .limit(1)
    )
    current_version = previous.version if previous else 0
    if base_version is not None and base_version != current_version:
        raise DomainError(
            "inspection_changed",
            "Version %(version)s of these findings was recorded meanwhile: reload the page "
            "and make your correction on it.",
            status=409,
            version=current_version,
        )

    problems = _Problems()
    checked = _check_items(visit, results, previous, photos, prepared, drop_photo_ids, problems)
    summary = summary.strip()
    if len(summary) > MAX_SUMMARY_LENGTH:
        problems.add(
            "summary_too_long",
            "summary",
            message="Keep the summary under %(max)s characters.",
            max=MAX_SUMMARY_LENGTH,
        )
    case_number = case_number.strip()
    if case_opened and not case_number:
        problems.add(
            "case_number_required",
            "case_number",
            message="A case was opened (立案): give its case number.",
        )
    elif len(case_number) > MAX_CASE_NUMBER_LENGTH:
        problems.add(
            "case_number_too_long",
            "case_number",
            message="A case number has at most %(max)s characters.",
            max=MAX_CASE_NUMBER_LENGTH,
        )
    if fine_yuan is not None:
        fen, code, error = parse_fine_yuan(fine_yuan)
    else:
        fen, code, error = _check_fine(fine_fen or 0)
    if error is not None:
        assert code is not None
        problems.items.append((code, error))
    correction_reason = correction_reason.strip()
    if previous is not None and len(correction_reason) < MIN_REASON_LENGTH:
        problems.add(
            "correction_reason_required",
            "correction_reason",
            message="Version %(version)s is already recorded: say what this correction changes and "
            "why (at least %(min)s characters).",
            version=previous.version,
            min=MIN_REASON_LENGTH,
        )
    elif len(correction_reason) > MAX_REASON_LENGTH:
        problems.add(
            "correction_reason_too_long",
            "correction_reason",
            message="Keep the reason under %(max)s characters.",
            max=MAX_REASON_LENGTH,
        )
    rects = _check_rectifications(session, visit, rectifications, now, problems)
    problems.raise_if_any()

    inspection = Inspection(
        visit_id=visit.id,
        version=current_version + 1,
        summary=summary,
        case_opened=case_opened,
        case_number=case_number if case_opened else "",
        fine_fen=fen or 0,
        correction_reason=correction_reason if previous is not None else "",
        recorded_at=now,
        recorded_by_id=actor.id,
    )
    session.add(inspection)
    try:
        session.flush()
    except IntegrityError as exc:
        # Another writer took this version number first (PostgreSQL, no write lock).
        session.rollback()
        raise DomainError(
            "inspection_changed",
            "Version %(version)s of these findings was recorded meanwhile: reload the page "
            "and make your correction on it.",
            status=409,
            version=current_version + 1,
        ) from exc
    photo_count = 0
    for c in checked:
        finding = ItemFinding(
            inspection_id=inspection.id,
            item_id=c.item.id,
            outcome=c.outcome,
            note=c.note,
            rectify_by=c.rectify_by,
        )
        session.add(finding)
        session.flush()
        for old in c.kept:
            session.add(
                FindingPhoto(
                    item_finding_id=finding.id,
                    content=old.content,
                    content_type=old.content_type,
                    created_at=old.created_at,
                )
            )
        for jpeg in c.photos:
            session.add(
                FindingPhoto(
                    item_finding_id=finding.id,
                    content=jpeg,
                    content_type=PHOTO_TYPE,
                    created_at=now,
                )
            )
        photo_count += len(c.kept) + len(c.photos)
    session.flush()
    rect_ids = []
    for r in rects:
        row = Rectification(
            item_finding_id=r.finding.id,
            recheck_visit_id=visit.id,
            outcome=r.outcome,
            note=r.note,
            recorded_at=now,
            recorded_by_id=actor.id,
        )
        session.add(row)
        session.flush()
        rect_ids.append(row.id)
        audit.record(
            session,
            actor_id=actor.id,
            action="rectification.recorded",
            object_type="rectification",
            object_id=row.id,
            visit_id=r.finding.inspection.visit_id,
            now=now,
            data={
                "item_finding_id": r.finding.id,
                "item": r.finding.item.code,
                "outcome": r.outcome.value,
                "note": r.note,
                "recheck_visit": visit.public_id,
            },
        )
    audit.record(
        session,
        actor_id=actor.id,
        action="inspection.recorded" if previous is None else "inspection.corrected",
        object_type="inspection",
        object_id=inspection.id,
        visit_id=visit.id,
        now=now,
        data={
            "version": inspection.version,
            "findings": {c.item.code: c.outcome.value for c in checked},
            "deadlines": {c.item.code: c.rectify_by.isoformat() for c in checked if c.rectify_by},
            "case_opened": inspection.case_opened,
            "case_number": inspection.case_number,
            "fine_fen": inspection.fine_fen,
            "correction_reason": inspection.correction_reason,
            "photos": photo_count,
            "rectifications": rect_ids,
        },
    )
    if key is not None:
        idempotency.remember(
            session,
            user_id=actor.id,
            scope=IDEMPOTENCY_SCOPE,
            key=key,
            request_digest=request_digest,
            status_code=201,
            body={"inspection_id": inspection.id},
            now=now,
        )
    session.commit()
    return _load_inspection(session, inspection.id)


def _check_items(
    visit: Visit,
    results: Sequence[ItemResult],
    previous: Inspection | None,
    photos: Mapping[int, Sequence[bytes]],
    prepared: _PreparedPhotos,
    drop_photo_ids: Collection[int],
    problems: _Problems,
) -> list[_CheckedItem]:
    items = {item.id: item for item in visit.items}
    given: dict[int, ItemResult] = {}
    strangers: list[int] = []
    for r in results:
        if r.item_id not in items:
            strangers.append(r.item_id)
        elif r.item_id in given:
            problems.add(
                "duplicate_item",
                f"outcome_{r.item_id}",
                message="Item %(item)s is given twice: give one result per item.",
                item=items[r.item_id].code,
            )
        else:
            given[r.item_id] = r
    if strangers:
        problems.add(
            "unknown_item",
            "results",
            message="Not on this visit's checklist: item id(s) %(ids)s.",
            ids=", ".join(str(i) for i in strangers),
        )
    strange_photos = [i for i in photos if i not in items]
    if strange_photos:
        problems.add(
            "unknown_item",
            "photos",
            message="Photos for item id(s) %(ids)s, which are not on this visit's checklist.",
            ids=", ".join(str(i) for i in strange_photos),
        )
    before = {f.item_id: f for f in previous.findings} if previous else {}
    day = visit_day(visit)
    checked: list[_CheckedItem] = []
    for item in visit.items:
        result = given.get(item.id)
        outcome = _outcome(result.outcome) if result else None
        if outcome is None:
            problems.add(
                "finding_missing",
                f"outcome_{item.id}",
                message="Choose the outcome for %(item)s: compliant, hazard or major hazard.",
                item=item.code,
            )
        elif isinstance(outcome, str) and not isinstance(outcome, FindingOutcome):
            problems.add(
                "outcome_invalid",
                f"outcome_{item.id}",
                message="Unknown outcome '%(value)s' for %(item)s: choose compliant, hazard "
                "or major hazard.",
                value=outcome[:40],
                item=item.code,
            )
            outcome = None
        note = (result.note if result else "").strip()
        if len(note) > MAX_NOTE_LENGTH:
            problems.add(
                "note_too_long",
                f"note_{item.id}",
                message="Keep the note on %(item)s under %(max)s characters.",
                item=item.code,
                max=MAX_NOTE_LENGTH,
            )
        deadline = _deadline(result.rectify_by) if result else None
        if isinstance(outcome, FindingOutcome) and hazard_rules.needs_deadline(outcome):
            if not note:
                problems.add(
                    "note_required",
                    f"note_{item.id}",
                    message="Describe the hazard found at %(item)s (what, where).",
                    item=item.code,
                )
            if isinstance(deadline, str):
                problems.add(
                    "deadline_invalid",
                    f"rectify_by_{item.id}",
                    message="Give the deadline for %(item)s as a date, e.g. 2026-12-31.",
                    item=item.code,
                )
            else:
                code = hazard_rules.deadline_problem(outcome, deadline, day)
                if code is not None:
                    problems.add(
                        code,
                        f"rectify_by_{item.id}",
                        message=_DEADLINE_MESSAGES[code],
                        item=item.code,
                        visit_day=day.isoformat(),
                        days=hazard_rules.MAX_DEADLINE_DAYS,
                    )
        earlier = before.get(item.id)
        kept = [p for p in earlier.photos if p.id not in drop_photo_ids] if earlier else []
        jpegs: list[bytes] = []
        if len(kept) + len(photos.get(item.id, [])) > MAX_PHOTOS_PER_ITEM:
            problems.add(
                "too_many_photos",
                f"photo_{item.id}",
                message="At most %(max)s photos for %(item)s.",
                max=MAX_PHOTOS_PER_ITEM,
                item=item.code,
            )
        elif item.id in prepared.failed:
            problems.items.append(prepared.failed[item.id])
        else:
            jpegs = prepared.jpegs.get(item.id, [])
        if isinstance(outcome, FindingOutcome):
            checked.append(
                _CheckedItem(
                    item=item,
                    outcome=outcome,
                    note=note,
                    rectify_by=deadline
                    if hazard_rules.needs_deadline(outcome) and isinstance(deadline, date)
                    else None,
                    photos=jpegs,
                    kept=kept,
                )
            )
    return checked


def _rect_outcome(value: RectificationOutcome | str | None) -> RectificationOutcome | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, RectificationOutcome):
        return value
    try:
        return RectificationOutcome(value)
    except ValueError:
        return str(value)


def _check_rectifications(
    session: Session,
    visit: Visit,
    given: Sequence[RectificationInput],
    now: datetime,
    problems: _Problems,
) -> list[_CheckedRect]:
    if not given:
        return []
    original = visit.recheck_of
    if original is None:
        problems.add(
            "not_a_recheck",
            "rectifications",
            message="Only a re-check visit records the rectification of earlier hazards.",
        )
        return []
    hazards = {
        row.finding.id: row
        for row in open_hazards_of(session, visit=original, today=to_local(now).date())
    }
    verdicts = _verdicts(list(hazards.values()), visit.id)
    checked: list[_CheckedRect] = []
    seen: set[int] = set()
    for r in given:
        field_name = f"rectification_{r.finding_id}"
        outcome = _rect_outcome(r.outcome)
        if outcome is None:
            continue  # not checked on this re-check
        row = hazards.get(r.finding_id)
        if row is None or r.finding_id in seen:
            problems.add(
                "unknown_hazard",
                field_name,
                message="Not a hazard of the visit this re-check follows up: %(id)s.",
                id=r.finding_id,
            )
            continue
        seen.add(r.finding_id)
        note = r.note.strip()
        if not isinstance(outcome, RectificationOutcome):
            problems.add(
                "rectification_invalid",
                field_name,
                message="Choose rectified or not rectified for %(item)s.",
                item=row.finding.item.code,
            )
            continue
        if len(note) > MAX_NOTE_LENGTH:
            problems.add(
                "note_too_long",
                f"rectification_note_{r.finding_id}",
                message="Keep the note on %(item)s under %(max)s characters.",
                item=row.finding.item.code,
                max=MAX_NOTE_LENGTH,
            )
            continue
        last = verdicts.get(r.finding_id)
        if last is not None and last.outcome == outcome and last.note == note:
            continue  # the same verdict again (a correction of other fields): nothing new
        checked.append(_CheckedRect(finding=row.finding, outcome=outcome, note=note))
    return checked


# --- the result notice (检查结果告知) ----------------------------------------------------------


def _manager_enterprise(actor: User) -> int:
    if actor.role != Role.manager or actor.enterprise_id is None:
        raise forbidden()
    return actor.enterprise_id


@dataclass(frozen=True)
class NoticeRow:
    visit: Visit
    inspection: Inspection  # the current version
    acknowledged_at: datetime | None

    @property
    def pending(self) -> bool:
        return self.acknowledged_at is None


def notices(session: Session, *, actor: User, pending_only: bool = False) -> list[NoticeRow]:
    """The result notices of the manager's enterprise (current versions), waiting for
    acknowledgement first, then newest first."""
    enterprise_id = _manager_enterprise(actor)
    rows = session.execute(
        select(Inspection, Visit)
        .join(Visit, Inspection.visit_id == Visit.id)
        .where(
            Visit.enterprise_id == enterprise_id,
            Visit.status == VisitStatus.confirmed,
            _current_version_clause(),
        )
        .options(selectinload(Visit.agency), selectinload(Inspection.acknowledgements))
        .order_by(Inspection.recorded_at.desc(), Inspection.id.desc())
        .limit(500)
        .execution_options(populate_existing=True)
    ).all()
    found = []
    for inspection, visit in rows:
        acks = sorted(inspection.acknowledgements, key=lambda a: (a.acknowledged_at, a.id))
        at = acks[0].acknowledged_at if acks else None
        if pending_only and at is not None:
            continue
        found.append(NoticeRow(visit=visit, inspection=inspection, acknowledged_at=at))
    found.sort(key=lambda r: not r.pending)  # stable: newest first within each group
    return found


@dataclass(frozen=True)
class Notice:
    """The result notice of one visit: what the enterprise is told and acknowledges."""

    visit: Visit
    card: visits_service.VisitCard
    current: InspectionView
    earlier: list[InspectionView]
    hazards: list[HazardRow]


def notice(session: Session, *, actor: User, public_id: str, now: datetime) -> Notice:
    """The current result notice of a confirmed visit at the manager's own enterprise."""
    _manager_enterprise(actor)
    visit = readable_visit(session, actor=actor, public_id=public_id)
    versions = inspection_views(session, _versions(session, visit.id))
    if not versions:
        raise DomainError(
            "no_notice_yet",
            "The inspectors have not recorded the findings of this visit yet.",
            status=404,
        )
    return Notice(
        visit=visit,
        card=visits_service.visit_card(visit, now=now),
        current=versions[0],
        earlier=versions[1:],
        hazards=open_hazards_of(session, visit=visit, today=to_local(now).date()),
    )


def acknowledge_notice(
    session: Session, *, actor: User, inspection_id: int, now: datetime, note: str = ""
) -> tuple[NoticeAcknowledgement, bool]:
    """The manager acknowledges the result notice (the current version). Once per version:
    acknowledging it again returns the first acknowledgement (and False: nothing new).
    A superseded version is refused with `notice_superseded`: read the new one first."""
    enterprise_id = _manager_enterprise(actor)
    begin_write(session)
    inspection = session.scalar(
        select(Inspection)
        .where(Inspection.id == inspection_id)
        .options(selectinload(Inspection.visit), selectinload(Inspection.acknowledgements))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if (
        inspection is None
        or inspection.visit.enterprise_id != enterprise_id
        or inspection.visit.status != VisitStatus.confirmed
    ):
        raise not_found("inspection")
    newest = current_inspection(session, visit_id=inspection.visit_id)
    if newest is not None and newest.id != inspection.id:
        raise DomainError(
            "notice_superseded",
            "The inspectors corrected this notice (version %(version)s): read the new version "
            "and acknowledge that one.",
            status=409,
            version=newest.version,
            visit=inspection.visit.public_id,
        )
    note = note.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise _invalid(
            "note_too_long",
            "note",
            message="Keep the note under %(max)s characters.",
            max=MAX_NOTE_LENGTH,
        )
    if inspection.acknowledgements:
        first = min(inspection.acknowledgements, key=lambda a: (a.acknowledged_at, a.id))
        session.commit()  # nothing written
        return first, False
    ack = NoticeAcknowledgement(
        inspection_id=inspection.id,
        acknowledged_by_id=actor.id,
        acknowledged_at=now,
        note=note,
    )
    session.add(ack)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="notice.acknowledged",
        object_type="inspection",
        object_id=inspection.id,
        visit_id=inspection.visit_id,
        now=now,
        data={"version": inspection.version, "acknowledgement_id": ack.id, "note": note},
    )
    session.commit()
    return ack, True


# --- photos ----------------------------------------------------------------------------------


def finding_photo(session: Session, *, actor: User, photo_id: int) -> FindingPhoto:
    """A finding's photo, for whoever may read the visit's inspection record."""
    photo = session.get(FindingPhoto, photo_id)
    if photo is None:
        raise not_found("photo")
    visit = photo.finding.inspection.visit
    if not _can_read(session, visit, actor):
        raise not_found("photo")
    return photo


# --- the sweep -------------------------------------------------------------------------------


def hazard_dedupe_key(visit_id: int, item_id: int, rectify_by: date) -> str:
    """One flag per hazard and deadline: a correction that keeps the deadline raises no
    second flag; one that moves it can be flagged again when the new one passes."""
    return f"hazard:{visit_id}:{item_id}:{rectify_by.isoformat()}"


def sweep_overdue_hazards(
    session: Session, *, now: datetime, stop: Callable[[], bool] | None = None
) -> int:
    """Flag every major hazard (current inspection versions) whose deadline has passed
    without a re-check finding it rectified by then, once per hazard and deadline. Returns
    how many flags were raised. `stop` (the app shutting down) is asked between two flags,
    each its own transaction.

    Only the hazards in the queue (models.HazardSweepQueue) that are due are read: the
    evidence's triggers queue a hazard whenever something that can change its verdict is
    written, and a hazard judged for good (flagged, rectified on time, no longer a major
    hazard) leaves the queue. A sweep with nothing new reads one empty index range."""
    today = to_local(now).date()
    queue = HazardSweepQueue
    due = or_(queue.due.is_(None), queue.due < today)
    queued = session.execute(select(queue.id, queue.visit_id, queue.item_id).where(due)).all()
    if not queued:
        session.rollback()
        return 0
    rows_of: dict[tuple[int, int], list[int]] = {}
    for row_id, visit_id, item_id in queued:
        rows_of.setdefault((visit_id, item_id), []).append(row_id)
    pending = select(queue.visit_id, queue.item_id).where(due).distinct().subquery()

    # The queued hazards' current findings, as plain rows: the rule itself still decides.
    found = session.execute(
        select(
            ItemFinding.item_id,
            ItemFinding.rectify_by,
            InspectionItem.code,
            Visit.id,
            Visit.agency_id,
            Visit.enterprise_id,
            _latest_rectification(Rectification.outcome),
            _latest_rectification(Rectification.recorded_at),
        )
        .select_from(pending)
        .join(Inspection, Inspection.visit_id == pending.c.visit_id)
        .join(
            ItemFinding,
            and_(
                ItemFinding.inspection_id == Inspection.id,
                ItemFinding.item_id == pending.c.item_id,
            ),
        )
        .join(Visit, Inspection.visit_id == Visit.id)
        .join(InspectionItem, ItemFinding.item_id == InspectionItem.id)
        .where(
            _current_version_clause(),
            # Written into the SQL, not bound (models.MAJOR_HAZARD_ONLY; see migration 0007).
            ItemFinding.outcome
            == literal(FindingOutcome.major_hazard, ItemFinding.outcome.type, literal_execute=True),
            ItemFinding.rectify_by.is_not(None),
        )
        .order_by(ItemFinding.rectify_by, ItemFinding.id)
    ).all()
    overdue = []
    settled: list[int] = []  # queue rows judged for good: new evidence queues the hazard again
    later: dict[date, list[int]] = {}  # deadline not passed yet: look again on that day
    for item_id, rectify_by, item_code, visit_id, agency_id, enterprise_id, outcome, at in found:
        row_ids = rows_of.pop((visit_id, item_id), [])
        if rectify_by >= today:
            if row_ids:
                later.setdefault(rectify_by, []).extend(row_ids)
            continue
        closed = outcome == RectificationOutcome.rectified
        rectified_on = to_local(at).date() if closed and at is not None else None
        finding = hazard_rules.major_hazard_overdue(
            rectify_by, rectified_on, today, item_code=item_code
        )
        if finding is None:
            settled += row_ids  # rectified on time
            continue
        key = hazard_dedupe_key(visit_id, item_id, rectify_by)
        overdue.append((key, finding, agency_id, enterprise_id, visit_id, row_ids))
    # Those flagged already are judged for good too. (By their keys, on the flags' unique
    # index: a per-row EXISTS was planned on the kind alone while the statistics knew few
    # such flags.) Each flag's write checks its key again.
    raised_keys: set[str] = set()
    for start in range(0, len(overdue), 500):
        keys = [c[0] for c in overdue[start : start + 500]]
        raised_keys.update(
            session.scalars(
                select(Flag.dedupe_key).where(
                    Flag.kind == FlagKind.major_hazard_overdue, Flag.dedupe_key.in_(keys)
                )
            )
        )
    session.rollback()  # end the read; the queue's changes and each flag are short writes
    settled += [row_id for c in overdue if c[0] in raised_keys for row_id in c[5]]
    overdue = [c for c in overdue if c[0] not in raised_keys]
    # Queued but not (any more) a major hazard with a deadline in the current version.
    settled += [row_id for row_ids in rows_of.values() for row_id in row_ids]
    if settled or later:
        begin_write(session)
        for start in range(0, len(settled), 500):
            chunk = settled[start : start + 500]
            session.execute(delete(queue).where(queue.id.in_(chunk)))
        for day, row_ids in later.items():
            session.execute(update(queue).where(queue.id.in_(row_ids)).values(due=day))
        session.commit()

    raised = 0
    for key, finding, agency_id, enterprise_id, visit_id, row_ids in overdue:
        if stop is not None and stop():
            break  # the rest stays queued for the next sweep
        begin_write(session)
        try:
            new = not session.scalar(
                select(Flag.id).where(
                    Flag.kind == FlagKind.major_hazard_overdue, Flag.dedupe_key == key
                )
            )
            if new:
                raise_flag(
                    session,
                    finding=finding,
                    dedupe_key=key,
                    agency_id=agency_id,
                    enterprise_id=enterprise_id,
                    visit_id=visit_id,
                    now=now,
                )
            session.execute(delete(queue).where(queue.id.in_(row_ids)))
            session.commit()
        except IntegrityError:
            # Another sweeper raised it between our check and our insert (its rows leave the
            # queue with its flag, or the next sweep finds it flagged and drops them).
            session.rollback()
            continue
        raised += new
    return raised


def requeue_major_hazards(session: Session) -> int:
    """Rebuild the sweep's queue: every major hazard with a deadline of a current inspection
    version, due on its deadline (the sweep judges each from the evidence and drops those
    flagged or rectified on time). Returns how many were queued."""
    begin_write(session)
    session.execute(delete(HazardSweepQueue))
    session.execute(
        insert(HazardSweepQueue).from_select(
            ["visit_id", "item_id", "due"],
            select(Inspection.visit_id, ItemFinding.item_id, ItemFinding.rectify_by)
            .join(Inspection, ItemFinding.inspection_id == Inspection.id)
            .where(
                _current_version_clause(),
                ItemFinding.outcome == FindingOutcome.major_hazard,
                ItemFinding.rectify_by.is_not(None),
            ),
        )
    )
    queued = session.scalar(select(func.count()).select_from(HazardSweepQueue)) or 0
    session.commit()
    return queued


def user_name(session: Session, user_id: int) -> str:
    return _names(session, [user_id]).get(user_id, "?")
