"""Synthetic data at a bureau's scale, inserted in bulk (executemany, a few seconds for tens
of thousands of visits): agencies (one root, counties or towns below it), enterprises with
valid credit codes, an item list, monthly plans, visits with their teams and items (some
joint), scans (refused ones too), flags, unregistered reports, inspection records with
findings and rectifications.

Not a test fixture: the figures are random but plausible (about 85 % of visits confirmed,
a fifth extra, a few joint; a hazard in about one item in five, a case in one inspection in
twelve). The same seed gives the same data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from webapp.agencies.models import Agency, Inspector
from webapp.auth.models import User
from webapp.checkin.models import Scan, UnregisteredReport
from webapp.db import Base
from webapp.enterprises import uscc
from webapp.enterprises.models import Enterprise
from webapp.enums import (
    AgencyLevel,
    Approval,
    EnterpriseClass,
    ExtraReason,
    FindingOutcome,
    FlagKind,
    PlanKind,
    RectificationOutcome,
    Role,
    ScanOutcome,
    Severity,
    VisitStatus,
)
from webapp.findings.models import Inspection, ItemFinding, Rectification
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry, plan_entry_items
from webapp.supervision.models import Flag
from webapp.supervision.service import month_bounds
from webapp.visits.models import Visit, VisitInspector, visit_items

CHUNK = 5000
NO_SIGN_IN = "!"  # not an argon2 hash: these accounts cannot sign in
EXTRA_REASONS = list(ExtraReason)


@dataclass
class Shape:
    """How big: the root's children (and grandchildren), enterprises, visits per month."""

    name: str
    root_level: AgencyLevel
    children: int  # agencies directly below the root
    grandchildren: int  # below each child
    enterprises: int
    months: list[str]
    visits_per_month: int
    seed: int = 20261116


COUNTY_MONTH = Shape(
    "county month",
    AgencyLevel.county,
    children=12,
    grandchildren=0,
    enterprises=5_500,
    months=["2026-11"],
    visits_per_month=1_560,  # about 1,500 after the planned entries never visited
)
CITY_YEAR = Shape(
    "city year",
    AgencyLevel.city,
    children=8,
    grandchildren=6,
    enterprises=20_000,
    months=[f"2026-{m:02d}" for m in range(1, 13)],
    visits_per_month=1_300,  # about 15,000 a year
)


@dataclass
class Generated:
    root_id: int
    supervisor_id: int
    agency_ids: list[int]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


class _Ids:
    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def __call__(self, table: str) -> int:
        value = self.next.get(table, 0) + 1
        self.next[table] = value
        return value


def _chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


def generate(session: Session, shape: Shape, *, now: datetime) -> Generated:
    """Fill an empty, migrated database; one transaction."""
    rng = random.Random(shape.seed)  # noqa: S311 (synthetic data, not secrets)
    ids = _Ids()
    rows: dict[Any, list[dict[str, Any]]] = {}

    def add(target: Any, **values: Any) -> dict[str, Any]:
        rows.setdefault(target, []).append(values)
        return values

    # Agencies: the root, its children, theirs.
    root = add(
        Agency,
        id=ids("agency"),
        code="R0001",
        name=f"Bench {shape.name} root",
        level=shape.root_level,
        parent_id=None,
        created_at=now,
    )
    child_level = AgencyLevel.town if shape.root_level == AgencyLevel.county else AgencyLevel.county
    agency_ids = [root["id"]]
    for c in range(shape.children):
        child = add(
            Agency,
            id=ids("agency"),
            code=f"C{c:04d}",
            name=f"Unit {c + 1}",
            level=child_level,
            parent_id=root["id"],
            created_at=now,
        )
        agency_ids.append(child["id"])
        for g in range(shape.grandchildren):
            town = add(
                Agency,
                id=ids("agency"),
                code=f"C{c:04d}T{g:02d}",
                name=f"Unit {c + 1}.{g + 1}",
                level=AgencyLevel.town,
                parent_id=child["id"],
                created_at=now,
            )
            agency_ids.append(town["id"])
    supervisor = add(
        User,
        id=ids("user"),
        username="bench-supervisor",
        display_name="Bench supervisor",
        password_hash=NO_SIGN_IN,
        role=Role.supervisor,
        inspector_id=None,
        agency_id=root["id"],
        enterprise_id=None,
        is_active=True,
        created_at=now,
    )
    registrar = add(
        User,
        id=ids("user"),
        username="bench-inspector",
        display_name="Bench inspector",
        password_hash=NO_SIGN_IN,
        role=Role.inspector,
        inspector_id=None,
        agency_id=root["id"],
        enterprise_id=None,
        is_active=True,
        created_at=now,
    )
    manager = add(
        User,
        id=ids("user"),
        username="bench-manager",
        display_name="Bench manager",
        password_hash=NO_SIGN_IN,
        role=Role.manager,
        inspector_id=None,
        agency_id=None,
        enterprise_id=None,
        is_active=True,
        created_at=now,
    )
    inspectors: dict[int, list[int]] = {}
    for agency_id in agency_ids:
        for n in range(4):
            inspector = add(
                Inspector,
                id=ids("inspector"),
                name=f"Inspector {agency_id}-{n}",
                agency_id=agency_id,
                photo=None,
                photo_type=None,
                created_at=now,
            )
            inspectors.setdefault(agency_id, []).append(inspector["id"])
    items = [
        add(
            InspectionItem,
            id=ids("item"),
            code=f"AQ-{i:03d}",
            title=f"Item {i}",
            legal_basis="Work Safety Law",
            description="",
            max_per_year=None,
            field="",
            created_at=now,
        )["id"]
        for i in range(1, 19)
    ]
    codes: set[str] = set()
    enterprises: list[tuple[int, int]] = []  # (id, agency)
    for e in range(shape.enterprises):
        code = uscc.generate(rng)
        while code in codes:
            code = uscc.generate(rng)
        codes.add(code)
        agency_id = agency_ids[e % len(agency_ids)]
        enterprise = add(
            Enterprise,
            id=ids("enterprise"),
            name=f"Enterprise {e + 1} Co., Ltd.",
            uscc=code,
            address="",
            industry="",
            enterprise_class=EnterpriseClass.other,
            risk_grade="2",
            agency_id=agency_id,
            created_at=now,
        )
        enterprises.append((enterprise["id"], agency_id))

    for month in shape.months:
        _month(
            add,
            ids,
            rng,
            shape,
            month,
            now,
            agency_ids,
            inspectors,
            items,
            enterprises,
            registrar["id"],
            manager["id"],
        )

    counts: dict[str, int] = {}
    by_table = {(t if isinstance(t, Table) else t.__table__): v for t, v in rows.items()}
    for table in Base.metadata.sorted_tables:  # parents before children (foreign keys)
        values = by_table.get(table)
        if not values:
            continue
        statement = insert(table)
        for chunk in _chunks(values):
            session.execute(statement, list(chunk))
        counts[table.name] = len(values)
    session.commit()
    return Generated(root["id"], supervisor["id"], agency_ids, counts)


def _month(
    add: Any,
    ids: _Ids,
    rng: random.Random,
    shape: Shape,
    month: str,
    now: datetime,
    agency_ids: list[int],
    inspectors: dict[int, list[int]],
    items: list[int],
    enterprises: list[tuple[int, int]],
    registrar_id: int,
    manager_id: int,
) -> None:
    start, end = month_bounds(month)
    seconds = int((end - start).total_seconds()) - 4 * 3600
    year, mon = (int(x) for x in month.split("-"))
    plans: dict[int, int] = {}
    for agency_id in agency_ids:
        plans[agency_id] = add(
            Plan,
            id=ids("plan"),
            agency_id=agency_id,
            kind=PlanKind.monthly,
            year=year,
            month=mon,
            title=f"{month} plan",
            created_at=start,
            created_by_id=None,
        )["id"]
    chosen = rng.sample(enterprises, k=min(len(enterprises), shape.visits_per_month))
    for enterprise_id, agency_id in chosen:
        planned = rng.random() < 0.8
        entry_id = None
        if planned:
            entry_id = add(
                PlanEntry,
                id=ids("plan_entry"),
                plan_id=plans[agency_id],
                agency_id=agency_id,
                enterprise_id=enterprise_id,
                month=month,
                note="",
                created_at=start,
            )["id"]
            for item_id in rng.sample(items, 3):
                add(plan_entry_items, plan_entry_id=entry_id, item_id=item_id)
            if rng.random() < 0.05:
                continue  # planned, never visited: missed
        window_start = start + timedelta(seconds=rng.randrange(0, seconds))
        roll = rng.random()
        status = (
            VisitStatus.confirmed
            if roll < 0.85
            else VisitStatus.registered
            if roll < 0.93
            else VisitStatus.cancelled
        )
        reason = None if planned else rng.choice(EXTRA_REASONS)
        approval = (
            Approval.not_required
            if planned
            else rng.choice([Approval.approved] * 6 + [Approval.pending, Approval.rejected])
        )
        visit_id = ids("visit")
        confirmed_at = (
            window_start + timedelta(minutes=20) if status == VisitStatus.confirmed else None
        )
        add(
            Visit,
            id=visit_id,
            public_id=f"bench{visit_id:027x}",
            agency_id=agency_id,
            enterprise_id=enterprise_id,
            plan_entry_id=entry_id,
            extra_reason=reason,
            extra_reason_text="",
            approval=approval,
            window_start=window_start,
            window_end=window_start + timedelta(hours=3),
            status=status,
            registered_at=window_start - timedelta(days=1),
            registered_by_id=registrar_id,
            pass_secret=b"\0" * 32,
            code_prefix=f"{visit_id:08x}",
            confirmed_at=confirmed_at,
            confirmed_by_id=manager_id if confirmed_at else None,
            cancelled_at=window_start - timedelta(hours=2)
            if status == VisitStatus.cancelled
            else None,
            cancel_reason="",
            recheck_of_visit_id=None,
        )
        team = rng.sample(inspectors[agency_id], 2)
        joint_agency = rng.choice(agency_ids) if rng.random() < 0.05 else None
        if joint_agency == agency_id:
            joint_agency = None
        if joint_agency is not None:
            team.append(rng.choice(inspectors[joint_agency]))
        for position, inspector_id in enumerate(team):
            add(
                VisitInspector,
                visit_id=visit_id,
                inspector_id=inspector_id,
                position=position,
                added_at=None,
            )
        checked = rng.sample(items, 3)
        for i, item_id in enumerate(checked):
            covering = joint_agency if joint_agency is not None and i == 2 else None
            add(visit_items, visit_id=visit_id, item_id=item_id, agency_id=covering)
        if rng.random() < 0.03:  # a refused scan before (or instead of) the confirmation
            scan_id = ids("scan")
            at = window_start + timedelta(minutes=5)
            add(
                Scan,
                id=scan_id,
                visit_id=visit_id,
                enterprise_id=enterprise_id,
                user_id=manager_id,
                scanned_at=at,
                device_time=None,
                outcome=ScanOutcome.refused,
                reason_code="pass_expired",
                presented_as="url",
                presented_digest=f"{scan_id:064x}",
            )
            _flag(
                add,
                ids,
                FlagKind.refused_scan,
                f"scan:{scan_id}",
                agency_id,
                at,
                enterprise_id=enterprise_id,
                visit_id=visit_id,
                scan_id=scan_id,
            )
        if status == VisitStatus.registered:
            _flag(
                add,
                ids,
                FlagKind.window_passed_unconfirmed,
                f"visit:{visit_id}",
                agency_id,
                window_start + timedelta(hours=4),
                enterprise_id=enterprise_id,
                visit_id=visit_id,
            )
        if confirmed_at is None:
            continue
        scan_id = ids("scan")
        add(
            Scan,
            id=scan_id,
            visit_id=visit_id,
            enterprise_id=enterprise_id,
            user_id=manager_id,
            scanned_at=confirmed_at,
            device_time=None,
            outcome=ScanOutcome.confirmed,
            reason_code=None,
            presented_as="url",
            presented_digest=f"{scan_id:064x}",
        )
        _inspection(add, ids, rng, visit_id, checked, confirmed_at, registrar_id)
    # Unregistered-visit reports: about one in a hundred visits.
    for _ in range(max(1, shape.visits_per_month // 100)):
        enterprise_id, agency_id = rng.choice(enterprises)
        at = start + timedelta(seconds=rng.randrange(0, seconds))
        report_id = ids("report")
        add(
            UnregisteredReport,
            id=report_id,
            enterprise_id=enterprise_id,
            reported_by_id=manager_id,
            occurred_at=at,
            who="Two people, no pass",
            what_they_said="Routine check",
            created_at=at,
        )
        _flag(
            add,
            ids,
            FlagKind.unregistered_report,
            f"report:{report_id}",
            agency_id,
            at,
            enterprise_id=enterprise_id,
            report_id=report_id,
        )


def _flag(
    add: Any, ids: _Ids, kind: FlagKind, key: str, agency_id: int, at: datetime, **refs: Any
) -> None:
    values = {"enterprise_id": None, "visit_id": None, "scan_id": None, "report_id": None}
    values.update(refs)
    add(
        Flag,
        id=ids("flag"),
        kind=kind,
        severity=Severity.warning,
        dedupe_key=key,
        agency_id=agency_id,
        detail="{}",
        raised_at=at,
        plan_entry_id=None,
        **values,
    )


def _inspection(
    add: Any,
    ids: _Ids,
    rng: random.Random,
    visit_id: int,
    checked: list[int],
    at: datetime,
    by: int,
) -> None:
    versions = 2 if rng.random() < 0.05 else 1
    case = rng.random() < 0.08
    for version in range(1, versions + 1):
        inspection_id = ids("inspection")
        add(
            Inspection,
            id=inspection_id,
            visit_id=visit_id,
            version=version,
            summary="",
            case_opened=case,
            case_number="AJ" if case else "",
            fine_fen=rng.choice([0, 500_000, 2_000_000]) if case else 0,
            correction_reason="" if version == 1 else "Corrected",
            recorded_at=at + timedelta(hours=version),
            recorded_by_id=by,
        )
        for item_id in checked:
            roll = rng.random()
            outcome = (
                FindingOutcome.compliant
                if roll < 0.8
                else FindingOutcome.hazard
                if roll < 0.97
                else FindingOutcome.major_hazard
            )
            deadline: date | None = None
            if outcome != FindingOutcome.compliant:
                deadline = (at + timedelta(days=rng.choice([7, 15, 30]))).astimezone(UTC).date()
            finding_id = ids("finding")
            add(
                ItemFinding,
                id=finding_id,
                inspection_id=inspection_id,
                item_id=item_id,
                outcome=outcome,
                note="",
                rectify_by=deadline,
            )
            if deadline is not None and rng.random() < 0.7:
                late = rng.random() < 0.2
                add(
                    Rectification,
                    id=ids("rectification"),
                    item_finding_id=finding_id,
                    recheck_visit_id=None,
                    outcome=RectificationOutcome.rectified,
                    note="",
                    recorded_at=at + timedelta(days=40 if late else 5),
                    recorded_by_id=by,
                )
