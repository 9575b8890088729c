"""A hand-built month for the coverage and monthly-report tests: every figure has records
that must count and records that must not (other months, other county, cancelled, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from tests.factories import (
    World,
    make_enterprise,
    make_flag,
    make_inspector,
    make_plan_entry,
    make_scan,
    make_user,
    make_visit,
)
from webapp.agencies.models import Agency, Inspector
from webapp.auth.models import User
from webapp.enterprises.models import Enterprise
from webapp.enums import FindingOutcome, RectificationOutcome, Role
from webapp.findings.models import Inspection, ItemFinding, Rectification
from webapp.items.models import InspectionItem
from webapp.plans.models import PlanEntry
from webapp.supervision.models import Flag
from webapp.visits.models import Visit, visit_items
from webapp.web import tz

# After November 2026: the month is over, every window in it has passed.
LATER = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
MONTH = "2026-11"


def local(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A local (Asia/Shanghai) wall-clock time, as the aware UTC instant it is."""
    return datetime(year, month, day, hour, minute, tzinfo=tz()).astimezone(UTC)


def record_inspection(
    db: Session,
    *,
    visit: Visit,
    by: User,
    findings: list[tuple[InspectionItem, FindingOutcome, date | None]],
    case_opened: bool = False,
    fine_fen: int = 0,
    version: int = 1,
    at: datetime | None = None,
) -> list[ItemFinding]:
    """An inspection record (one version) of `visit` with its item findings."""
    record = Inspection(
        visit_id=visit.id,
        version=version,
        summary="",
        case_opened=case_opened,
        case_number="AJ-2026-001" if case_opened else "",
        fine_fen=fine_fen,
        correction_reason="" if version == 1 else "Corrected",
        recorded_at=at or visit.window_end,
        recorded_by_id=by.id,
    )
    db.add(record)
    db.flush()
    rows = [
        ItemFinding(inspection_id=record.id, item_id=item.id, outcome=outcome, rectify_by=by_day)
        for item, outcome, by_day in findings
    ]
    db.add_all(rows)
    db.flush()
    return rows


def rectify(
    db: Session,
    *,
    finding: ItemFinding,
    by: User,
    at: datetime,
    outcome: RectificationOutcome = RectificationOutcome.rectified,
) -> Rectification:
    row = Rectification(
        item_finding_id=finding.id, outcome=outcome, note="", recorded_at=at, recorded_by_id=by.id
    )
    db.add(row)
    db.flush()
    return row


def cover_item(db: Session, *, visit: Visit, item: InspectionItem, agency: Agency) -> None:
    """In a joint visit, `agency` covers `item` (added to the visit's items)."""
    db.execute(insert(visit_items).values(visit_id=visit.id, item_id=item.id, agency_id=agency.id))


@dataclass
class Month:
    """The November 2026 records, by name (see `build_month`)."""

    tina: Inspector  # a town inspector
    ent_c: Enterprise
    ent_d: Enterprise
    ent_e: Enterprise
    far: Enterprise  # the other county's
    entry_d: PlanEntry  # county: no visit at all -> missed
    entry_e: PlanEntry  # county: a visit registered, never confirmed -> missed
    town_entry: PlanEntry  # town: done by the joint visit
    october_entry: PlanEntry  # county, October: no visit -> missed in October
    planned: Visit  # county, entry_a, confirmed: hazard on time, major hazard late, case, fine
    joint: Visit  # town's, for town_entry, with alice (county) covering one item
    complaint: Visit  # county extra (case-driven), approved, confirmed, case opened
    campaign: Visit  # county extra, approved, confirmed 2026-11-30 23:30 local
    pending: Visit  # county extra pending, window passed unconfirmed
    rejected: Visit  # county extra rejected, window passed unconfirmed
    cancelled: Visit  # county extra pending, cancelled: counted nowhere
    unconfirmed_e: Visit  # county, entry_e, registered, window passed
    october: Visit  # county, confirmed 2026-10-31 23:30 local: October
    december: Visit  # county, confirmed 2026-12-01 00:00 local: December
    far_visit: Visit  # other county, at ent_d: does not merge entry_d, not in scope
    refused_flag: Flag  # county, refused scan
    report_flag: Flag  # town, unregistered report
    december_flag: Flag  # county, refused scan on 2026-12-01 00:30 local
    far_flag: Flag  # other county, refused scan
    town_supervisor: User


def build_month(db: Session, world: World, now: datetime) -> Month:
    county, town, other = world.county, world.town, world.other_county
    alice, bob, dave = world.alice, world.bob, world.dave_other
    it = world.items
    tina = make_inspector(db, agency=town, name="Tina Zhou", now=now)
    ent_c = make_enterprise(db, agency=county, name="Gamma Foundry", now=now)
    ent_d = make_enterprise(db, agency=county, name="Delta Paper", now=now)
    ent_e = make_enterprise(db, agency=county, name="Epsilon Glass", now=now)
    far = make_enterprise(db, agency=other, name="Far Away Mill", now=now)
    entry_d = make_plan_entry(
        db, agency=county, enterprise=ent_d, items=it[:1], month=MONTH, now=now
    )
    entry_e = make_plan_entry(
        db, agency=county, enterprise=ent_e, items=it[:1], month=MONTH, now=now
    )
    town_entry = make_plan_entry(
        db, agency=town, enterprise=world.ent_b, items=it[2:], month=MONTH, now=now
    )
    october_entry = make_plan_entry(
        db, agency=county, enterprise=ent_c, items=it[:1], month="2026-10", now=now
    )
    # The other county plans its own enterprise: a merge must match the entry's own agency.
    make_plan_entry(db, agency=other, enterprise=far, items=it[:1], month=MONTH, now=now)

    def visit(start: datetime, **fields: object) -> Visit:
        values: dict[str, object] = {
            "agency": county,
            "inspectors": [alice, bob],
            "items": it[:2],
            "registered_by": world.inspector1,
            "window_start": start,
            "window_end": start + timedelta(hours=2),
            "registered_at": start - timedelta(days=1),
        }
        values.update(fields)
        return make_visit(db, now=now, **values)  # type: ignore[arg-type]

    planned = visit(
        local(2026, 11, 3), enterprise=world.ent_a, plan_entry=world.entry_a, status="confirmed"
    )
    on_time, late = record_inspection(
        db,
        visit=planned,
        by=world.inspector1,
        findings=[
            (it[0], FindingOutcome.hazard, date(2026, 11, 20)),
            (it[1], FindingOutcome.major_hazard, date(2026, 11, 25)),
        ],
        case_opened=True,
        fine_fen=500_000,
    )
    # 20 November 23:30 local is still the deadline's day (UTC is already on the 20th 15:30).
    rectify(db, finding=on_time, by=world.inspector1, at=local(2026, 11, 20, 23, 30))
    rectify(
        db,
        finding=late,
        by=world.inspector1,
        at=local(2026, 11, 24),
        outcome=RectificationOutcome.not_rectified,
    )
    rectify(db, finding=late, by=world.inspector1, at=local(2026, 11, 27))

    joint = visit(
        local(2026, 11, 5),
        agency=town,
        enterprise=world.ent_b,
        plan_entry=town_entry,
        inspectors=[tina, alice],
        items=it[3:],
        status="confirmed",
    )
    cover_item(db, visit=joint, item=it[2], agency=county)
    record_inspection(
        db,
        visit=joint,
        by=world.inspector1,
        findings=[
            (it[2], FindingOutcome.hazard, date(2026, 11, 30)),
            (it[3], FindingOutcome.major_hazard, date(2026, 11, 30)),
        ],
    )
    # The correction (version 2) says item 4 was a plain hazard: only the newest counts.
    record_inspection(
        db,
        visit=joint,
        by=world.inspector1,
        version=2,
        findings=[
            (it[2], FindingOutcome.hazard, date(2026, 11, 30)),
            (it[3], FindingOutcome.hazard, date(2026, 11, 30)),
        ],
    )
    complaint = visit(
        local(2026, 11, 9),
        enterprise=ent_c,
        extra_reason="complaint",
        approval="approved",
        status="confirmed",
    )
    record_inspection(
        db,
        visit=complaint,
        by=world.inspector1,
        findings=[(it[0], FindingOutcome.compliant, None)],
        case_opened=True,
    )
    campaign = visit(
        local(2026, 11, 30, 23, 30),
        enterprise=world.ent_a,
        extra_reason="special_campaign",
        approval="approved",
        status="confirmed",
    )
    pending = visit(local(2026, 11, 10), enterprise=ent_d, extra_reason="remote_clue")
    rejected = visit(
        local(2026, 11, 12), enterprise=ent_d, extra_reason="complaint", approval="rejected"
    )
    cancelled = visit(
        local(2026, 11, 13), enterprise=ent_d, extra_reason="complaint", status="cancelled"
    )
    unconfirmed_e = visit(local(2026, 11, 14), enterprise=ent_e, plan_entry=entry_e)
    october = visit(
        local(2026, 10, 31, 23, 30),
        enterprise=ent_c,
        plan_entry=october_entry,
        status="confirmed",
    )
    december = visit(
        local(2026, 12, 1, 0, 0),
        enterprise=ent_c,
        extra_reason="referral",
        approval="approved",
        status="confirmed",
    )
    far_visit = visit(
        local(2026, 11, 6),
        agency=other,
        enterprise=ent_d,
        inspectors=[dave],
        registered_by=world.inspector_other,
        extra_reason="referral",
        approval="approved",
        status="confirmed",
    )
    record_inspection(
        db,
        visit=far_visit,
        by=world.inspector_other,
        findings=[(it[0], FindingOutcome.major_hazard, None)],
        case_opened=True,
        fine_fen=100,
    )
    scan = make_scan(db, visit=planned, user=world.manager_a, now=local(2026, 11, 3, 9, 0))
    refused_flag = make_flag(
        db, kind="refused_scan", agency=county, scan=scan, now=local(2026, 11, 3, 9, 0)
    )
    report_flag = make_flag(
        db, kind="unregistered_report", agency=town, enterprise=world.ent_b, now=local(2026, 11, 8)
    )
    late_scan = make_scan(db, visit=december, user=world.manager_a, now=local(2026, 12, 1, 0, 30))
    december_flag = make_flag(
        db, kind="refused_scan", agency=county, scan=late_scan, now=local(2026, 12, 1, 0, 30)
    )
    far_flag = make_flag(
        db, kind="refused_scan", agency=other, enterprise=far, now=local(2026, 11, 8)
    )
    town_supervisor = make_user(
        db, role=Role.supervisor, username="supervisor_town", agency=town, now=now
    )
    db.commit()
    return Month(
        tina=tina,
        ent_c=ent_c,
        ent_d=ent_d,
        ent_e=ent_e,
        far=far,
        entry_d=entry_d,
        entry_e=entry_e,
        town_entry=town_entry,
        october_entry=october_entry,
        planned=planned,
        joint=joint,
        complaint=complaint,
        campaign=campaign,
        pending=pending,
        rejected=rejected,
        cancelled=cancelled,
        unconfirmed_e=unconfirmed_e,
        october=october,
        december=december,
        far_visit=far_visit,
        refused_flag=refused_flag,
        report_flag=report_flag,
        december_flag=december_flag,
        far_flag=far_flag,
        town_supervisor=town_supervisor,
    )
