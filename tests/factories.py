"""Test data: small factory functions, and one standard world most tests start from."""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from webapp.agencies.models import Agency, Credential, Inspector
from webapp.auth import security
from webapp.auth.models import User
from webapp.checkin.models import Scan
from webapp.enterprises import uscc
from webapp.enterprises.models import Enterprise
from webapp.enums import AgencyLevel, CredentialStatus, EnterpriseClass, PlanKind, Role
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry
from webapp.supervision.models import Flag
from webapp.visits.models import Visit

PASSWORD = "correct-horse-battery"
# Hashing is deliberately slow; every test account shares one precomputed hash.
_PASSWORD_HASH = security.hash_password(PASSWORD)
_seq = itertools.count(1)
_rng = random.Random(20261116)


def make_agency(
    db: Session,
    *,
    name: str | None = None,
    level: AgencyLevel = AgencyLevel.county,
    parent: Agency | None = None,
    now: datetime,
) -> Agency:
    n = next(_seq)
    agency = Agency(
        code=f"A{n:05d}",
        name=name or f"Agency {n}",
        level=level,
        parent_id=parent.id if parent else None,
        created_at=now,
    )
    db.add(agency)
    db.flush()
    return agency


def make_inspector(
    db: Session,
    *,
    agency: Agency,
    name: str | None = None,
    now: datetime,
    valid_from: date | None = None,
    valid_until: date | None = None,
    status: CredentialStatus = CredentialStatus.valid,
    photo: bytes | None = b"\x89PNG fake",
) -> Inspector:
    n = next(_seq)
    inspector = Inspector(
        name=name or f"Inspector {n}",
        agency_id=agency.id,
        photo=photo,
        photo_type="image/png" if photo else None,
        created_at=now,
    )
    db.add(inspector)
    db.flush()
    today = now.date()
    db.add(
        Credential(
            number=f"JZ{n:08d}",
            inspector_id=inspector.id,
            issuing_agency_id=agency.id,
            valid_from=valid_from or today - timedelta(days=365),
            valid_until=valid_until or today + timedelta(days=365),
            status=status,
            created_at=now,
        )
    )
    db.flush()
    db.refresh(inspector)
    return inspector


def make_user(
    db: Session,
    *,
    role: Role,
    now: datetime,
    username: str | None = None,
    inspector: Inspector | None = None,
    agency: Agency | None = None,
    enterprise: Enterprise | None = None,
    active: bool = True,
) -> User:
    n = next(_seq)
    user = User(
        username=username or f"user{n}",
        display_name=username or f"User {n}",
        password_hash=_PASSWORD_HASH,
        role=role,
        inspector_id=inspector.id if inspector else None,
        agency_id=(inspector.agency_id if inspector else agency.id if agency else None),
        enterprise_id=enterprise.id if enterprise else None,
        is_active=active,
        created_at=now,
    )
    db.add(user)
    db.flush()
    return user


def make_enterprise(
    db: Session,
    *,
    agency: Agency,
    now: datetime,
    name: str | None = None,
    enterprise_class: EnterpriseClass = EnterpriseClass.other,
    risk_grade: str = "2",
) -> Enterprise:
    n = next(_seq)
    enterprise = Enterprise(
        name=name or f"Enterprise {n} Co., Ltd.",
        uscc=uscc.generate(_rng),
        address=f"{n} Example Road",
        industry="machinery",
        enterprise_class=enterprise_class,
        risk_grade=risk_grade,
        agency_id=agency.id,
        created_at=now,
    )
    db.add(enterprise)
    db.flush()
    return enterprise


def make_item(
    db: Session, *, now: datetime, code: str | None = None, title: str | None = None
) -> InspectionItem:
    n = next(_seq)
    item = InspectionItem(
        code=code or f"IT-{n:04d}",
        title=title or f"Item {n}",
        legal_basis=f"Work Safety Law, Article {n % 100 + 1}",
        description="",
        max_per_year=None,
        created_at=now,
    )
    db.add(item)
    db.flush()
    return item


def make_plan_entry(
    db: Session,
    *,
    agency: Agency,
    enterprise: Enterprise,
    items: list[InspectionItem],
    month: str,
    now: datetime,
) -> PlanEntry:
    year, mon = (int(x) for x in month.split("-"))
    plan = (
        db.query(Plan)
        .filter_by(agency_id=agency.id, kind=PlanKind.monthly, year=year, month=mon)
        .one_or_none()
    )
    if plan is None:
        plan = Plan(
            agency_id=agency.id,
            kind=PlanKind.monthly,
            year=year,
            month=mon,
            title=f"{month} plan",
            created_at=now,
        )
        db.add(plan)
        db.flush()
    entry = PlanEntry(
        plan_id=plan.id,
        agency_id=agency.id,
        enterprise_id=enterprise.id,
        month=month,
        created_at=now,
    )
    entry.items = list(items)
    db.add(entry)
    db.flush()
    return entry


@dataclass
class World:
    """A county agency with a town below it, three inspectors (one with an expired
    credential), two enterprises each planned this month, an item list, and the accounts."""

    county: Agency
    town: Agency
    other_county: Agency
    alice: Inspector
    bob: Inspector
    carol_expired: Inspector
    dave_other: Inspector
    ent_a: Enterprise
    ent_b: Enterprise
    items: list[InspectionItem]
    entry_a: PlanEntry
    entry_b: PlanEntry
    inspector1: User
    inspector2: User
    inspector_other: User
    manager_a: User
    manager_b: User
    supervisor: User
    supervisor_other: User
    admin: User
    month: str


def build_world(db: Session, *, now: datetime) -> World:
    county = make_agency(db, name="Example County Bureau", now=now)
    town = make_agency(
        db, name="Example Town Office", level=AgencyLevel.town, parent=county, now=now
    )
    other = make_agency(db, name="Other County Bureau", now=now)
    alice = make_inspector(db, agency=county, name="Alice Li", now=now)
    bob = make_inspector(db, agency=county, name="Bob Wang", now=now)
    carol = make_inspector(
        db, agency=county, name="Carol Zhang", now=now, valid_until=now.date() - timedelta(days=1)
    )
    dave = make_inspector(db, agency=other, name="Dave Chen", now=now)
    ent_a = make_enterprise(
        db,
        agency=county,
        name="Alpha Chemicals",
        now=now,
        enterprise_class=EnterpriseClass.hazchem_metallurgy,
    )
    ent_b = make_enterprise(db, agency=county, name="Beta Machinery", now=now)
    items = [make_item(db, now=now, code=f"AQ-{i:03d}", title=f"Check {i}") for i in range(1, 5)]
    month = now.strftime("%Y-%m")
    entry_a = make_plan_entry(
        db, agency=county, enterprise=ent_a, items=items[:2], month=month, now=now
    )
    entry_b = make_plan_entry(
        db, agency=county, enterprise=ent_b, items=items[2:], month=month, now=now
    )
    world = World(
        county=county,
        town=town,
        other_county=other,
        alice=alice,
        bob=bob,
        carol_expired=carol,
        dave_other=dave,
        ent_a=ent_a,
        ent_b=ent_b,
        items=items,
        entry_a=entry_a,
        entry_b=entry_b,
        inspector1=make_user(
            db, role=Role.inspector, username="inspector1", inspector=alice, now=now
        ),
        inspector2=make_user(
            db, role=Role.inspector, username="inspector2", inspector=bob, now=now
        ),
        inspector_other=make_user(
            db, role=Role.inspector, username="inspector9", inspector=dave, now=now
        ),
        manager_a=make_user(db, role=Role.manager, username="manager1", enterprise=ent_a, now=now),
        manager_b=make_user(db, role=Role.manager, username="manager2", enterprise=ent_b, now=now),
        supervisor=make_user(
            db, role=Role.supervisor, username="supervisor1", agency=county, now=now
        ),
        supervisor_other=make_user(
            db, role=Role.supervisor, username="supervisor9", agency=other, now=now
        ),
        admin=make_user(db, role=Role.admin, username="admin", now=now),
        month=month,
    )
    db.commit()
    return world


# --- signing in over HTTP -----------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the sign-in page; returns the CSRF token of the new session."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "next": "/",
            "csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = client.get(response.headers["location"])
    return csrf_from(home.text)


def api_token(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# --- visits, scans and flags (made directly, for tests of what comes after registration) ---


def make_visit(
    db: Session,
    *,
    agency: Agency,
    enterprise: Enterprise,
    inspectors: list[Inspector],
    items: list[InspectionItem],
    registered_by: User,
    now: datetime,
    plan_entry: PlanEntry | None = None,
    extra_reason: str | None = None,
    extra_reason_text: str = "",
    approval: str | None = None,
    status: str = "registered",
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    registered_at: datetime | None = None,
) -> Visit:
    """A visit as registration leaves it (planned when `plan_entry` is given, else extra with
    `extra_reason`, pending approval unless `approval` says otherwise)."""
    from webapp.enums import Approval, ExtraReason, VisitStatus
    from webapp.visits.models import VisitInspector

    start = window_start or now + timedelta(hours=1)
    visit = Visit(
        public_id=security.new_public_id(),
        agency_id=agency.id,
        enterprise_id=enterprise.id,
        plan_entry_id=plan_entry.id if plan_entry else None,
        extra_reason=None
        if plan_entry
        else ExtraReason(extra_reason or ExtraReason.complaint.value),
        extra_reason_text=extra_reason_text or ("" if plan_entry else "Hotline report 12345"),
        approval=Approval(
            approval or (Approval.not_required if plan_entry else Approval.pending).value
        ),
        window_start=start,
        window_end=window_end or start + timedelta(hours=2),
        status=VisitStatus(status),
        registered_at=registered_at or now,
        registered_by_id=registered_by.id,
        pass_secret=security.new_pass_secret(),
        code_prefix=security.new_code_prefix(),
    )
    if status == "confirmed":
        visit.confirmed_at = start + timedelta(minutes=10)
    if status == "cancelled":
        visit.cancelled_at = now
        visit.cancel_reason = "Rescheduled"
    visit.items = list(items)
    db.add(visit)
    db.flush()
    for position, inspector in enumerate(inspectors):
        db.add(VisitInspector(visit_id=visit.id, inspector_id=inspector.id, position=position))
    db.flush()
    db.refresh(visit)
    return visit


def make_scan(
    db: Session,
    *,
    visit: Visit | None,
    user: User,
    now: datetime,
    outcome: str = "refused",
    reason_code: str | None = "pass_expired",
    device_time: datetime | None = None,
) -> Scan:
    from webapp.enums import ScanOutcome

    scan = Scan(
        visit_id=visit.id if visit else None,
        enterprise_id=user.enterprise_id,
        user_id=user.id,
        scanned_at=now,
        device_time=device_time,
        outcome=ScanOutcome(outcome),
        reason_code=None if outcome == "confirmed" else reason_code,
        presented_as="url",
        presented_digest=security.digest(f"scan-{next(_seq)}"),
    )
    db.add(scan)
    db.flush()
    return scan


def make_flag(
    db: Session,
    *,
    kind: str,
    agency: Agency,
    now: datetime,
    visit: Visit | None = None,
    enterprise: Enterprise | None = None,
    scan: Scan | None = None,
    report_id: int | None = None,
    dedupe_key: str | None = None,
) -> Flag:
    """A flag raised through webapp.supervision.flags.raise_flag, with the finding of the
    real rule of that kind."""
    from webapp import rules
    from webapp.enums import Approval, FlagKind, VisitStatus
    from webapp.rules import Finding
    from webapp.supervision.flags import raise_flag

    flag_kind = FlagKind(kind)
    finding: Finding | None
    if flag_kind == FlagKind.extra_unapproved:
        finding = rules.extra_visit_at_scan(True, Approval.pending)
    elif flag_kind == FlagKind.too_few_valid_credentials:
        finding = rules.team_credentials([], now.date(), now.date())
    elif flag_kind == FlagKind.short_notice:
        finding = rules.short_notice(now - timedelta(minutes=5), now, 30)
    elif flag_kind == FlagKind.window_passed_unconfirmed:
        finding = rules.window_passed_unconfirmed(
            VisitStatus.registered, now - timedelta(hours=2), 30, now
        )
    elif flag_kind == FlagKind.refused_scan:
        finding = rules.refused_scan(
            (scan.reason_code or "pass_invalid") if scan else "pass_invalid"
        )
    else:
        finding = rules.unregistered_report_finding()
    assert finding is not None
    return raise_flag(
        db,
        finding=finding,
        dedupe_key=dedupe_key or f"test:{next(_seq)}",
        agency_id=agency.id,
        now=now,
        enterprise_id=enterprise.id if enterprise else (visit.enterprise_id if visit else None),
        visit_id=visit.id if visit else None,
        scan_id=scan.id if scan else None,
        report_id=report_id,
    )


# --- findings (made directly, for tests of what comes after the recording) -----------------

from webapp.enums import FindingOutcome, RectificationOutcome  # noqa: E402
from webapp.findings.models import Inspection, ItemFinding, Rectification  # noqa: E402


def make_inspection(
    db: Session,
    *,
    visit: Visit,
    recorded_by: User,
    now: datetime,
    results: list[tuple[InspectionItem, str, date | None]] | None = None,
    version: int = 1,
    case_opened: bool = False,
    case_number: str = "",
    fine_fen: int = 0,
    correction_reason: str = "",
) -> Inspection:
    """An inspection record version of `visit`: `results` are (item, outcome, rectify_by);
    by default every item of the visit is compliant."""
    inspection = Inspection(
        visit_id=visit.id,
        version=version,
        summary="",
        case_opened=case_opened,
        case_number=case_number,
        fine_fen=fine_fen,
        correction_reason=correction_reason,
        recorded_at=now,
        recorded_by_id=recorded_by.id,
    )
    db.add(inspection)
    db.flush()
    for item, outcome, rectify_by in results or [(i, "compliant", None) for i in visit.items]:
        db.add(
            ItemFinding(
                inspection_id=inspection.id,
                item_id=item.id,
                outcome=FindingOutcome(outcome),
                note="" if outcome == "compliant" else f"Hazard at {item.code}",
                rectify_by=rectify_by,
            )
        )
    db.flush()
    db.refresh(inspection)
    return inspection


def make_rectification(
    db: Session,
    *,
    finding: ItemFinding,
    recorded_by: User,
    now: datetime,
    outcome: str = "rectified",
    recheck_visit: Visit | None = None,
) -> Rectification:
    row = Rectification(
        item_finding_id=finding.id,
        recheck_visit_id=recheck_visit.id if recheck_visit else None,
        outcome=RectificationOutcome(outcome),
        note="",
        recorded_at=now,
        recorded_by_id=recorded_by.id,
    )
    db.add(row)
    db.flush()
    return row
