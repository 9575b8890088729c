"""Plan coverage and the monthly report (月通报): figures per unit, each drilling down to the
records it counts.

Units. A report is about one agency (the *root*: a supervisor's own agency by default, or
one chosen below it) and lists the root itself (its own work only, 本级) and each agency
directly below it with everything below that (a county's report: the county bureau and
each town office; a city's: the city bureau and each county with its towns). A supervisor
of a town sees only the town. An administrator with no agency chosen sees each top-level
agency as a unit.

Months are calendar months where the users are (Settings.timezone). A visit belongs to the
month in which its window starts; a flag to the month in which it was raised.

The monthly report's figures, per unit:

- inspections: confirmed visits in which the unit took part: it registered the visit, had
  an inspector on the team, or covered one of the visit's items (`visit_items.agency_id`).
  A joint visit counts once for each unit that took part, and once in the total (so the
  total can be less than the sum of the rows).
- enterprises covered: distinct enterprises of those inspections.
- hazards, major hazards: item findings of the newest version of each inspection record;
  a finding counts for the agency that covered its item (the visit's agency unless
  `visit_items` names another), so a joint visit's hazards are never counted twice.
- rectified on time: of those hazards (major ones included), the ones with a `rectified`
  re-check verdict recorded on or before their deadline's local day (any time when no
  deadline was set); the share is over all the month's hazards.
- cases opened, fines: from the newest inspection record of the visits the unit registered.
  Case rate = cases / inspections.
- extra-visit share: extra visits (no plan entry) among the unit's inspections.
- unconfirmed visits: visits the unit registered whose window (plus the stated tolerance)
  passed with no confirmation and that were not cancelled.
- unregistered reports, refused scans: flags of those kinds raised for the unit's agencies.

Every figure is computed by one SQL statement (GROUP BY and CASE); the drill-down lists use
the same FROM and WHERE clauses, so a list shows exactly the records its figure counts.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Date,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    distinct,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union,
    union_all,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased, selectinload

from webapp.agencies.models import Agency, Inspector
from webapp.auth.models import User
from webapp.config import get_settings
from webapp.db import among, among_param, plain_reads
from webapp.enterprises.models import Enterprise
from webapp.enums import (
    Approval,
    FindingOutcome,
    FlagKind,
    RectificationOutcome,
    Role,
    VisitStatus,
)
from webapp.errors import FieldError, not_found
from webapp.findings.models import Inspection, ItemFinding, Rectification
from webapp.items.models import InspectionItem
from webapp.plans.models import PlanEntry
from webapp.supervision import summary
from webapp.supervision.models import (
    Flag,
    ReportChartCache,
    ReportMonthVersion,
    ReportVisitUnit,
)
from webapp.supervision.service import (
    current_month as service_current_month,
)
from webapp.supervision.service import (
    invalid,
    month_bounds,
    parse_month,
    supervised_agency_ids,
)
from webapp.visits.models import Visit, VisitInspector, visit_items
from webapp.web import N_, tz

HAZARDS = (FindingOutcome.hazard, FindingOutcome.major_hazard)
CHART_MONTHS = 12
RECORDS_LIMIT = 2000  # a drill-down list longer than this says so (the export has all rows)
TOTAL = 0  # the group key of the total row (agency ids start at 1)


class Scope(StrEnum):
    """Which agencies a drill-down row stands for."""

    own = "own"  # the agency itself only (the root's own row)
    tree = "tree"  # the agency and every agency below it
    all = "all"  # everything the reader supervises (the total row)


# --- units ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One row of a report: an agency, and the agencies whose work the row sums."""

    agency_id: int
    code: str
    name: str
    scope: Scope
    agency_ids: frozenset[int]


@dataclass(frozen=True)
class AgencyRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Units:
    root: AgencyRef | None  # None: an administrator's report over every top-level agency
    units: list[Unit]

    @property
    def all_ids(self) -> frozenset[int]:
        return frozenset().union(*(u.agency_ids for u in self.units))


@dataclass(frozen=True)
class _Tree:
    agencies: dict[int, AgencyRef]
    parent: dict[int, int | None]
    children: dict[int | None, list[int]]

    def tops(self, ids: frozenset[int]) -> list[int]:
        """The agencies of `ids` whose parent is not in `ids` (the roots of the subtrees
        `ids` is made of), in id order."""
        return sorted(a for a in ids if self.parent.get(a) not in ids)

    def subtree(self, agency_id: int) -> frozenset[int]:
        found, todo = {agency_id}, [agency_id]
        while todo:
            for child in self.children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return frozenset(found)


def _tree(session: Session, scope: set[int] | None = None) -> _Tree:
    """The agencies as a tree: all of them, or those of `scope` (a supervisor's subtree,
    closed under "below": a city's dozen, not the province's thousand)."""
    agencies: dict[int, AgencyRef] = {}
    parent: dict[int, int | None] = {}
    children: dict[int | None, list[int]] = {}
    if scope is None:
        rows = session.execute(_AGENCIES)
    else:
        rows = session.execute(
            _agencies_among(session.get_bind().dialect.name), {"ids": sorted(scope)}
        )
    for aid, code, name, parent_id in rows:
        agencies[aid] = AgencyRef(aid, code, name)
        parent[aid] = parent_id
        children.setdefault(parent_id, []).append(aid)
    return _Tree(agencies, parent, children)


_AGENCIES = select(Agency.id, Agency.code, Agency.name, Agency.parent_id).order_by(Agency.code)


@functools.cache
def _agencies_among(dialect: str) -> Select[int, str, str, int | None]:
    """`_AGENCIES` of the agencies in the parameter `ids`, built once (see `_summary_sql`)."""
    return _AGENCIES.where(among_param(Agency.id, "ids", dialect))


def _scope_and_tree(session: Session, actor: User) -> tuple[frozenset[int], _Tree]:
    scope = supervised_agency_ids(session, actor=actor)
    tree = _tree(session, scope)
    return (frozenset(tree.agencies) if scope is None else frozenset(scope)), tree


def _root_ids(
    actor: User, tree: _Tree, visible: frozenset[int], agency_id: int | None
) -> list[int]:
    """The report's root (a list of several only for an administrator's all-agency view)."""
    if agency_id is not None:
        if agency_id not in visible:
            raise not_found("agency")
        return [agency_id]
    if actor.role == Role.supervisor and actor.agency_id is not None:
        return [actor.agency_id]
    return list(tree.children.get(None, []))


def report_units(session: Session, *, actor: User, agency_id: int | None = None) -> Units:
    """The rows of a report about `agency_id` (default: the supervisor's own agency)."""
    visible, tree = _scope_and_tree(session, actor)
    roots = _root_ids(actor, tree, visible, agency_id)
    if len(roots) != 1:
        units = [_tree_unit(tree, r) for r in roots]
        return Units(root=None, units=units)
    root = roots[0]
    units = [
        Unit(
            agency_id=root,
            code=tree.agencies[root].code,
            name=tree.agencies[root].name,
            scope=Scope.own,
            agency_ids=frozenset({root}),
        )
    ]
    units += [_tree_unit(tree, child) for child in tree.children.get(root, [])]
    return Units(root=tree.agencies[root], units=units)


def _tree_unit(tree: _Tree, agency_id: int) -> Unit:
    ref = tree.agencies[agency_id]
    return Unit(ref.id, ref.code, ref.name, Scope.tree, tree.subtree(agency_id))


@dataclass(frozen=True)
class RecordScope:
    """What a drill-down row stands for: its agencies, its unit (None: the total row), and
    the roots of the subtrees its agencies make up (the summary's rows of the total)."""

    ids: frozenset[int]
    unit: AgencyRef | None
    roots: list[int]


def record_agencies(
    session: Session, *, actor: User, unit_id: int | None, scope: Scope
) -> RecordScope:
    """The agencies a drill-down row stands for (within what the actor supervises)."""
    visible, tree = _scope_and_tree(session, actor)
    if scope == Scope.all or unit_id is None:
        return RecordScope(visible, None, tree.tops(visible))
    if unit_id not in visible:
        raise not_found("agency")
    ids = frozenset({unit_id}) if scope == Scope.own else tree.subtree(unit_id) & visible
    return RecordScope(ids, tree.agencies[unit_id], tree.tops(ids))


# --- SQL building blocks, shared by the figures and their drill-down lists ----------------------


def for_aggregates(session: Session) -> None:
    """PostgreSQL, for the rest of this transaction: no JIT, and index reads priced as what
    they are when the data is in memory. Measured on the province data set (1,000,000
    visits): JIT spent 11 s compiling the report's statement (1,100 agencies in its CASE)
    that then ran in 2 s; with random_page_cost 1.1 (the usual value for SSDs and cached
    data, instead of 4) the planner reads one month's inspections by index, not every
    inspection by a hash join: 0.7 s. Both are also the advice for the server's own
    configuration (README, running at province scale).

    And a plan for the values of each execution (`plan_cache_mode`): psycopg prepares a
    statement on the server after its 5th run on a connection, and PostgreSQL then may switch
    to a generic plan, made without the months, the window or the agency list; for the
    report's statements it read 2 to 10 times longer (province: the unconfirmed visits 15 ms
    -> 125-155 ms, the unit rows 20 -> 50-85 ms), so the page slowed down on a pooled
    connection after a few views (and the bench's floor, run after the page, was slower
    than the page)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_planner_settings())


PLANNER_SETTINGS = {
    "jit": "off",
    "random_page_cost": "1.1",
    "plan_cache_mode": "force_custom_plan",
}


def _planner_settings() -> Any:
    """PLANNER_SETTINGS for the rest of the transaction (as SET LOCAL), in one round trip."""
    calls = ", ".join(f"set_config('{k}', '{v}', true)" for k, v in PLANNER_SETTINGS.items())
    return text(f"SELECT {calls}")


# A group key from a record's agency column and its time column (a unit, or a month).
Expr = ColumnElement[Any] | InstrumentedAttribute[Any]
Key = Callable[[Expr, Expr], ColumnElement[Any]]


def _unit_key(units: Sequence[Unit]) -> Key:
    # One IN list per unit, not one WHEN per agency: a province's 1,100 agencies made a
    # CASE that every row walked branch by branch (PostgreSQL hashes an IN list of 9 or
    # more constants; SQLite builds a small index for it).
    def key(agency: Expr, _at: Expr) -> ColumnElement[Any]:
        return case(
            *[
                (
                    agency == u.agency_id
                    if len(u.agency_ids) == 1
                    else agency.in_(sorted(u.agency_ids)),
                    literal(u.agency_id),
                )
                for u in units
            ],
            else_=literal(-1),
        )

    return key


def _month_key(months: Sequence[str]) -> Key:
    return _month_case([month_bounds(m) for m in months])


def _month_case(bounds: Sequence[tuple[Any, Any]]) -> Key:
    """The index of the [start, end) pair that holds the time (-1: none): datetimes, or
    parameters of a statement built once (`_summary_sql`)."""

    def key(_agency: Expr, at: Expr) -> ColumnElement[Any]:
        return case(
            *[(and_(at >= s, at < e), literal(i)) for i, (s, e) in enumerate(bounds)],
            else_=literal(-1),
        )

    return key


def _in_window(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [Visit.window_start >= start, Visit.window_start < end]


def _confirmed_in(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [*_in_window(start, end), Visit.status == VisitStatus.confirmed]


def _participants(ids: Iterable[int], start: datetime, end: datetime) -> Any:
    """(visit_id, agency_id) of every agency that took part in a confirmed visit: the one
    that registered it, each team member's, each agency named as covering an item."""
    ids = sorted(ids)
    conf = _confirmed_in(start, end)
    own = select(Visit.id.label("visit_id"), Visit.agency_id.label("agency_id")).where(
        *conf, Visit.agency_id.in_(ids)
    )
    team = (
        select(VisitInspector.visit_id, Inspector.agency_id)
        .join(Inspector, Inspector.id == VisitInspector.inspector_id)
        .join(Visit, Visit.id == VisitInspector.visit_id)
        .where(*conf, Inspector.agency_id.in_(ids))
    )
    items = (
        select(visit_items.c.visit_id, visit_items.c.agency_id)
        .join(Visit, Visit.id == visit_items.c.visit_id)
        .where(*conf, visit_items.c.agency_id.in_(ids))
    )
    return union(own, team, items).cte("participants")


def _newest_record() -> ColumnElement[bool]:
    """The inspection record is its visit's newest version (earlier versions stay as
    evidence of what was corrected); uses the (visit_id, version) unique index."""
    later = aliased(Inspection)
    return ~exists().where(
        later.visit_id == Inspection.visit_id, later.version > Inspection.version
    )


def _record_join() -> ColumnElement[bool]:
    return and_(Inspection.visit_id == Visit.id, _newest_record())


def _covering_agency() -> ColumnElement[int]:
    """The agency a finding counts for: the one covering its item, else the visit's. A
    lookup by the primary key of `visit_items` per finding (an outer join let PostgreSQL
    hash the whole table, every visit ever, for one month's findings)."""
    covering = (
        select(visit_items.c.agency_id)
        .where(visit_items.c.visit_id == Visit.id, visit_items.c.item_id == ItemFinding.item_id)
        .correlate(Visit, ItemFinding)
        .scalar_subquery()
    )
    return func.coalesce(covering, Visit.agency_id)


def _local_date(session: Session, at: Expr, month_start: datetime) -> Any:
    """The local calendar day of a stored UTC time, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(get_settings().timezone, at), Date)
    offset = tz().utcoffset(month_start.replace(tzinfo=None)) or timedelta(0)
    return func.date(at, f"{int(offset.total_seconds() // 60):+d} minutes")


def _on_time(session: Session, month_start: datetime) -> ColumnElement[bool]:
    """A `rectified` verdict recorded by the end of the deadline day, for the hazard of the
    outer query. A hazard is one item of one visit: a verdict recorded against an earlier
    version of the visit's findings (before a correction) still counts."""
    verdict_finding = aliased(ItemFinding)
    verdict_inspection = aliased(Inspection)
    return (
        exists()
        .where(
            Rectification.item_finding_id == verdict_finding.id,
            verdict_finding.inspection_id == verdict_inspection.id,
            verdict_inspection.visit_id == Inspection.visit_id,
            # `+ 0`: not by the item's index. SQLite (no statistics) otherwise went through
            # every finding of the item, ever, instead of the visit's few findings.
            verdict_finding.item_id + 0 == ItemFinding.item_id,
            Rectification.outcome == RectificationOutcome.rectified,
            or_(
                ItemFinding.rectify_by.is_(None),
                _local_date(session, Rectification.recorded_at, month_start)
                <= ItemFinding.rectify_by,
            ),
        )
        .correlate(Inspection, ItemFinding)
    )


@dataclass(frozen=True)
class _Period:
    ids: frozenset[int]
    start: datetime
    end: datetime
    now: datetime
    tolerance: timedelta

    @property
    def sorted_ids(self) -> list[int]:
        return sorted(self.ids)


def _findings_query(session: Session, p: _Period, *columns: Any) -> Select[Any]:
    """Item findings of the current inspection records, with the covering agency in `p`."""
    return (
        select(*columns)
        .select_from(Visit)
        .join(Inspection, _record_join())
        .join(ItemFinding, ItemFinding.inspection_id == Inspection.id)
        .where(*_confirmed_in(p.start, p.end), _covering_agency().in_(p.sorted_ids))
    )


def _unconfirmed(now: datetime, tolerance: timedelta) -> ColumnElement[bool]:
    """Registered (neither confirmed nor cancelled), its window and the tolerance passed:
    the sweep's rule `window_passed_unconfirmed`, in SQL."""
    return _unconfirmed_before(now - tolerance)


def _unconfirmed_before(cutoff: Any) -> ColumnElement[bool]:
    """`_unconfirmed` with `now - tolerance` given (a time, or a parameter)."""
    return and_(Visit.status == VisitStatus.registered, Visit.window_end < cutoff)


FLAG_COLUMNS = {
    "refused_scans": FlagKind.refused_scan,
    "unregistered_reports": FlagKind.unregistered_report,
}

# The figures in the order the statement returns them (after the group key).
FIGURES = (
    "inspections",
    "enterprises",
    "extra",
    "unconfirmed",
    "cases",
    "fines_fen",
    "hazards",
    "major_hazards",
    "rectified_on_time",
    "refused_scans",
    "unregistered_reports",
)


def _part(key: ColumnElement[Any], **values: Any) -> list[Any]:
    """One branch of the UNION ALL: the key, then every figure (NULL where not given)."""
    return [key.label("k")] + [
        (values[name] if name in values else cast(null(), Integer)).label(name) for name in FIGURES
    ]


# Up to this many agencies in a report's scope, its findings are read through the visits the
# scope took part in (see figures_statement).
NARROW_SCOPE = 100


def figures_statement(
    session: Session, p: _Period, key: Key, *, total: bool, chart: bool = False
) -> Select[Any]:
    """One GROUP BY statement returning every figure per key (a unit, or a month); with
    `total`, also a row keyed TOTAL with the distinct counts of the whole period. For the
    `chart`, only what it draws (no rectification, no flags: they stay 0)."""
    one, zero = literal(1), literal(0)
    people = _participants(p.ids, p.start, p.end)
    # The window again on each join back to visits (the participants are in it already):
    # lets the planner read the period's visits by the index, not every visit.
    window = _in_window(p.start, p.end)
    visit_keys = (
        select(people.c.visit_id, key(people.c.agency_id, Visit.window_start).label("k"))
        .join(Visit, Visit.id == people.c.visit_id)
        .where(*window)
        .distinct()
        .subquery("visit_keys")
    )
    extra = case((Visit.plan_entry_id.is_(None), one), else_=zero)
    branches: list[Select[Any]] = [
        select(
            *_part(
                visit_keys.c.k,
                inspections=func.count(),
                enterprises=func.count(distinct(Visit.enterprise_id)),
                extra=func.sum(extra),
            )
        )
        .join(Visit, Visit.id == visit_keys.c.visit_id)
        .where(*window)
        .group_by(visit_keys.c.k)
    ]
    if total:
        branches.append(
            select(
                *_part(
                    literal(TOTAL),
                    inspections=func.count(distinct(people.c.visit_id)),
                    enterprises=func.count(distinct(Visit.enterprise_id)),
                    extra=func.count(
                        distinct(case((Visit.plan_entry_id.is_(None), people.c.visit_id)))
                    ),
                )
            )
            .join(Visit, Visit.id == people.c.visit_id)
            .where(*window)
        )
    own_key = key(Visit.agency_id, Visit.window_start)
    branches.append(
        select(
            *_part(
                own_key,
                unconfirmed=func.sum(case((_unconfirmed(p.now, p.tolerance), one), else_=zero)),
                cases=func.sum(case((Inspection.case_opened, one), else_=zero)),
                fines_fen=func.sum(func.coalesce(Inspection.fine_fen, 0)),
            )
        )
        .select_from(Visit)
        .outerjoin(Inspection, _record_join())
        .where(*_in_window(p.start, p.end), Visit.agency_id.in_(p.sorted_ids))
        .group_by(own_key)
    )
    # The findings as a derived table first: the covering agency is looked up once per
    # finding, and the unit key applied to the result (not to the lookup, once per unit).
    is_hazard = ItemFinding.outcome.in_(HAZARDS)
    finding_columns = [
        _covering_agency().label("agency"),
        Visit.window_start.label("at"),
        case((is_hazard, one), else_=zero).label("hazard"),
        case((ItemFinding.outcome == FindingOutcome.major_hazard, one), else_=zero).label("major"),
    ]
    if not chart:
        finding_columns.append(
            case((and_(is_hazard, _on_time(session, p.start)), one), else_=zero).label("on_time")
        )
    findings = _findings_query(session, p, *finding_columns)
    if len(p.ids) <= NARROW_SCOPE:
        # Only visits someone in scope took part in (what the covering agency implies
        # anyway): lets the planner start from a city's few visits, not from every
        # inspection (PostgreSQL, province data: a city's month 1.6 s -> 0.16 s). For a
        # whole province the extra filter costs more than it saves (0.8 s -> 2.5 s).
        findings = findings.where(Visit.id.in_(select(people.c.visit_id)))
    found = findings.cte("found").prefix_with("MATERIALIZED")
    finding_key = key(found.c.agency, found.c.at)
    branches.append(
        select(
            *_part(
                finding_key,
                hazards=func.sum(found.c.hazard),
                major_hazards=func.sum(found.c.major),
                **({} if chart else {"rectified_on_time": func.sum(found.c.on_time)}),
            )
        ).group_by(finding_key)
    )
    if chart:
        return _sum_by_key(branches)
    flag_key = key(Flag.agency_id, Flag.raised_at)
    branches.append(
        select(
            *_part(
                flag_key,
                **{
                    name: func.sum(case((Flag.kind == kind, one), else_=zero))
                    for name, kind in FLAG_COLUMNS.items()
                },
            )
        )
        .where(
            Flag.kind.in_(list(FLAG_COLUMNS.values())),
            Flag.raised_at >= p.start,
            Flag.raised_at < p.end,
            Flag.agency_id.in_(p.sorted_ids),
        )
        .group_by(flag_key)
    )
    return _sum_by_key(branches)


def _sum_by_key(branches: Sequence[Select[Any]]) -> Select[Any]:
    every = union_all(*branches).subquery("figures")
    return select(every.c.k, *[func.sum(every.c[name]).label(name) for name in FIGURES]).group_by(
        every.c.k
    )


# --- the monthly report -------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    inspections: int = 0
    enterprises: int = 0
    extra: int = 0
    unconfirmed: int = 0
    cases: int = 0
    fines_fen: int = 0
    hazards: int = 0
    major_hazards: int = 0
    rectified_on_time: int = 0
    refused_scans: int = 0
    unregistered_reports: int = 0

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def rectified_share(self) -> float | None:
        return self._share(self.rectified_on_time, self.hazards)

    @property
    def case_rate(self) -> float | None:
        return self._share(self.cases, self.inspections)

    @property
    def extra_share(self) -> float | None:
        return self._share(self.extra, self.inspections)

    @property
    def fines_yuan(self) -> float:
        return self.fines_fen / 100

    def value(self, column: str) -> float | int | None:
        if column == "fines":
            return self.fines_fen
        value: float | int | None = getattr(self, column)
        return value

    def plus(self, other: Figures) -> Figures:
        return Figures(**{n: getattr(self, n) + getattr(other, n) for n in FIGURES})


def _figures(row: Any) -> Figures:
    return Figures(**{name: int(getattr(row, name) or 0) for name in FIGURES})


@dataclass(frozen=True)
class Column:
    """A column of the report: its key (also the sort key), its heading (msgid), how its
    value is shown, the drill-down list behind it, and (for a share) the count the page
    shows beside it instead of a column of its own (the exports keep both columns)."""

    key: str
    label: str
    kind: str  # count, share, money
    records: str
    with_count: str | None = None


COLUMNS = (
    Column("inspections", N_("Inspections made"), "count", "inspections"),
    Column("enterprises", N_("Enterprises covered"), "count", "enterprises"),
    Column("hazards", N_("Hazards"), "count", "hazards"),
    Column("major_hazards", N_("Major hazards"), "count", "major_hazards"),
    Column("rectified_on_time", N_("Rectified on time"), "count", "rectified_on_time"),
    Column(
        "rectified_share",
        N_("Rectified on time (share)"),
        "share",
        "rectified_on_time",
        with_count="rectified_on_time",
    ),
    Column("cases", N_("Cases opened"), "count", "cases"),
    Column("case_rate", N_("Case rate"), "share", "cases"),
    Column("fines", N_("Fines (yuan)"), "money", "fines"),
    Column("extra", N_("Extra visits"), "count", "extra"),
    Column("extra_share", N_("Extra-visit share"), "share", "extra", with_count="extra"),
    Column("unconfirmed", N_("Unconfirmed visits"), "count", "unconfirmed"),
    Column("unregistered_reports", N_("Unregistered reports"), "count", "unregistered_reports"),
    Column("refused_scans", N_("Refused scans"), "count", "refused_scans"),
)
COLUMN_KEYS = {c.key for c in COLUMNS} | {"unit"}
# The page shows a share with its count beside it, so the count has no column of its own.
PAGE_COLUMNS = tuple(c for c in COLUMNS if c.key not in {c.with_count for c in COLUMNS})
DEFAULT_SORT = "inspections"


@dataclass(frozen=True)
class ReportRow:
    rank: int
    unit: Unit
    figures: Figures


@dataclass(frozen=True)
class MonthPoint:
    month: str
    figures: Figures


@dataclass(frozen=True)
class MonthlyReport:
    month: str
    root: AgencyRef | None
    rows: list[ReportRow]
    total: Figures
    series: list[MonthPoint]  # the last 12 months up to `month`, oldest first
    sort: str
    descending: bool
    closed: bool  # the month is over
    columns: tuple[Column, ...] = field(default=COLUMNS)
    page_columns: tuple[Column, ...] = field(default=PAGE_COLUMNS)

    @property
    def prev_month(self) -> str:
        return shift_month(self.month, -1)

    @property
    def next_month(self) -> str:
        return shift_month(self.month, 1)

    @property
    def sort_label(self) -> str:
        """The heading (msgid) of the column the rows are ranked by."""
        return next((c.label for c in self.columns if c.key == self.sort), N_("Unit"))


def shift_month(month: str, by: int) -> str:
    year, mon = (int(x) for x in month.split("-"))
    index = year * 12 + mon - 1 + by
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _period(ids: Iterable[int], start: datetime, end: datetime, now: datetime) -> _Period:
    return _Period(
        frozenset(ids),
        start,
        end,
        now,
        timedelta(minutes=get_settings().window_tolerance_minutes),
    )


def check_sort(sort: str | None) -> str:
    if not sort:
        return DEFAULT_SORT
    if sort not in COLUMN_KEYS:
        raise invalid(
            FieldError(
                "sort",
                "Unknown value '%(value)s' for the filter '%(filter)s': choose one from the list.",
                value=sort[:40],
                filter="sort",
            )
        )
    return sort


def rank_rows(
    units: Sequence[tuple[Unit, Figures]], sort: str, descending: bool
) -> list[ReportRow]:
    """Rows in the chosen order with their rank; equal values share a rank (1, 2, 2, 4).
    A share with nothing to divide (no inspections) comes last, unranked, either way."""
    if sort == "unit":
        ordered = sorted(units, key=lambda uf: uf[0].code, reverse=descending)
        return [ReportRow(i, u, f) for i, (u, f) in enumerate(ordered, start=1)]
    scored = [(float(v), u, f) for u, f in units if (v := f.value(sort)) is not None]
    unscored = [(u, f) for u, f in units if f.value(sort) is None]
    scored.sort(key=lambda s: s[1].code)
    scored.sort(key=lambda s: s[0], reverse=descending)  # stable: ties stay by code
    rows: list[ReportRow] = []
    rank, previous = 0, None
    for position, (value, unit, figures) in enumerate(scored, start=1):
        if value != previous:
            rank, previous = position, value
        rows.append(ReportRow(rank, unit, figures))
    rows += [ReportRow(0, u, f) for u, f in sorted(unscored, key=lambda uf: uf[0].code)]
    return rows


def unit_statement(
    session: Session, *, units: Units, start: datetime, end: datetime, now: datetime
) -> Select[Any]:
    """The one GROUP BY statement behind a report's rows (any period: a month, a year)."""
    period = _period(units.all_ids, start, end, now)
    return figures_statement(session, period, _unit_key(units.units), total=True)


def unit_figures(
    session: Session, *, units: Units, start: datetime, end: datetime, now: datetime
) -> tuple[list[tuple[Unit, Figures]], Figures]:
    """Each unit's figures over [start, end), and the total (a joint visit once)."""
    statement = unit_statement(session, units=units, start=start, end=end, now=now)
    for_aggregates(session)
    by_key = {row.k: _figures(row) for row in session.execute(statement)}
    per_unit = [(u, by_key.get(u.agency_id, Figures())) for u in units.units]
    summed = Figures()
    for _unit, figures in per_unit:
        summed = summed.plus(figures)
    distinct_total = by_key.get(TOTAL, Figures())
    # Joint visits count once in the total: the distinct counts replace the sums.
    total = replace(
        summed,
        inspections=distinct_total.inspections,
        enterprises=distinct_total.enterprises,
        extra=distinct_total.extra,
    )
    return per_unit, total


def monthly_report(
    session: Session,
    *,
    actor: User,
    month: str | None,
    now: datetime,
    agency_id: int | None = None,
    sort: str | None = None,
    descending: bool = True,
) -> MonthlyReport:
    """The monthly report (月通报) of `agency_id` (default: the supervisor's agency) for
    `month`: a ranked row per unit, the total, and the last 12 months' series."""
    month = parse_month(month, now=now)
    sort = check_sort(sort)
    units = report_units(session, actor=actor, agency_id=agency_id)
    _start, end = month_bounds(month)
    per_unit, total, series = summary_report(session, units=units, month=month, now=now)
    return MonthlyReport(
        month=month,
        root=units.root,
        rows=rank_rows(per_unit, sort, descending),
        total=total,
        series=series,
        sort=sort,
        descending=descending,
        closed=now >= end,
    )


def month_series(
    session: Session, *, ids: Iterable[int], month: str, now: datetime
) -> list[MonthPoint]:
    """The figures of the `CHART_MONTHS` months up to `month` (distinct visits: a joint
    visit once), in one statement."""
    months = [shift_month(month, i - CHART_MONTHS + 1) for i in range(CHART_MONTHS)]
    start, _ = month_bounds(months[0])
    _, end = month_bounds(months[-1])
    period = _period(ids, start, end, now)
    for_aggregates(session)
    by_key = {
        row.k: _figures(row)
        for row in session.execute(
            figures_statement(session, period, _month_key(months), total=False, chart=True)
        )
    }
    return [MonthPoint(m, by_key.get(i, Figures())) for i, m in enumerate(months)]


# --- the same figures from the summary tables (webapp/supervision/summary.py) ----------------
# What the report, its chart and exports read. The statements above stay as the reference
# implementation: tests compare the two, `python -m webapp reports check` the tables.
# Unconfirmed visits (they depend on `now`) and flags are read directly: one index range each.

SUMMED = ("cases", "fines_fen", "hazards", "major_hazards", "rectified_on_time")


def _roots(units: Units) -> list[int]:
    """The agencies whose subtrees make up the report (the total row's scope)."""
    return [units.root.id] if units.root is not None else [u.agency_id for u in units.units]


def _summary_columns(*, distinct_visits: bool) -> list[Any]:
    r = ReportVisitUnit
    counted = r.inspection > 0
    if distinct_visits:  # several roots: a joint visit across them once
        visits = [
            func.count(distinct(case((counted, r.visit_id)))).label("inspections"),
            func.count(distinct(case((r.extra > 0, r.visit_id)))).label("extra"),
        ]
    else:
        visits = [
            func.sum(r.inspection).label("inspections"),
            func.sum(r.extra).label("extra"),
        ]
    return [
        *visits,
        func.count(distinct(case((counted, r.enterprise_id)))).label("enterprises"),
        *[func.sum(r.__table__.c[n]).label(n) for n in SUMMED],
    ]


def _summary_figures(row: Any, columns: Iterable[str]) -> dict[str, int]:
    return {name: int(getattr(row, name) or 0) for name in columns}


SUMMARY_NAMES = ("inspections", "extra", "enterprises", *SUMMED)


def summary_statements(
    session: Session, *, units: Units, month: str, now: datetime
) -> tuple[dict[str, Select[Any]], dict[str, Any]]:
    """The statements behind a month's rows besides the chart's figures (which also give the
    total: `summary_report`), and their parameters: each unit's figures; the unconfirmed
    visits of the chart's 12 months, by agency in `month` itself (one index range for the
    rows and the chart); the flags of `month`. (The bench's floor replays what the page runs.)"""
    months = chart_months(month)
    first, _ = month_bounds(months[0])
    start, end = month_bounds(month)
    params: dict[str, Any] = {
        "month": month,
        "trees": sorted(u.agency_id for u in units.units if u.scope == Scope.tree),
        "owns": sorted(u.agency_id for u in units.units if u.scope == Scope.own),
        "ids": sorted(units.all_ids),
        "first": first,
        "start": start,
        "end": end,
        "cutoff": now - _period(units.all_ids, start, end, now).tolerance,
    }
    for i, m in enumerate(months):
        params[f"from_{i}"], params[f"to_{i}"] = month_bounds(m)
    return _summary_sql(session.get_bind().dialect.name), params


@functools.cache
def _summary_sql(dialect: str) -> dict[str, Select[Any]]:
    """`summary_statements`, built once per dialect, the values as parameters: building them
    anew on every view, with their cache keys, took ~3 ms of Python (measured under load) on
    a city's ~6 ms of SQL (README, running at province scale)."""
    r = ReportVisitUnit
    in_units = or_(
        and_(r.tree == true(), r.agency_id.in_(bindparam("trees", expanding=True))),
        and_(r.tree == false(), r.agency_id.in_(bindparam("owns", expanding=True))),
    )
    bounds: list[tuple[Any, Any]] = [
        (bindparam(f"from_{i}"), bindparam(f"to_{i}")) for i in range(CHART_MONTHS)
    ]
    month_key = _month_case(bounds)(Visit.agency_id, Visit.window_start)
    # The agency only within `month` (the rows need it), else NULL: 12 groups for the chart.
    agency_key = case((Visit.window_start >= bindparam("start"), Visit.agency_id), else_=null())
    return {
        "units": select(r.agency_id.label("k"), *_summary_columns(distinct_visits=False))
        .where(r.month == bindparam("month"), in_units)
        .group_by(r.agency_id),
        "unconfirmed": select(
            month_key.label("k"), agency_key.label("agency_id"), func.count().label("n")
        )
        .where(
            Visit.window_start >= bindparam("first"),
            Visit.window_start < bindparam("end"),
            _unconfirmed_before(bindparam("cutoff")),
            among_param(Visit.agency_id, "ids", dialect),
        )
        .group_by(month_key, agency_key),
        "flags": select(Flag.agency_id, Flag.kind, func.count().label("n"))
        .where(
            Flag.kind.in_(list(FLAG_COLUMNS.values())),
            Flag.raised_at >= bindparam("start"),
            Flag.raised_at < bindparam("end"),
            among_param(Flag.agency_id, "ids", dialect),
        )
        .group_by(Flag.agency_id, Flag.kind),
    }


# The total's figures that count a joint visit (or an enterprise) once: the chart's point of
# the month has them (the same rows and columns as a total statement would read).
DISTINCT_NAMES = ("inspections", "extra", "enterprises")


def summary_report(
    session: Session, *, units: Units, month: str, now: datetime
) -> tuple[list[tuple[Unit, Figures]], Figures, list[MonthPoint]]:
    """Each unit's figures in `month`, the total (a joint visit once) and the 12-month chart,
    from the summary tables: the same figures as `unit_figures` over the month and
    `month_series`. Reads the month's unit rows once and the report's own rows of the
    chart's live months (the previous and this one; the months before come from the chart
    cache on PostgreSQL, see `_cached_chart`); the total's distinct counts are the chart's
    point of the month, and one statement counts the unconfirmed visits of the rows and of
    the chart."""
    summary.catch_up(session)  # the writes queued so far (ends a read transaction if it must)
    statements, params = summary_statements(session, units=units, month=month, now=now)
    for_aggregates(session)
    months = chart_months(month)
    chart = _chart_values(session, _roots(units), months, now)
    owner = {a: u.agency_id for u in units.units for a in u.agency_ids}
    values: dict[int, dict[str, int]] = {u.agency_id: {} for u in units.units}
    for row in session.execute(statements["units"], params):
        values[row.k].update(_summary_figures(row, SUMMARY_NAMES))
    unconfirmed = dict.fromkeys(months, 0)
    for k, agency, count in session.execute(statements["unconfirmed"], params).all():
        if not 0 <= k < len(months):
            continue
        unconfirmed[months[k]] += int(count)
        if agency is not None:
            unit = values[owner[agency]]
            unit["unconfirmed"] = unit.get("unconfirmed", 0) + int(count)
    names = {kind: name for name, kind in FLAG_COLUMNS.items()}
    for agency, kind, count in session.execute(statements["flags"], params).all():
        unit = values[owner[agency]]
        unit[names[kind]] = unit.get(names[kind], 0) + int(count)
    per_unit = [(u, Figures(**values[u.agency_id])) for u in units.units]
    summed = Figures()
    for _unit, figures in per_unit:
        summed = summed.plus(figures)
    total = replace(summed, **{n: chart[month].get(n, 0) for n in DISTINCT_NAMES})
    series = []
    for m in months:
        drawn = {n: v for n, v in chart[m].items() if n != "rectified_on_time"}  # not drawn
        series.append(MonthPoint(m, Figures(**drawn, unconfirmed=unconfirmed[m])))
    return per_unit, total, series


def summary_unit_figures(
    session: Session, *, units: Units, month: str, now: datetime
) -> tuple[list[tuple[Unit, Figures]], Figures]:
    """Each unit's figures in `month`, and the total (a joint visit once), from the summary
    tables: the same figures as `unit_figures` over the month."""
    per_unit, total, _series = summary_report(session, units=units, month=month, now=now)
    return per_unit, total


def _chart_figures(
    executor: Session | Connection, roots: Sequence[int], first: str, last: str
) -> Iterable[Any]:
    """The chart's figures per month from `first` to `last` (the report of `roots`)."""
    return executor.execute(
        _chart_sql(distinct_visits=len(roots) > 1),
        {"first": first, "last": last, "roots": list(roots)},
    )


@functools.cache
def _chart_sql(*, distinct_visits: bool) -> Select[Any]:
    """`_chart_figures`' statement, built once (see `_summary_sql`)."""
    r = ReportVisitUnit
    return (
        select(r.month, *_summary_columns(distinct_visits=distinct_visits))
        # A range, not an IN list: PostgreSQL then reads the 12 months by the primary key
        # (with IN it walked every month of the root and filtered: 0.8 s -> see README).
        .where(
            r.month >= bindparam("first"),
            r.month <= bindparam("last"),
            r.tree == true(),
            r.agency_id.in_(bindparam("roots", expanding=True)),
        )
        .group_by(r.month)
    )


def chart_months(month: str) -> list[str]:
    return [shift_month(month, i - CHART_MONTHS + 1) for i in range(CHART_MONTHS)]


def _chart_values(
    session: Session, roots: Sequence[int], months: Sequence[str], now: datetime
) -> dict[str, dict[str, int]]:
    """The summary figures of each month of the chart (the report of `roots`): the months
    before the previous one from the chart cache (PostgreSQL, see `_cached_chart`), the
    others read live, in one range."""
    values: dict[str, dict[str, int]] = {m: dict.fromkeys(SUMMARY_NAMES, 0) for m in months}
    cached = _cached_chart(session, roots, months, now)
    values.update(cached)
    live = [m for m in months if m not in cached]
    if live:
        for row in _chart_figures(session, roots, live[0], live[-1]):
            if row.month in values and row.month not in cached:
                values[row.month] = _summary_figures(row, SUMMARY_NAMES)
    return values


def summary_month_series(
    session: Session, *, units: Units, month: str, now: datetime
) -> list[MonthPoint]:
    """The chart's months from the summary tables: the same figures as `month_series`.
    Months before the previous one come from the chart cache (PostgreSQL, see
    `_cached_chart`); the others, and every month's unconfirmed visits, are read live."""
    return summary_report(session, units=units, month=month, now=now)[2]


CACHE_ON_SQLITE = False  # tests: exercise the chart cache on SQLite too (in the session)


def cacheable_before(now: datetime) -> str:
    """The chart caches months before this one: before the previous month of the earlier of
    `now` and the wall clock (whoever recomputes summary rows bumps every month before the
    wall clock's current one whose rows change, summary.refresh_visits: a clock minutes
    apart at a month's boundary stays safe)."""
    from webapp.supervision.summary import current_month

    return shift_month(min(current_month(), service_current_month(now)), -1)


def chart_scope(roots: Iterable[int], epoch: int) -> str:
    """A cache row's scope: the rebuild epoch and the report's roots (which also decide
    whether a joint visit counts once)."""
    ids = ",".join(str(i) for i in sorted(roots))
    return f"{epoch}:{hashlib.sha256(ids.encode()).hexdigest()[:40]}"


def _cached_chart(
    session: Session, roots: Sequence[int], months: Sequence[str], now: datetime
) -> dict[str, dict[str, int]]:
    """The chart figures of the cacheable months, from `report_chart_cache`, computing and
    storing the missing or outdated ones. Exact under concurrent writes: each month's
    version is read BEFORE its rows; whoever changes the rows (summary.refresh_visits, at a
    catch-up or a rebuild) bumps the version in the same transaction, so a row computed from
    older rows carries an older version and is ignored.
    PostgreSQL: in a short transaction of its own (committed data only, whatever the
    session holds; INSERT ... ON CONFLICT DO NOTHING: two readers may fill a month at once).
    SQLite (county size): no cache, unless CACHE_ON_SQLITE (tests; in the session)."""
    from webapp.supervision.summary import EPOCH

    limit = cacheable_before(now)
    cacheable = [m for m in months if m < limit]
    if not cacheable:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        bind: Any = session.get_bind()
        engine = bind.engine if isinstance(bind, Connection) else bind
        with engine.begin() as connection:
            return _cached_months(connection, roots, cacheable, EPOCH)
    if not CACHE_ON_SQLITE:
        return {}
    return _cached_months(session.connection(), roots, cacheable, EPOCH)


# `_cached_months`' reads, built once (see `_summary_sql`).
_VERSIONS = select(ReportMonthVersion.month, ReportMonthVersion.version).where(
    ReportMonthVersion.month.in_(bindparam("months", expanding=True))
)
_CACHED = select(ReportChartCache.__table__).where(
    ReportChartCache.month.in_(bindparam("months", expanding=True)),
    ReportChartCache.scope == bindparam("scope"),
)


def _cached_months(
    connection: Connection, roots: Sequence[int], months: Sequence[str], epoch_key: str
) -> dict[str, dict[str, int]]:
    c = ReportChartCache
    versions = {
        m: int(n) for m, n in connection.execute(_VERSIONS, {"months": [*months, epoch_key]})
    }
    scope = chart_scope(roots, versions.get(epoch_key, 0))
    found: dict[str, dict[str, int]] = {}
    for stored in connection.execute(_CACHED, {"months": list(months), "scope": scope}).mappings():
        if stored["version"] == versions.get(stored["month"], 0):
            found[stored["month"]] = {n: int(stored[n]) for n in SUMMARY_NAMES}
    missing = [m for m in months if m not in found]
    if not missing:
        return found
    if connection.dialect.name == "postgresql":
        # As for_aggregates (its own transaction), for the months' rows: not needed for the
        # reads by primary key above (a round trip less when every month is cached).
        connection.execute(_planner_settings())
    computed: dict[str, dict[str, int]] = {m: dict.fromkeys(SUMMARY_NAMES, 0) for m in missing}
    for row in _chart_figures(connection, roots, missing[0], missing[-1]):
        if row.month in computed:
            computed[row.month] = _summary_figures(row, SUMMARY_NAMES)
    rows = [
        {"month": m, "scope": scope, "version": versions.get(m, 0), **computed[m]} for m in missing
    ]
    # Rows of older versions of these months are of no use any more: drop them.
    for new in rows:
        connection.execute(
            delete(c).where(c.month == new["month"], c.scope == scope, c.version < new["version"])
        )
    from webapp.supervision.summary import dialect_insert

    connection.execute(
        dialect_insert(connection.dialect.name, c).values(rows).on_conflict_do_nothing()
    )
    found.update(computed)
    return found


# --- the report's drill-down lists --------------------------------------------------------------


class RecordKind(StrEnum):
    visits = "visits"
    enterprises = "enterprises"
    findings = "findings"
    flags = "flags"


RECORD_LISTS = {
    "inspections": RecordKind.visits,
    "extra": RecordKind.visits,
    "cases": RecordKind.visits,
    "fines": RecordKind.visits,
    "unconfirmed": RecordKind.visits,
    "enterprises": RecordKind.enterprises,
    "hazards": RecordKind.findings,
    "major_hazards": RecordKind.findings,
    "rectified_on_time": RecordKind.findings,
    "refused_scans": RecordKind.flags,
    "unregistered_reports": RecordKind.flags,
}
RECORD_TITLES = {
    "inspections": N_("Inspections (confirmed visits the unit took part in)"),
    "extra": N_("Extra visits among the inspections"),
    "cases": N_("Inspections with a case opened"),
    "fines": N_("Inspections with a fine"),
    "unconfirmed": N_("Visits whose window passed unconfirmed"),
    "enterprises": N_("Enterprises covered"),
    "hazards": N_("Hazards found"),
    "major_hazards": N_("Major hazards found"),
    "rectified_on_time": N_("Hazards rectified on time"),
    "refused_scans": N_("Refused scans"),
    "unregistered_reports": N_("Unregistered-visit reports"),
}


@dataclass(frozen=True)
class VisitRecord:
    visit: Visit
    case_opened: bool
    case_number: str
    fine_fen: int


@dataclass(frozen=True)
class EnterpriseRecord:
    enterprise: Enterprise
    visits: list[Visit]


@dataclass(frozen=True)
class FindingRecord:
    finding: ItemFinding
    visit: Visit
    item: InspectionItem
    agency_id: int
    rectified_at: datetime | None  # the first `rectified` verdict, if any


@dataclass(frozen=True)
class ReportRecords:
    month: str
    column: str
    kind: RecordKind
    unit: AgencyRef | None
    scope: Scope
    count: int
    truncated: bool
    visits: list[VisitRecord] = field(default_factory=list)
    enterprises: list[EnterpriseRecord] = field(default_factory=list)
    findings: list[FindingRecord] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)

    @property
    def title(self) -> str:
        return RECORD_TITLES[self.column]


def check_column(column: str) -> str:
    if column not in RECORD_LISTS:
        raise invalid(
            FieldError(
                "column",
                "Unknown value '%(value)s' for the filter '%(filter)s': choose one from the list.",
                value=column[:40],
                filter="column",
            )
        )
    return column


def _visit_loads() -> list[Any]:
    return [selectinload(Visit.agency), selectinload(Visit.enterprise)]


def report_records(
    session: Session,
    *,
    actor: User,
    month: str | None,
    now: datetime,
    column: str,
    unit_id: int | None,
    scope: Scope,
) -> ReportRecords:
    """The records one figure of the report counts (same clauses as the figure)."""
    month = parse_month(month, now=now)
    column = check_column(column)
    summary.catch_up(session)  # first: the transaction's reads come after it
    drill = record_agencies(session, actor=actor, unit_id=unit_id, scope=scope)
    start, end = month_bounds(month)
    p = _period(drill.ids, start, end, now)
    kind = RECORD_LISTS[column]
    base = ReportRecords(month, column, kind, drill.unit, scope, 0, False)
    if kind == RecordKind.flags:
        flags = list(
            session.scalars(
                select(Flag)
                .where(
                    Flag.kind == FLAG_COLUMNS[column],
                    Flag.raised_at >= p.start,
                    Flag.raised_at < p.end,
                    Flag.agency_id.in_(p.sorted_ids),
                )
                .options(selectinload(Flag.agency), selectinload(Flag.enterprise))
                .order_by(Flag.raised_at, Flag.id)
                .limit(RECORDS_LIMIT + 1)
            )
        )
        return replace(
            base,
            flags=flags[:RECORDS_LIMIT],
            count=len(flags[:RECORDS_LIMIT]),
            truncated=len(flags) > RECORDS_LIMIT,
        )
    if kind == RecordKind.findings:
        return _finding_records(session, p, base)
    if kind == RecordKind.enterprises:
        return _enterprise_records(session, p, base, drill.roots)
    return _visit_records(session, p, base, drill.roots)


def _visit_records(
    session: Session, p: _Period, base: ReportRecords, roots: list[int]
) -> ReportRecords:
    query = (
        select(Visit, Inspection.case_opened, Inspection.case_number, Inspection.fine_fen)
        .outerjoin(Inspection, _record_join())
        .options(*_visit_loads())
        .order_by(Visit.window_start, Visit.id)
    )
    if base.column in ("inspections", "extra"):
        query = query.where(Visit.id.in_(_summary_visits(base, roots)))
        if base.column == "extra":
            query = query.where(Visit.plan_entry_id.is_(None))
    else:
        query = query.where(*_in_window(p.start, p.end), Visit.agency_id.in_(p.sorted_ids))
        if base.column == "cases":
            query = query.where(Inspection.case_opened)
        elif base.column == "fines":
            query = query.where(Inspection.fine_fen > 0)
        else:
            query = query.where(_unconfirmed(p.now, p.tolerance))
    rows = session.execute(query.limit(RECORDS_LIMIT + 1)).all()
    records = [
        VisitRecord(visit, bool(opened), number or "", int(fine or 0))
        for visit, opened, number, fine in rows[:RECORDS_LIMIT]
    ]
    return replace(base, visits=records, count=len(records), truncated=len(rows) > RECORDS_LIMIT)


def _summary_visits(base: ReportRecords, roots: list[int]) -> Select[Any]:
    """The inspections (confirmed visits the row's agencies took part in) of the month, from
    the summary: the rows behind the figure's count. (Reference: `_participants`.) The total
    row: the subtrees of `roots` (`RecordScope.roots`: from the tree already read)."""
    r = ReportVisitUnit
    query = select(r.visit_id).where(r.month == base.month, r.inspection > 0)
    if base.scope == Scope.own and base.unit is not None:
        return query.where(r.tree == false(), r.agency_id == base.unit.id)
    if base.scope == Scope.tree and base.unit is not None:
        return query.where(r.tree == true(), r.agency_id == base.unit.id)
    return query.where(r.tree == true(), r.agency_id.in_(roots))


def _enterprise_records(
    session: Session, p: _Period, base: ReportRecords, roots: list[int]
) -> ReportRecords:
    visits = list(
        session.scalars(
            select(Visit)
            .where(Visit.id.in_(_summary_visits(base, roots)))
            .options(*_visit_loads())
            .order_by(Visit.window_start, Visit.id)
        )
    )
    by_enterprise: dict[int, EnterpriseRecord] = {}
    for visit in visits:
        record = by_enterprise.setdefault(
            visit.enterprise_id, EnterpriseRecord(visit.enterprise, [])
        )
        record.visits.append(visit)
    records = sorted(by_enterprise.values(), key=lambda r: r.enterprise.name)
    return replace(
        base,
        enterprises=records[:RECORDS_LIMIT],
        count=len(records[:RECORDS_LIMIT]),
        truncated=len(records) > RECORDS_LIMIT,
    )


def _finding_records(session: Session, p: _Period, base: ReportRecords) -> ReportRecords:
    query = _findings_query(session, p, ItemFinding, Visit.id, _covering_agency())
    if base.column == "major_hazards":
        query = query.where(ItemFinding.outcome == FindingOutcome.major_hazard)
    else:
        query = query.where(ItemFinding.outcome.in_(HAZARDS))
    if base.column == "rectified_on_time":
        query = query.where(_on_time(session, p.start))
    rows = session.execute(
        query.order_by(Visit.window_start, ItemFinding.id).limit(RECORDS_LIMIT + 1)
    ).all()
    shown = rows[:RECORDS_LIMIT]
    visits = {
        v.id: v
        for v in session.scalars(
            select(Visit).where(Visit.id.in_({r[1] for r in shown})).options(*_visit_loads())
        )
    }
    findings = [r[0] for r in shown]
    items = {
        i.id: i
        for i in session.scalars(
            select(InspectionItem).where(InspectionItem.id.in_({f.item_id for f in findings}))
        )
    }
    rectified = {
        finding_id: at
        for finding_id, at in session.execute(
            select(Rectification.item_finding_id, func.min(Rectification.recorded_at))
            .where(
                Rectification.item_finding_id.in_([f.id for f in findings]),
                Rectification.outcome == RectificationOutcome.rectified,
            )
            .group_by(Rectification.item_finding_id)
        )
    }
    records = [
        FindingRecord(
            finding=f,
            visit=visits[vid],
            item=items[f.item_id],
            agency_id=agency,
            rectified_at=_aware(rectified.get(f.id)),
        )
        for f, vid, agency in shown
    ]
    return replace(base, findings=records, count=len(records), truncated=len(rows) > len(shown))


def _aware(value: datetime | None) -> datetime | None:
    # func.min() bypasses the column type: SQLite hands back a naive (UTC) value or a string.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- plan coverage ------------------------------------------------------------------------------


class Coverage(StrEnum):
    """What became of one plan entry."""

    done = "done"  # a confirmed visit tied to the entry
    merged = "merged"  # covered by another team's confirmed visit the agency took part in
    missed = "missed"  # the month is over: neither done nor merged
    open = "open"  # the month is not over yet: neither done nor merged so far


COVERAGE_LABELS = {
    "planned": "Plan entries",
    "done": "Done",
    "merged": "Merged",
    "missed": "Missed",
    "open": "Not done yet",
    "extra_approved": "Extra, approved",
    "extra_not_approved": "Extra, not approved",
}
COVERAGE_COLUMNS = tuple(COVERAGE_LABELS)
COVERAGE_TITLES = {
    "planned": N_("Plan entries"),
    "done": N_("Plan entries done: a confirmed visit tied to the entry"),
    "merged": N_("Plan entries merged into another team's visit"),
    "missed": N_("Plan entries missed: the month is over, no visit"),
    "open": N_("Plan entries not done yet (the month is not over)"),
    "extra_approved": N_("Extra visits, approved"),
    "extra_not_approved": N_("Extra visits, pending or rejected"),
}


@dataclass(frozen=True)
class CoverageFigures:
    planned: int = 0
    done: int = 0
    merged: int = 0
    missed: int = 0
    open: int = 0
    extra_approved: int = 0
    extra_not_approved: int = 0

    def value(self, name: str) -> int:
        value: int = getattr(self, name)
        return value

    def plus(self, other: CoverageFigures) -> CoverageFigures:
        return CoverageFigures(**{n: self.value(n) + other.value(n) for n in COVERAGE_COLUMNS})


@dataclass(frozen=True)
class CoverageRow:
    unit: Unit
    figures: CoverageFigures


@dataclass(frozen=True)
class EntryRecord:
    entry: PlanEntry
    coverage: Coverage
    visits: list[Visit]  # tied to the entry (any status), then the merging visits


@dataclass(frozen=True)
class CoverageRecords:
    show: str
    unit: AgencyRef | None
    scope: Scope
    entries: list[EntryRecord] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    truncated: bool = False

    @property
    def title(self) -> str:
        return COVERAGE_TITLES[self.show]

    @property
    def count(self) -> int:
        return len(self.entries) + len(self.visits)


@dataclass(frozen=True)
class PlanCoverage:
    month: str
    root: AgencyRef | None
    closed: bool  # the month is over: an entry neither done nor merged is missed
    rows: list[CoverageRow]
    total: CoverageFigures
    records: CoverageRecords | None = None

    @property
    def prev_month(self) -> str:
        return shift_month(self.month, -1)

    @property
    def next_month(self) -> str:
        return shift_month(self.month, 1)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns shown: 'missed' once the month is over, 'open' before."""
        gone = "open" if self.closed else "missed"
        return tuple(c for c in COVERAGE_COLUMNS if c != gone)


def _done() -> ColumnElement[bool]:
    return exists().where(Visit.plan_entry_id == PlanEntry.id, Visit.status == _CONFIRMED)


# The partial indexes' constants (migration 0010) written into the SQL, not bound: a plan made
# for any parameter value (a prepared statement's generic plan; SQLite's plan of `?`) cannot
# prove an index's WHERE clause and would not use it.
_CONFIRMED = literal(VisitStatus.confirmed, Visit.status.type, literal_execute=True)
_CANCELLED = literal(VisitStatus.cancelled, Visit.status.type, literal_execute=True)
_ONE = literal(1, Integer, literal_execute=True)


def _merging(month: str | BindParameter[str]) -> list[ColumnElement[bool]]:
    """The summary rows of the visits that cover the plan entry (of `month`) of the outer
    query: a confirmed visit at the entry's enterprise whose window starts in the month, in
    which the entry's agency took part (registered it, had an inspector on the team, or
    covered one of its items) — a joint visit, or another team's visit that took the entry's
    work along. `report_visit_units` holds exactly that: per visit, the agency's own-work row
    (`tree` false) of the visit's local month, `inspection` 1 when the visit is confirmed and
    the agency took part (summary.rows_statement; current once `summary.catch_up` ran, as
    `plan_coverage` does first).
    Read by `ix_report_visit_units_merge` (migration 0010): on the province data the EXISTS
    over visits, team and items this replaced took ~190 ms for a month's 23,000 entries."""
    r = ReportVisitUnit
    return [
        r.month == month,
        r.agency_id == PlanEntry.agency_id,
        r.tree == false(),
        r.enterprise_id == PlanEntry.enterprise_id,
        r.inspection == _ONE,
    ]


def _merged(month: str | BindParameter[str]) -> ColumnElement[bool]:
    """Not done, and covered by a visit of `_merging`."""
    return and_(~_done(), exists().where(*_merging(month)))


def _coverage_status(month: str | BindParameter[str], neither: Coverage) -> ColumnElement[str]:
    """done, else merged, else `neither` (missed or open): one CASE, so that each entry's
    EXISTS are evaluated once, and only as far as needed."""
    return case(
        (_done(), literal(Coverage.done.value)),
        (exists().where(*_merging(month)), literal(Coverage.merged.value)),
        else_=literal(neither.value),
    )


def _extra_in(p: _Period, dialect: str) -> list[ColumnElement[bool]]:
    return _extra_visits(p.start, p.end, among(Visit.agency_id, p.sorted_ids, dialect))


def _extra_visits(start: Any, end: Any, agencies: ColumnElement[bool]) -> list[Any]:
    """Extra visits whose window starts in [start, end), not cancelled, of `agencies` (read
    by `ix_visits_extra_window`, migration 0010). The bounds: datetimes or parameters."""
    return [
        Visit.plan_entry_id.is_(None),
        Visit.window_start >= start,
        Visit.window_start < end,
        Visit.status != _CANCELLED,
        agencies,
    ]


NOT_APPROVED = (Approval.pending, Approval.rejected)


COUNTED = ("planned", "done", "merged", "extra_approved", "extra_not_approved")


_COVERAGE: dict[str, Select[Any]] = {}


def coverage_statement(dialect: str) -> Select[Any]:
    """Plan entries of a month by done / merged / neither, and extra visits by approval, per
    agency, in one statement; binds `month`, `start`, `end` (its bounds) and `ids` (the
    agencies): `coverage_params`. Built once per dialect (building it took ~1.5 ms a page)
    and one SQL text for any agencies, which psycopg prepares after a few runs. Each
    entry's status is computed once, as a group key (agency, status); the caller sums the
    agencies' rows into its units (a province: 1,100 rows, not every entry walking a CASE
    over 100 units' agency lists)."""
    if dialect not in _COVERAGE:
        _COVERAGE[dialect] = _coverage_sql(dialect)
    return _COVERAGE[dialect]


def coverage_params(month: str, agency_ids: Iterable[int]) -> dict[str, Any]:
    start, end = month_bounds(month)
    return {"month": month, "start": start, "end": end, "ids": sorted(agency_ids)}


def _coverage_sql(dialect: str) -> Select[Any]:
    month = bindparam("month", type_=String)
    start = bindparam("start", type_=Visit.__table__.c.window_start.type)
    end = bindparam("end", type_=Visit.__table__.c.window_start.type)
    zero = literal(0)
    status = _coverage_status(month, Coverage.open).label("status")
    by_status = (
        select(PlanEntry.agency_id.label("agency_id"), status, func.count().label("n"))
        .where(PlanEntry.month == month, among_param(PlanEntry.agency_id, "ids", dialect))
        .group_by(PlanEntry.agency_id, status)
        .subquery("by_status")
    )
    s = by_status.c

    def counted(value: Coverage) -> ColumnElement[Any]:
        return case((s.status == value.value, s.n), else_=zero)

    entries = select(
        s.agency_id,
        s.n.label("planned"),
        counted(Coverage.done).label("done"),
        counted(Coverage.merged).label("merged"),
        cast(null(), Integer).label("extra_approved"),
        cast(null(), Integer).label("extra_not_approved"),
    )
    one = literal(1)
    extras = (
        select(
            Visit.agency_id.label("agency_id"),
            cast(null(), Integer).label("planned"),
            cast(null(), Integer).label("done"),
            cast(null(), Integer).label("merged"),
            func.sum(case((Visit.approval == Approval.approved, one), else_=zero)).label(
                "extra_approved"
            ),
            func.sum(case((Visit.approval.in_(NOT_APPROVED), one), else_=zero)).label(
                "extra_not_approved"
            ),
        )
        .where(*_extra_visits(start, end, among_param(Visit.agency_id, "ids", dialect)))
        .group_by(Visit.agency_id)
    )
    every = union_all(entries, extras).subquery("coverage")
    # Integers (PostgreSQL's sum of a count is numeric: a Decimal per value in Python).
    sums = [cast(func.coalesce(func.sum(every.c[n]), 0), Integer).label(n) for n in COUNTED]
    return select(every.c.agency_id, *sums).group_by(every.c.agency_id)


def coverage_unit_statement(*, units: Units, month: str, dialect: str) -> Select[Any]:
    """The statement behind the coverage rows of `month` (a row per agency), its values
    given (a benchmark's floor). The counts do not depend on the time (the caller splits
    the rest into missed or open)."""
    return coverage_statement(dialect).params(coverage_params(month, units.all_ids))


def coverage_by_unit(
    rows: Iterable[Any], units: Sequence[Unit], closed: bool
) -> dict[int, CoverageFigures]:
    """The statement's rows (agency, then COUNTED) summed per unit (by its agency id)."""
    unit_of = {agency: u.agency_id for u in units for agency in u.agency_ids}
    sums: dict[int, list[int]] = {}
    for agency_id, *values in rows:
        counts = sums.setdefault(unit_of[agency_id], [0] * len(COUNTED))
        for i, value in enumerate(values):
            counts[i] += value
    return {
        unit: _coverage_figures(dict(zip(COUNTED, counts, strict=True)), closed)
        for unit, counts in sums.items()
    }


def _coverage_figures(counts: dict[str, int], closed: bool) -> CoverageFigures:
    rest = counts["planned"] - counts["done"] - counts["merged"]
    return CoverageFigures(**counts, missed=rest if closed else 0, open=0 if closed else rest)


def check_show(show: str) -> str:
    if show not in COVERAGE_LABELS:
        raise invalid(
            FieldError(
                "show",
                "Unknown value '%(value)s' for the filter '%(filter)s': choose one from the list.",
                value=show[:40],
                filter="show",
            )
        )
    return show


def plan_coverage(
    session: Session,
    *,
    actor: User,
    month: str | None,
    now: datetime,
    agency_id: int | None = None,
    show: str | None = None,
    unit_id: int | None = None,
    scope: Scope = Scope.all,
) -> PlanCoverage:
    """Plan coverage of `month` per unit of `agency_id` (default: the supervisor's agency):
    planned, done, merged, missed (open while the month lasts), extra visits approved and
    not approved. With `show`, also the records behind one figure of one row
    (`unit_id` and `scope`; the total row: scope all)."""
    month = parse_month(month, now=now)
    if show:
        show = check_show(show)
    summary.catch_up(session)  # first: the transaction's reads come after it
    units = report_units(session, actor=actor, agency_id=agency_id)
    _start, end = month_bounds(month)
    closed = now >= end
    for_aggregates(session)
    dialect = session.get_bind().dialect.name
    found = plain_reads(session).execute(
        coverage_statement(dialect), coverage_params(month, units.all_ids)
    )
    by_key = coverage_by_unit(found, units.units, closed)
    rows = [CoverageRow(u, by_key.get(u.agency_id, CoverageFigures())) for u in units.units]
    total = CoverageFigures()
    for row in rows:
        total = total.plus(row.figures)
    records = None
    if show:
        records = coverage_records(
            session,
            actor=actor,
            month=month,
            now=now,
            show=show,
            unit_id=unit_id,
            scope=scope,
        )
    return PlanCoverage(month, units.root, closed, rows, total, records)


def coverage_records(
    session: Session,
    *,
    actor: User,
    month: str,
    now: datetime,
    show: str,
    unit_id: int | None,
    scope: Scope,
) -> CoverageRecords:
    """The plan entries (or extra visits) one coverage figure counts."""
    show = check_show(show)
    drill = record_agencies(session, actor=actor, unit_id=unit_id, scope=scope)
    unit = drill.unit
    start, end = month_bounds(month)
    p = _period(drill.ids, start, end, now)
    dialect = session.get_bind().dialect.name
    if show.startswith("extra_"):
        approvals = [Approval.approved] if show == "extra_approved" else list(NOT_APPROVED)
        visits = list(
            session.scalars(
                select(Visit)
                .where(*_extra_in(p, dialect), Visit.approval.in_(approvals))
                .options(*_visit_loads())
                .order_by(Visit.window_start, Visit.id)
                .limit(RECORDS_LIMIT + 1)
            )
        )
        return CoverageRecords(
            show, unit, scope, visits=visits[:RECORDS_LIMIT], truncated=len(visits) > RECORDS_LIMIT
        )
    done, merged = _done(), _merged(month)
    status = _coverage_status(month, Coverage.missed if now >= end else Coverage.open)
    query = (
        select(PlanEntry, status.label("coverage"))
        .where(PlanEntry.month == month, among(PlanEntry.agency_id, p.sorted_ids, dialect))
        .options(
            selectinload(PlanEntry.agency),
            selectinload(PlanEntry.enterprise),
            selectinload(PlanEntry.items),
        )
        .order_by(PlanEntry.agency_id, PlanEntry.id)
    )
    if show == "done":
        query = query.where(done)
    elif show == "merged":
        query = query.where(merged)
    elif show in ("missed", "open"):
        query = query.where(~done, ~merged)
        if (show == "missed") != (now >= end):
            query = query.where(false())
    rows = session.execute(query.limit(RECORDS_LIMIT + 1)).all()
    shown = rows[:RECORDS_LIMIT]
    entries = [entry for entry, _status in shown]
    tied: dict[int, list[Visit]] = {e.id: [] for e in entries}
    if entries:
        for visit in session.scalars(
            select(Visit)
            .where(Visit.plan_entry_id.in_(list(tied)))
            .options(selectinload(Visit.agency))
            .order_by(Visit.window_start, Visit.id)
        ):
            if visit.plan_entry_id is not None:
                tied[visit.plan_entry_id].append(visit)
    merging = _merging_visits(session, [e for e, s in shown if s == Coverage.merged.value], month)
    records = [
        EntryRecord(entry, Coverage(status_value), tied[entry.id] + merging.get(entry.id, []))
        for entry, status_value in shown
    ]
    return CoverageRecords(show, unit, scope, entries=records, truncated=len(rows) > len(shown))


def _merging_visits(
    session: Session, entries: Sequence[PlanEntry], month: str
) -> dict[int, list[Visit]]:
    """For merged entries: the visits that covered them (the rows `_merged` finds)."""
    if not entries:
        return {}
    ids = [e.id for e in entries]
    rows = session.execute(
        select(PlanEntry.id, Visit)
        .select_from(PlanEntry)
        .join(ReportVisitUnit, and_(*_merging(month)))
        .join(Visit, Visit.id == ReportVisitUnit.visit_id)
        .options(selectinload(Visit.agency))
        .where(PlanEntry.id.in_(ids))
        .order_by(Visit.window_start, Visit.id)
    ).all()
    found: dict[int, list[Visit]] = {}
    for entry_id, visit in rows:
        found.setdefault(entry_id, []).append(visit)
    return found
