"""Synthetic data at a bureau's scale, loaded in bulk: agencies (a root, its cities or counties,
theirs), enterprises with valid credit codes, an item list, monthly plans, visits with their
teams and items (some joint), scans, flags and their resolutions, unregistered reports,
inspection records with findings and rectifications, and the audit events of all of it, a real
hash chain (`python -m webapp audit verify` passes on the result).

    python -m bench.datagen --shape city|province --database-url URL [--seed N]

The database must be migrated and empty. Shapes: `county` (a county's month: 5,500 enterprises,
1,500 visits), `city` (a city's year: 20,000 enterprises, 15,000 visits), `province` (three
years of 100 cities of about 10 counties each: 1,101 agencies, 100,000 enterprises, 1,000,000
visits; about 12 million rows with 3 million audit events).

Irregularities, in these shares (the figures are random but plausible, and the same seed gives
the same data):

- visits: 20 % extra (unplanned), 80 % from the plan; 5 % of planned entries never visited;
  85 % confirmed, 8 % left unconfirmed after their window (a `window_passed_unconfirmed` flag),
  7 % cancelled;
- extra visits: 1 in 8 still pending approval, 1 in 8 refused (both: an `extra_unapproved`
  flag); the rest approved (with a supervisor's decision);
- 3 % of visits with a refused scan (`refused_scan` flag), 2 % registered at short notice
  (`short_notice` flag), 5 % joint visits with an inspector of another agency;
- unregistered-visit reports: one per hundred visits (`unregistered_report` flag);
- findings: a hazard in about one item in six, a major hazard in one in thirty-three; a case
  in one inspection in twelve; 5 % of inspection records corrected (a second version);
- flags raised more than two months before the end are resolved in 60 % of cases.

Loading: on PostgreSQL each month's rows go in by COPY (psycopg's `cursor.copy`) on the
session's connection; as a superuser the foreign-key triggers are skipped during the load
(`session_replication_role = replica`: the generator writes parents before children anyway).
On SQLite: executemany in one transaction per month. Progress and rows/s are printed.
A marker row (table `bench_datagen`: shape, seed, generator version) lets a benchmark reuse a
database it built before (`marker()`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Table, insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from webapp.agencies.models import Agency, Inspector
from webapp.audit.models import AuditEvent
from webapp.audit.service import GENESIS, _entry_hash, canonical
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
from webapp.supervision.models import Flag, FlagResolution
from webapp.supervision.service import month_bounds
from webapp.visits.models import Visit, VisitDecision, VisitInspector, visit_items

VERSION = 2  # bump when the data changes: a reused database of another version is rebuilt
CHUNK = 5000
NO_SIGN_IN = "!"  # not an argon2 hash: these accounts cannot sign in
EXTRA_REASONS = list(ExtraReason)
MARKER_TABLE = "bench_datagen"
PLACES = ["苏州", "昆山", "常熟", "张家港", "太仓", "吴江", "南通", "无锡", "江阴", "宜兴"]
TRADES = ["化工", "机械", "纺织", "电子", "冶金", "建材", "食品", "物流", "塑料", "印染"]
FORMS = ["有限公司", "股份有限公司", "制造有限公司", "科技有限公司"]
CHILD_LEVEL = {
    AgencyLevel.province: AgencyLevel.city,
    AgencyLevel.city: AgencyLevel.county,
    AgencyLevel.county: AgencyLevel.town,
}


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


def _months(first_year: int, years: int) -> list[str]:
    return [f"{y}-{m:02d}" for y in range(first_year, first_year + years) for m in range(1, 13)]


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
    months=_months(2026, 1),
    visits_per_month=1_300,  # about 15,000 a year
)
PROVINCE = Shape(
    "province",
    AgencyLevel.province,
    children=100,  # cities
    grandchildren=10,  # counties of each
    enterprises=100_000,
    months=_months(2024, 3),
    visits_per_month=29_000,  # about 1,000,000 in three years, after the missed entries
)
SHAPES = {"county": COUNTY_MONTH, "city": CITY_YEAR, "province": PROVINCE}


def tiny(months: int = 2, *, seed: int = 7) -> Shape:
    """A few hundred rows, for tests of the generator and of the benchmarks' code paths."""
    return Shape(
        "tiny",
        AgencyLevel.city,
        children=3,
        grandchildren=2,
        enterprises=120,
        months=[f"2026-{m:02d}" for m in range(1, months + 1)],
        visits_per_month=60,
        seed=seed,
    )


@dataclass
class Generated:
    root_id: int
    supervisor_id: int
    agency_ids: list[int]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

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


def _chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


def _table(target: Any) -> Table:
    return target if isinstance(target, Table) else cast(Table, target.__table__)


class _Loader:
    """Collects rows by table and writes them, parents first, when `flush` is called."""

    def __init__(self, session: Session, progress: Callable[[str], None] | None) -> None:
        self.session = session
        self.rows: dict[Table, list[dict[str, Any]]] = {}
        self.counts: dict[str, int] = {}
        self.progress = progress
        self.started = time.perf_counter()
        self.postgresql = session.get_bind().dialect.name == "postgresql"
        if self.postgresql:
            conn = session.connection()
            superuser = conn.scalar(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            )
            self.skip_fk_triggers = bool(superuser)

    def add(self, target: Any, **values: Any) -> dict[str, Any]:
        self.rows.setdefault(_table(target), []).append(values)
        return values

    def flush(self, label: str) -> None:
        for table in Base.metadata.sorted_tables:  # parents before children (foreign keys)
            values = self.rows.pop(table, None)
            if not values:
                continue
            if self.postgresql:
                self._copy(self.session.connection(), table, values)
            else:
                statement = insert(table)
                for chunk in _chunks(values):
                    self.session.execute(statement, list(chunk))
            self.counts[table.name] = self.counts.get(table.name, 0) + len(values)
        self.session.commit()
        if self.progress is not None:
            rows = sum(self.counts.values())
            seconds = time.perf_counter() - self.started
            self.progress(
                f"  {label}: {rows:,} rows in {seconds:.0f} s ({rows / max(seconds, 1e-9):,.0f}"
                f" rows/s), {self.counts.get('visits', 0):,} visits"
            )

    def _copy(self, conn: Connection, table: Table, values: list[dict[str, Any]]) -> None:
        # Python-side scalar defaults for the columns a row leaves out (COPY does not apply
        # SQLAlchemy's defaults); enums as their values.
        columns = [c for c in table.columns if c.name in values[0] or c.default is not None]
        defaults = {
            c.name: c.default.arg  # type: ignore[attr-defined]
            for c in columns
            if c.name not in values[0] and c.default is not None and c.default.is_scalar
        }
        names = [c.name for c in columns if c.name in values[0] or c.name in defaults]
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            if self.skip_fk_triggers:
                cur.execute("SET LOCAL session_replication_role = replica")
            quoted = ", ".join(f'"{n}"' for n in names)
            with cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                for row in values:
                    copy.write_row([_plain(row[n]) if n in row else defaults[n] for n in names])


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


class _Audit:
    """The audit events, chained exactly as webapp.audit.service.record chains them."""

    def __init__(self, loader: _Loader, ids: _Ids) -> None:
        self.loader = loader
        self.ids = ids
        self.prev = GENESIS

    def __call__(
        self,
        at: datetime,
        actor_id: int | None,
        action: str,
        object_type: str,
        object_id: int,
        *,
        visit_id: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        event = SimpleNamespace(
            occurred_at=at,
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            visit_id=visit_id,
            data=canonical(data or {}),
        )
        digest = _entry_hash(self.prev, cast(AuditEvent, event))
        self.loader.add(
            AuditEvent,
            id=self.ids("audit"),
            prev_hash=self.prev,
            hash=digest,
            **vars(event),
        )
        self.prev = digest


def generate(
    session: Session,
    shape: Shape,
    *,
    now: datetime,
    progress: Callable[[str], None] | None = None,
) -> Generated:
    """Fill an empty, migrated database (one transaction per month), rebuild the report
    summary (webapp/supervision/summary.py) from it, and mark it."""
    from webapp.supervision import summary

    # The rows go in by COPY / executemany, past the session's summary hooks: the summary is
    # rebuilt from the records at the end instead (set-based, one statement per table).
    session.info[summary.SKIP] = True
    rng = random.Random(shape.seed)  # noqa: S311 (synthetic data, not secrets)
    ids = _Ids()
    loader = _Loader(session, progress)
    add = loader.add
    audit = _Audit(loader, ids)

    root = add(
        Agency,
        id=ids("agency"),
        code="R0001",
        name=f"Bench {shape.name} root",
        level=shape.root_level,
        parent_id=None,
        created_at=now,
    )
    child_level = CHILD_LEVEL[shape.root_level]
    agency_ids = [root["id"]]
    divisions = {root["id"]: "320000"}
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
        divisions[child["id"]] = f"{10 + c % 90:02d}{c // 90:02d}00"
        for g in range(shape.grandchildren):
            below = add(
                Agency,
                id=ids("agency"),
                code=f"C{c:04d}T{g:02d}",
                name=f"Unit {c + 1}.{g + 1}",
                level=CHILD_LEVEL.get(child_level, AgencyLevel.town),
                parent_id=child["id"],
                created_at=now,
            )
            agency_ids.append(below["id"])
            divisions[below["id"]] = f"{10 + c % 90:02d}{c // 90:02d}{g + 1:02d}"
    users: dict[str, int] = {}
    for username, role, agency in (
        ("bench-admin", Role.admin, None),
        ("bench-supervisor", Role.supervisor, root["id"]),
        ("bench-inspector", Role.inspector, root["id"]),
        ("bench-manager", Role.manager, None),
    ):
        users[role.value] = add(
            User,
            id=ids("user"),
            username=username,
            display_name=username.replace("-", " ").capitalize(),
            password_hash=NO_SIGN_IN,
            role=role,
            inspector_id=None,
            agency_id=agency,
            enterprise_id=None,
            is_active=True,
            created_at=now,
        )["id"]
    admin = users[Role.admin.value]
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
        agency_id = agency_ids[e % len(agency_ids)]
        code = uscc.generate(rng, division=divisions[agency_id])
        while code in codes:
            code = uscc.generate(rng, division=divisions[agency_id])
        codes.add(code)
        name = f"{rng.choice(PLACES)}{rng.choice(TRADES)}{e + 1}号{rng.choice(FORMS)}"
        enterprise = add(
            Enterprise,
            id=ids("enterprise"),
            name=name,
            uscc=code,
            address="",
            industry="",
            enterprise_class=EnterpriseClass.other,
            risk_grade="2",
            agency_id=agency_id,
            created_at=now,
        )
        enterprises.append((enterprise["id"], agency_id))
    # One audit event for the set-up (a real deployment has one per agency, enterprise...).
    audit(now, admin, "demo.loaded", "bench", shape.seed, data={"shape": shape.name})
    loader.flush("agencies, users, enterprises")

    resolve_before = month_bounds(shape.months[-1])[0] - timedelta(days=31)
    context = _Context(add, ids, rng, shape, audit, agency_ids, inspectors, items, enterprises)
    context.users = users
    context.resolve_before = resolve_before
    for month in shape.months:
        context.month(month)
        loader.flush(month)

    if loader.postgresql:
        # The ids were given: move each table's sequence past them.
        conn = session.connection()
        for table in Base.metadata.sorted_tables:
            id_column = table.columns.get("id")
            if id_column is not None and id_column.type.python_type is int:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608 (table names from the models)
                        f'COALESCE((SELECT max(id) FROM "{table.name}"), 0) + 1, false)'
                    )
                )
    seconds = time.perf_counter() - loader.started
    started = time.perf_counter()
    summary.rebuild(session)
    if progress is not None:
        progress(f"report summary rebuilt in {time.perf_counter() - started:.0f} s")
    _write_marker(session, shape, loader.counts, now)
    session.commit()
    return Generated(
        root["id"], users[Role.supervisor.value], agency_ids, dict(loader.counts), seconds
    )


class _Context:
    """What one month's visits are generated from."""

    def __init__(
        self,
        add: Callable[..., dict[str, Any]],
        ids: _Ids,
        rng: random.Random,
        shape: Shape,
        audit: _Audit,
        agency_ids: list[int],
        inspectors: dict[int, list[int]],
        items: list[int],
        enterprises: list[tuple[int, int]],
    ) -> None:
        self.add = add
        self.ids = ids
        self.rng = rng
        self.shape = shape
        self.audit = audit
        self.agency_ids = agency_ids
        self.inspectors = inspectors
        self.items = items
        self.enterprises = enterprises
        self.users: dict[str, int] = {}
        self.resolve_before = datetime.min.replace(tzinfo=UTC)

    def month(self, month: str) -> None:
        add, ids, rng, shape = self.add, self.ids, self.rng, self.shape
        registrar = self.users[Role.inspector.value]
        manager = self.users[Role.manager.value]
        supervisor = self.users[Role.supervisor.value]
        start, end = month_bounds(month)
        seconds = int((end - start).total_seconds()) - 4 * 3600
        year, mon = (int(x) for x in month.split("-"))
        plans: dict[int, int] = {}
        for agency_id in self.agency_ids:
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
        chosen = rng.sample(self.enterprises, k=min(len(self.enterprises), shape.visits_per_month))
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
                for item_id in rng.sample(self.items, 3):
                    add(plan_entry_items, plan_entry_id=entry_id, item_id=item_id)
                if rng.random() < 0.05:
                    continue  # planned, never visited: missed
            self._visit(month, start, seconds, enterprise_id, agency_id, entry_id)
        # Unregistered-visit reports: about one in a hundred visits.
        for _ in range(max(1, shape.visits_per_month // 100)):
            enterprise_id, agency_id = rng.choice(self.enterprises)
            at = start + timedelta(seconds=rng.randrange(0, seconds))
            report_id = ids("report")
            add(
                UnregisteredReport,
                id=report_id,
                enterprise_id=enterprise_id,
                reported_by_id=manager,
                occurred_at=at,
                who="Two people, no pass",
                what_they_said="Routine check",
                created_at=at,
            )
            self.audit(at, manager, "report.created", "unregistered_report", report_id)
            self._flag(
                FlagKind.unregistered_report,
                f"report:{report_id}",
                agency_id,
                at,
                enterprise_id=enterprise_id,
                report_id=report_id,
            )
        del registrar, supervisor

    def _visit(
        self,
        month: str,
        start: datetime,
        seconds: int,
        enterprise_id: int,
        agency_id: int,
        entry_id: int | None,
    ) -> None:
        add, ids, rng = self.add, self.ids, self.rng
        registrar = self.users[Role.inspector.value]
        manager = self.users[Role.manager.value]
        supervisor = self.users[Role.supervisor.value]
        planned = entry_id is not None
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
        short_notice = rng.random() < 0.02
        registered_at = window_start - (
            timedelta(hours=2) if short_notice else timedelta(days=1 + rng.randrange(0, 5))
        )
        visit_id = ids("visit")
        confirmed_at = (
            window_start + timedelta(minutes=20) if status == VisitStatus.confirmed else None
        )
        cancelled_at = (
            window_start - timedelta(hours=1) if status == VisitStatus.cancelled else None
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
            registered_at=registered_at,
            registered_by_id=registrar,
            pass_secret=b"\0" * 32,
            code_prefix=f"{visit_id:08x}",
            confirmed_at=confirmed_at,
            confirmed_by_id=manager if confirmed_at else None,
            cancelled_at=cancelled_at,
            cancel_reason="Postponed" if cancelled_at else "",
            recheck_of_visit_id=None,
        )
        self.audit(
            registered_at,
            registrar,
            "visit.registered",
            "visit",
            visit_id,
            visit_id=visit_id,
            data={"enterprise_id": enterprise_id, "plan_entry_id": entry_id},
        )
        team = rng.sample(self.inspectors[agency_id], 2)
        joint_agency: int | None = rng.choice(self.agency_ids) if rng.random() < 0.05 else None
        if joint_agency == agency_id:
            joint_agency = None
        if joint_agency is not None:
            team.append(rng.choice(self.inspectors[joint_agency]))
        for position, inspector_id in enumerate(team):
            add(
                VisitInspector,
                visit_id=visit_id,
                inspector_id=inspector_id,
                position=position,
                added_at=None,
            )
        checked = rng.sample(self.items, 3)
        for i, item_id in enumerate(checked):
            covering = joint_agency if joint_agency is not None and i == 2 else None
            add(visit_items, visit_id=visit_id, item_id=item_id, agency_id=covering)
        if approval in (Approval.approved, Approval.rejected):
            decided_at = registered_at + timedelta(minutes=30)
            add(
                VisitDecision,
                id=ids("decision"),
                visit_id=visit_id,
                decision=approval,
                note="",
                decided_by_id=supervisor,
                decided_at=decided_at,
            )
            self.audit(
                decided_at,
                supervisor,
                "visit.approved",
                "visit",
                visit_id,
                visit_id=visit_id,
                data={"decision": approval.value},
            )
        if approval in (Approval.pending, Approval.rejected):
            self._flag(
                FlagKind.extra_unapproved,
                f"visit:{visit_id}:unapproved",
                agency_id,
                registered_at,
                enterprise_id=enterprise_id,
                visit_id=visit_id,
            )
        if short_notice:
            self._flag(
                FlagKind.short_notice,
                f"visit:{visit_id}:short",
                agency_id,
                registered_at,
                enterprise_id=enterprise_id,
                visit_id=visit_id,
            )
        if rng.random() < 0.03:  # a refused scan before (or instead of) the confirmation
            scan_id = ids("scan")
            at = window_start + timedelta(minutes=5)
            add(
                Scan,
                id=scan_id,
                visit_id=visit_id,
                enterprise_id=enterprise_id,
                user_id=manager,
                scanned_at=at,
                device_time=None,
                outcome=ScanOutcome.refused,
                reason_code="pass_expired",
                presented_as="url",
                presented_digest=f"{scan_id:064x}",
            )
            self.audit(
                at,
                manager,
                "scan.refused",
                "scan",
                scan_id,
                visit_id=visit_id,
                data={"reason": "pass_expired"},
            )
            self._flag(
                FlagKind.refused_scan,
                f"scan:{scan_id}",
                agency_id,
                at,
                enterprise_id=enterprise_id,
                visit_id=visit_id,
                scan_id=scan_id,
            )
        if cancelled_at is not None:
            self.audit(
                cancelled_at, registrar, "visit.cancelled", "visit", visit_id, visit_id=visit_id
            )
        if status == VisitStatus.registered:
            self._flag(
                FlagKind.window_passed_unconfirmed,
                f"visit:{visit_id}",
                agency_id,
                window_start + timedelta(hours=4),
                enterprise_id=enterprise_id,
                visit_id=visit_id,
            )
        if confirmed_at is None:
            return
        scan_id = ids("scan")
        add(
            Scan,
            id=scan_id,
            visit_id=visit_id,
            enterprise_id=enterprise_id,
            user_id=manager,
            scanned_at=confirmed_at,
            device_time=None,
            outcome=ScanOutcome.confirmed,
            reason_code=None,
            presented_as="url",
            presented_digest=f"{scan_id:064x}",
        )
        self.audit(confirmed_at, manager, "visit.confirmed", "visit", visit_id, visit_id=visit_id)
        self._inspection(visit_id, checked, confirmed_at, registrar)

    def _flag(self, kind: FlagKind, key: str, agency_id: int, at: datetime, **refs: Any) -> None:
        values = {"enterprise_id": None, "visit_id": None, "scan_id": None, "report_id": None}
        values.update(refs)
        flag_id = self.ids("flag")
        self.add(
            Flag,
            id=flag_id,
            kind=kind,
            severity=Severity.warning,
            dedupe_key=key,
            agency_id=agency_id,
            detail="{}",
            raised_at=at,
            plan_entry_id=None,
            **values,
        )
        visit_id = values["visit_id"]
        self.audit(
            at, None, "flag.raised", "flag", flag_id, visit_id=visit_id, data={"kind": kind.value}
        )
        if at < self.resolve_before and self.rng.random() < 0.6:
            resolved_at = at + timedelta(days=2)
            supervisor = self.users[Role.supervisor.value]
            add_id = self.ids("resolution")
            self.add(
                FlagResolution,
                id=add_id,
                flag_id=flag_id,
                note="Checked with the team",
                resolved_by_id=supervisor,
                resolved_at=resolved_at,
            )
            self.audit(resolved_at, supervisor, "flag.resolved", "flag", flag_id, visit_id=visit_id)

    def _inspection(self, visit_id: int, checked: list[int], at: datetime, by: int) -> None:
        add, ids, rng = self.add, self.ids, self.rng
        versions = 2 if rng.random() < 0.05 else 1
        case = rng.random() < 0.08
        for version in range(1, versions + 1):
            inspection_id = ids("inspection")
            recorded_at = at + timedelta(hours=version)
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
                recorded_at=recorded_at,
                recorded_by_id=by,
            )
            self.audit(
                recorded_at,
                by,
                "inspection.recorded",
                "inspection",
                inspection_id,
                visit_id=visit_id,
                data={"version": version},
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


# --- the marker: which data set a database holds -----------------------------------------------


def _write_marker(session: Session, shape: Shape, counts: dict[str, int], now: datetime) -> None:
    session.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (shape VARCHAR(40), seed INTEGER, "
            "version INTEGER, info TEXT)"
        )
    )
    session.execute(text(f"DELETE FROM {MARKER_TABLE}"))  # noqa: S608 (a constant)
    info = json.dumps({"counts": counts, "generated_at": now.isoformat()}, sort_keys=True)
    session.execute(
        text(f"INSERT INTO {MARKER_TABLE} VALUES (:shape, :seed, :version, :info)"),  # noqa: S608
        {"shape": shape.name, "seed": shape.seed, "version": VERSION, "info": info},
    )


def marker(session: Session) -> dict[str, Any] | None:
    """The data set this database holds (shape, seed, version, counts), None if none."""
    dialect = session.get_bind().dialect
    if not dialect.has_table(session.connection(), MARKER_TABLE):
        return None
    query = f"SELECT shape, seed, version, info FROM {MARKER_TABLE}"  # noqa: S608 (a constant)
    row = session.execute(text(query)).first()
    if row is None:
        return None
    return {"shape": row[0], "seed": row[1], "version": row[2], **json.loads(row[3])}


def holds(session: Session, shape: Shape) -> bool:
    """Whether this database already holds `shape` (same seed, same generator version)."""
    found = marker(session)
    return (
        found is not None
        and found["shape"] == shape.name
        and found["seed"] == shape.seed
        and found["version"] == VERSION
    )


def digest(session: Session) -> str:
    """A short fingerprint of the generated rows' ids (tests: same seed, same data)."""
    rows = session.execute(text("SELECT id, enterprise_id, window_start FROM visits ORDER BY id"))
    return hashlib.sha256(repr([tuple(map(str, r)) for r in rows]).encode()).hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.datagen", description=__doc__)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="city")
    parser.add_argument("--database-url", required=True, help="a migrated, empty database")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)

    from webapp.db import make_engine, make_sessionmaker

    shape = SHAPES[args.shape]
    if args.seed is not None:
        shape = Shape(**{**vars(shape), "seed": args.seed})
    end = month_bounds(shape.months[-1])[1]
    now = end + timedelta(days=3)
    engine = make_engine(args.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            if session.scalar(text("SELECT count(*) FROM agencies")):
                print("the database is not empty: give a migrated, empty one", file=sys.stderr)
                return 2
            print(f"generating {shape.name} (seed {shape.seed}) ...", flush=True)
            done = generate(session, shape, now=now, progress=lambda line: print(line, flush=True))
    finally:
        engine.dispose()
    print(
        f"done: {done.rows:,} rows in {done.seconds:.0f} s ({done.rows / done.seconds:,.0f} "
        f"rows/s): {done.counts.get('enterprises', 0):,} enterprises, "
        f"{done.counts.get('visits', 0):,} visits, {done.counts.get('flags', 0):,} flags, "
        f"{done.counts.get('audit_events', 0):,} audit events"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
