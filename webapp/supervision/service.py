"""Supervision use cases: flags and their resolutions, decisions on extra visits, visits
against the plan, a visit's full history, and the sweep for windows that passed unconfirmed.

Only supervisors (their agency and every agency below it) and administrators (everything)
supervise; every other role is refused with `forbidden`, and an object outside the
supervisor's agencies answers `not_found`, exactly like a missing one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Select, String, cast, exists, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, defer, joinedload, selectinload

from webapp.agencies.models import Agency, Inspector
from webapp.audit import service as audit
from webapp.audit.models import AuditEvent
from webapp.auth.models import User
from webapp.auth.scope import agency_subtree_ids, visible_agency_ids
from webapp.checkin.models import Scan, UnregisteredReport
from webapp.config import get_settings
from webapp.db import among, begin_write
from webapp.enums import Approval, FlagKind, Role, VisitStatus
from webapp.errors import DomainError, FieldError, forbidden, not_found
from webapp.items.models import InspectionItem
from webapp.rules import window_passed_unconfirmed
from webapp.rules.core import credential_valid
from webapp.supervision.flags import flag_message, raise_flag
from webapp.supervision.models import Flag, FlagResolution
from webapp.visits import service as visits_service
from webapp.visits.models import Visit, VisitDecision, VisitInspector
from webapp.web import to_local, tz

PAGE_SIZE = 50
VISITS_PAGE_SIZE = 100
MAX_PAGE_SIZE = 200
MAX_NOTE_LENGTH = 4000
SUPERVISING = (Role.supervisor, Role.admin)
Row = TypeVar("Row", Flag, Visit)


class FlagState(StrEnum):
    open = "open"  # no resolution yet
    resolved = "resolved"  # at least one resolution
    all = "all"


class VisitKind(StrEnum):
    planned = "planned"
    extra = "extra"


# --- scope -----------------------------------------------------------------------------------


def supervised_agency_ids(session: Session, *, actor: User) -> set[int] | None:
    """The agencies `actor` supervises (None: all, for an administrator); others are refused."""
    if actor.role not in SUPERVISING:
        raise forbidden()
    if actor.role == Role.supervisor and actor.agency_id is None:
        raise forbidden()
    return visible_agency_ids(session, actor)


def supervised_agencies(session: Session, *, actor: User) -> list[Agency]:
    """The agencies a supervisor may filter by, in a stable order (for the filter forms)."""
    scope = supervised_agency_ids(session, actor=actor)
    query = select(Agency).order_by(Agency.code)
    if scope is not None:
        query = query.where(Agency.id.in_(scope))
    return list(session.scalars(query))


def _in_scope(scope: set[int] | None, agency_id: int) -> bool:
    return scope is None or agency_id in scope


def _filter_agencies(
    session: Session, scope: set[int] | None, agency_id: int | None
) -> set[int] | None:
    """The agencies to show: the chosen one and those below it (within scope), or the scope."""
    if agency_id is None:
        return scope
    if not _in_scope(scope, agency_id) or session.get(Agency, agency_id) is None:
        raise not_found("agency")
    subtree = agency_subtree_ids(session, agency_id)
    return subtree if scope is None else subtree & scope


def _names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {uid: name for uid, name in rows}


def invalid(error: FieldError) -> DomainError:
    """A refusal of one input, its specific message as the error's own message (the pages'
    filters refuse their bad values with it too)."""
    return DomainError(
        "validation_error",
        error.message,
        field=error.field,
        errors=[error],
        **error.params,
    )


# The write use cases below start with begin_write() and make every check before the first
# change, so a refusal leaves nothing written. They do not roll back on a refusal: the
# caller's session ends the transaction (a rollback here would expire the signed-in user
# the error page shows).


# --- cursors (keyset pagination) -------------------------------------------------------------


def encode_cursor(at: datetime, row_id: int) -> str:
    micros = int(at.astimezone(UTC).timestamp() * 1_000_000)
    return base64.urlsafe_b64encode(f"{micros}:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (time, id) a page continues after; a damaged cursor is a plain refusal."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros_text, id_text = raw.split(":")
        micros, row_id = int(micros_text), int(id_text)
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError) as exc:
        raise invalid(
            FieldError("cursor", "The page cursor is not valid: start again from the first page.")
        ) from exc
    return at, row_id


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise invalid(FieldError("limit", "Ask for 1 to %(max)s rows a page.", max=MAX_PAGE_SIZE))


def _keyset_page(
    session: Session,
    query: Select[Row],
    *,
    at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
) -> tuple[list[Row], str | None]:
    """One page of `query`, newest `at` first (the id breaks ties), continuing after
    `cursor`; and the cursor of the next page, None on the last one."""
    if cursor:
        after_at, after_id = decode_cursor(cursor)
        # `at <= after_at` first: a range the index on `at` can seek to (an OR alone makes
        # every later page scan from the newest row again).
        query = query.where(at <= after_at, or_(at < after_at, row_id < after_id))
    rows = list(session.scalars(query.order_by(at.desc(), row_id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, at.key), getattr(last, row_id.key))


def _clean_note(note: str, *, missing: FieldError | None) -> str:
    """The note, trimmed; refused when too long, or when empty and `missing` says why."""
    note = note.strip()
    if not note and missing is not None:
        raise invalid(missing)
    if len(note) > MAX_NOTE_LENGTH:
        raise invalid(
            FieldError(
                "note",
                "The note is too long (%(length)s characters); keep it under %(max)s.",
                length=len(note),
                max=MAX_NOTE_LENGTH,
            )
        )
    return note


# --- flags -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolutionRow:
    id: int
    note: str
    resolved_at: datetime
    resolved_by_id: int
    resolved_by: str


@dataclass(frozen=True)
class FlagRow:
    """A flag with its rule's message (msgid + params) and its resolutions, for display."""

    flag: Flag
    message: str
    params: dict[str, Any]
    resolutions: list[ResolutionRow]

    @property
    def resolved(self) -> bool:
        return bool(self.resolutions)


@dataclass(frozen=True)
class FlagPage:
    items: list[FlagRow]
    next_cursor: str | None


def _flag_rows(session: Session, flags: Sequence[Flag]) -> list[FlagRow]:
    names = _names(session, (r.resolved_by_id for f in flags for r in f.resolutions))
    rows = []
    for flag in flags:
        message, params = flag_message(flag)
        rows.append(
            FlagRow(
                flag=flag,
                message=message,
                params=params,
                resolutions=[
                    ResolutionRow(
                        id=r.id,
                        note=r.note,
                        resolved_at=r.resolved_at,
                        resolved_by_id=r.resolved_by_id,
                        resolved_by=names.get(r.resolved_by_id, "?"),
                    )
                    for r in sorted(flag.resolutions, key=lambda r: (r.resolved_at, r.id))
                ],
            )
        )
    return rows


def _flag_loads(*, detail: bool = False) -> list[Any]:
    """What a flag row shows; with `detail`, also the scan or report it is about. The rows a
    flag points to come in the same statement (one row each); its resolutions in a second."""
    loads: list[Any] = [
        joinedload(Flag.agency),
        joinedload(Flag.enterprise),
        joinedload(Flag.visit),
        selectinload(Flag.resolutions),
    ]
    if detail:
        loads += [
            selectinload(Flag.scan).selectinload(Scan.enterprise),
            selectinload(Flag.report).selectinload(UnregisteredReport.enterprise),
        ]
    return loads


def list_flags(
    session: Session,
    *,
    actor: User,
    kind: FlagKind | None = None,
    agency_id: int | None = None,
    state: FlagState = FlagState.open,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> FlagPage:
    """Flags in the actor's agencies, newest first, `limit` a page (keyset on raised_at, id)."""
    scope = supervised_agency_ids(session, actor=actor)
    _check_limit(limit)
    agencies = _filter_agencies(session, scope, agency_id)
    query = select(Flag).options(*_flag_loads())
    if agencies is not None:
        query = query.where(among(Flag.agency_id, agencies, session.get_bind().dialect.name))
    if kind is not None:
        query = query.where(Flag.kind == kind)
    has_resolution = exists().where(FlagResolution.flag_id == Flag.id)
    if state == FlagState.open:
        query = query.where(~has_resolution)
    elif state == FlagState.resolved:
        query = query.where(has_resolution)
    flags, next_cursor = _keyset_page(
        session, query, at=Flag.raised_at, row_id=Flag.id, cursor=cursor, limit=limit
    )
    return FlagPage(items=_flag_rows(session, flags), next_cursor=next_cursor)


@dataclass(frozen=True)
class FlagDetail:
    row: FlagRow
    scan_by: str | None  # who scanned, for a flag on a scan
    report_by: str | None  # who reported, for an unregistered-visit report

    @property
    def flag(self) -> Flag:
        return self.row.flag


def get_flag(session: Session, *, actor: User, flag_id: int) -> FlagDetail:
    """One flag with its resolutions (and the scan or report it is about)."""
    scope = supervised_agency_ids(session, actor=actor)
    flag = session.scalar(select(Flag).where(Flag.id == flag_id).options(*_flag_loads(detail=True)))
    if flag is None or not _in_scope(scope, flag.agency_id):
        raise not_found("flag")
    names = _names(
        session,
        [
            flag.scan.user_id if flag.scan else None,
            flag.report.reported_by_id if flag.report else None,
        ],
    )
    return FlagDetail(
        row=_flag_rows(session, [flag])[0],
        scan_by=names.get(flag.scan.user_id) if flag.scan else None,
        report_by=names.get(flag.report.reported_by_id) if flag.report else None,
    )


def resolve_flag(
    session: Session, *, actor: User, flag_id: int, note: str, now: datetime
) -> FlagResolution:
    """Append a resolution (who, when, note) to a flag. The flag stays; a flag may get
    further notes later, all kept in order."""
    begin_write(session)
    scope = supervised_agency_ids(session, actor=actor)
    flag = session.get(Flag, flag_id)
    if flag is None or not _in_scope(scope, flag.agency_id):
        raise not_found("flag")
    note = _clean_note(
        note,
        missing=FieldError("note", "Write a note: what you checked and what you decided."),
    )
    resolution = FlagResolution(
        flag_id=flag.id, note=note, resolved_by_id=actor.id, resolved_at=now
    )
    session.add(resolution)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="flag.resolved",
        object_type="flag",
        object_id=flag.id,
        visit_id=flag.visit_id,
        now=now,
        data={"resolution_id": resolution.id, "kind": flag.kind.value, "note": note},
    )
    session.commit()
    return resolution


# --- extra visits: approval ------------------------------------------------------------------


def _visit_loads(*, full: bool = True) -> list[Any]:
    """What a visit row shows (agency, enterprise, plan entry); when `full`, also its team
    with their credentials (not their photos: no supervision page shows them), items and
    decisions."""
    loads: list[Any] = [
        selectinload(Visit.agency),
        selectinload(Visit.enterprise),
        selectinload(Visit.plan_entry),
    ]
    if full:
        loads += [
            selectinload(Visit.team)
            .selectinload(VisitInspector.inspector)
            .options(defer(Inspector.photo), selectinload(Inspector.credentials)),
            selectinload(Visit.items),
            selectinload(Visit.decisions),
        ]
    return loads


def _visit_in_scope(
    session: Session, scope: set[int] | None, public_id: str, *, for_update: bool = False
) -> Visit:
    query = select(Visit).where(Visit.public_id == public_id)
    query = query.with_for_update() if for_update else query.options(*_visit_loads())
    visit = session.scalar(query)
    if visit is None or not _in_scope(scope, visit.agency_id):
        raise not_found("visit")
    return visit


@dataclass(frozen=True)
class TeamRow:
    inspector_id: int
    name: str
    lead: bool
    credential_number: str | None
    credential_status: str | None
    valid_from: date | None
    valid_until: date | None
    valid: bool


def team_rows(visit: Visit) -> list[TeamRow]:
    """The team as the gate shows it (webapp.visits.service.team_member picks each one's
    credential), and whether that credential is valid on every local day of the window."""
    first, last = to_local(visit.window_start).date(), to_local(visit.window_end).date()
    rows = []
    for link in visit.team:
        member = visits_service.team_member(link.inspector, first, last)
        rows.append(
            TeamRow(
                inspector_id=member.inspector_id,
                name=member.name,
                lead=link.position == 0,
                credential_number=member.credential_number,
                credential_status=member.credential_status.value
                if member.credential_status
                else None,
                valid_from=member.valid_from,
                valid_until=member.valid_until,
                valid=credential_valid(member, first, last),
            )
        )
    return rows


@dataclass(frozen=True)
class PendingVisit:
    visit: Visit
    registered_by: str
    team: list[TeamRow]


def pending_extra_visits(session: Session, *, actor: User) -> list[PendingVisit]:
    """Extra visits in the actor's agencies that wait for a decision (soonest first)."""
    scope = supervised_agency_ids(session, actor=actor)
    query = (
        select(Visit)
        .where(
            Visit.plan_entry_id.is_(None),
            Visit.approval == Approval.pending,
            Visit.status != VisitStatus.cancelled,
        )
        .options(*_visit_loads())
        .order_by(Visit.window_start, Visit.id)
    )
    if scope is not None:
        query = query.where(Visit.agency_id.in_(scope))
    visits = list(session.scalars(query))
    names = _names(session, (v.registered_by_id for v in visits))
    return [
        PendingVisit(visit=v, registered_by=names.get(v.registered_by_id, "?"), team=team_rows(v))
        for v in visits
    ]


def decide_extra_visit(
    session: Session,
    *,
    actor: User,
    public_id: str,
    decision: Approval | None,
    note: str,
    now: datetime,
) -> Visit:
    """A supervisor (of the visit's agency or one above it) or an administrator approves or
    rejects (`decision`; None when the input named neither) an extra visit whose approval
    is pending. A rejection needs a note saying why.
    A decision after the pass was already scanned is allowed: the extra_unapproved flag
    raised at the scan stays."""
    begin_write(session)
    scope = supervised_agency_ids(session, actor=actor)
    # Someone else's visit looks like nothing, whatever the input: scope before validation.
    visit = _visit_in_scope(session, scope, public_id, for_update=True)
    if decision not in (Approval.approved, Approval.rejected):
        raise invalid(FieldError("decision", "Choose a decision: approved or rejected."))
    if visit.plan_entry_id is not None:
        raise DomainError(
            "not_pending",
            "This is a planned visit: it serves a plan entry and needs no approval.",
        )
    if visit.approval == Approval.approved:
        raise DomainError(
            "not_pending",
            "This extra visit was already approved; a decision is final and cannot be changed.",
        )
    if visit.approval != Approval.pending:
        raise DomainError(
            "not_pending",
            "This extra visit was already rejected; a decision is final and cannot be changed.",
        )
    if visit.status == VisitStatus.cancelled:
        raise DomainError(
            "visit_cancelled", "This visit was cancelled: there is nothing to decide."
        )
    # A rejection must say why; an approval may go without a note.
    note = _clean_note(
        note,
        missing=FieldError("note", "Write a note: why the extra visit is rejected.")
        if decision == Approval.rejected
        else None,
    )
    row = VisitDecision(
        visit_id=visit.id, decision=decision, note=note, decided_by_id=actor.id, decided_at=now
    )
    session.add(row)
    visit.approval = decision
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="visit.approved" if decision == Approval.approved else "visit.rejected",
        object_type="visit",
        object_id=visit.public_id,
        visit_id=visit.id,
        now=now,
        data={"decision": decision.value, "note": note, "decision_id": row.id},
    )
    session.commit()
    session.refresh(visit)
    return visit


# --- visits against the plan -----------------------------------------------------------------


def current_month(now: datetime) -> str:
    return to_local(now).strftime("%Y-%m")


def parse_month(month: str | None, *, now: datetime) -> str:
    """'YYYY-MM' (default: this month where the users are); a bad value is refused."""
    if not month:
        return current_month(now)
    try:
        year_text, mon_text = month.split("-")
        year, mon = int(year_text), int(mon_text)
        if len(year_text) != 4 or not 1 <= mon <= 12:
            raise ValueError(month)
    except ValueError as exc:
        raise invalid(
            FieldError("month", "Give the month as YYYY-MM, for example 2026-11.")
        ) from exc
    return f"{year:04d}-{mon:02d}"


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first and next month's first instant (local time), in UTC."""
    year, mon = (int(x) for x in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=tz())
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=tz())
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True)
class VisitRow:
    visit: Visit
    flags: int


@dataclass(frozen=True)
class VisitPage:
    month: str
    items: list[VisitRow]
    next_cursor: str | None


def list_visits(
    session: Session,
    *,
    actor: User,
    month: str | None,
    now: datetime,
    status: VisitStatus | None = None,
    kind: VisitKind | None = None,
    agency_id: int | None = None,
    cursor: str | None = None,
    limit: int = VISITS_PAGE_SIZE,
) -> VisitPage:
    """Every visit in the actor's agencies whose window starts in `month`, latest first,
    each with its number of flags."""
    scope = supervised_agency_ids(session, actor=actor)
    _check_limit(limit)
    month = parse_month(month, now=now)
    agencies = _filter_agencies(session, scope, agency_id)
    start, end = month_bounds(month)
    query = (
        select(Visit)
        .where(Visit.window_start >= start, Visit.window_start < end)
        .options(*_visit_loads(full=False))
    )
    if agencies is not None:
        # A joint visit is listed for every agency on it, not only the one that registered.
        joined = exists().where(
            VisitInspector.visit_id == Visit.id,
            VisitInspector.inspector_id == Inspector.id,
            Inspector.agency_id.in_(agencies),
        )
        query = query.where(or_(Visit.agency_id.in_(agencies), joined))
    if status is not None:
        query = query.where(Visit.status == status)
    if kind == VisitKind.planned:
        query = query.where(Visit.plan_entry_id.is_not(None))
    elif kind == VisitKind.extra:
        query = query.where(Visit.plan_entry_id.is_(None))
    visits, next_cursor = _keyset_page(
        session, query, at=Visit.window_start, row_id=Visit.id, cursor=cursor, limit=limit
    )
    counts: dict[int, int] = {}
    if visits:
        counts = {
            vid: n
            for vid, n in session.execute(
                select(Flag.visit_id, func.count(Flag.id))
                .where(Flag.visit_id.in_([v.id for v in visits]))
                .group_by(Flag.visit_id)
            )
            if vid is not None
        }
    return VisitPage(
        month=month,
        items=[VisitRow(visit=v, flags=counts.get(v.id, 0)) for v in visits],
        next_cursor=next_cursor,
    )


# Plan coverage and the monthly report: webapp/supervision/reports.py


# --- a visit's full history ------------------------------------------------------------------


class EventKind(StrEnum):
    registered = "registered"
    decision = "decision"
    scan = "scan"
    flag = "flag"
    resolution = "resolution"
    cancelled = "cancelled"


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of a visit's timeline; `obj` is the record it shows (a Visit, VisitDecision,
    Scan, FlagRow or ResolutionRow), `actor` who acted, if anyone."""

    at: datetime
    kind: EventKind
    actor: str | None
    obj: Any
    order: int = 0  # tie-break for events at the same instant


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor: str | None


@dataclass(frozen=True)
class VisitHistory:
    visit: Visit
    registered_by: str
    confirmed_by: str | None
    team: list[TeamRow]
    items: list[InspectionItem]
    events: list[HistoryEvent]
    flags: list[FlagRow]
    audit: list[AuditRow]


def visit_history(session: Session, *, actor: User, public_id: str) -> VisitHistory:
    """Everything that happened to a visit, in time order: its registration, decisions,
    every scan (refused ones too), flags and their resolutions, cancellation, and every
    audit event tied to it."""
    scope = supervised_agency_ids(session, actor=actor)
    visit = _visit_in_scope(session, scope, public_id)
    scans = list(
        session.scalars(
            select(Scan)
            .where(Scan.visit_id == visit.id)
            .options(selectinload(Scan.enterprise))
            .order_by(Scan.scanned_at, Scan.id)
        )
    )
    scan_ids = [s.id for s in scans]
    flag_filter = Flag.visit_id == visit.id
    if scan_ids:
        flag_filter = or_(flag_filter, Flag.scan_id.in_(scan_ids))
    flags = list(
        session.scalars(
            select(Flag).where(flag_filter).options(*_flag_loads()).order_by(Flag.raised_at)
        )
    )
    flag_rows = _flag_rows(session, flags)
    audit_events = list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.visit_id == visit.id).order_by(AuditEvent.id)
        )
    )
    names = _names(
        session,
        [
            visit.registered_by_id,
            visit.confirmed_by_id,
            *(d.decided_by_id for d in visit.decisions),
            *(s.user_id for s in scans),
            *(e.actor_id for e in audit_events),
        ],
    )
    events: list[HistoryEvent] = [
        HistoryEvent(
            visit.registered_at, EventKind.registered, names.get(visit.registered_by_id), visit, 0
        )
    ]
    events += [
        HistoryEvent(d.decided_at, EventKind.decision, names.get(d.decided_by_id), d, 1)
        for d in visit.decisions
    ]
    events += [
        HistoryEvent(s.scanned_at, EventKind.scan, names.get(s.user_id), s, 2) for s in scans
    ]
    for row in flag_rows:
        events.append(HistoryEvent(row.flag.raised_at, EventKind.flag, None, row, 3))
        events += [
            HistoryEvent(r.resolved_at, EventKind.resolution, r.resolved_by, (row, r), 4)
            for r in row.resolutions
        ]
    if visit.cancelled_at is not None:
        cancel_actor = next(
            (
                names.get(e.actor_id)
                for e in audit_events
                if e.action.endswith("cancelled") and e.actor_id is not None
            ),
            None,
        )
        events.append(HistoryEvent(visit.cancelled_at, EventKind.cancelled, cancel_actor, visit, 5))
    events.sort(key=lambda e: (e.at, e.order))
    return VisitHistory(
        visit=visit,
        registered_by=names.get(visit.registered_by_id, "?"),
        confirmed_by=names.get(visit.confirmed_by_id) if visit.confirmed_by_id else None,
        team=team_rows(visit),
        items=list(visit.items),
        events=events,
        flags=flag_rows,
        audit=[
            AuditRow(event=e, actor=names.get(e.actor_id) if e.actor_id else None)
            for e in audit_events
        ],
    )


# --- the sweep -------------------------------------------------------------------------------


def sweep_unconfirmed(
    session: Session,
    *,
    now: datetime,
    stop: Callable[[], bool] | None = None,
    ended_after: datetime | None = None,
) -> int:
    """Flag every registered visit whose window (plus the stated tolerance) passed with no
    confirmation, once: repeated sweeps and several workers raise one flag per visit (the
    unique (kind, dedupe_key) constraint is the last guard). Returns how many were raised.
    `stop` (the app shutting down) is asked between two flags: each flag is its own
    transaction, so stopping leaves none half-written.

    `ended_after`: look only at windows that ended after it, less the tolerance. For a
    caller that knows a sweep up to then completed (the app's background loop): a visit is
    registered before its window ends and never goes back to `registered`, so every older
    window was judged then.
    Without it, every registered visit of all time is looked at (at province size tens of
    thousands, each one flagged long ago)."""
    tolerance = get_settings().window_tolerance_minutes
    kind = FlagKind.window_passed_unconfirmed
    already = exists().where(
        Flag.kind == kind, Flag.dedupe_key == literal("visit:", String) + cast(Visit.id, String)
    )
    window_ended = [Visit.window_end < now - timedelta(minutes=tolerance)]
    if ended_after is not None:
        # The last sweep judged windows that ended before it minus the tolerance.
        window_ended.append(Visit.window_end >= ended_after - timedelta(minutes=tolerance))
    candidates = list(
        session.scalars(
            select(Visit.id)
            .where(Visit.status == VisitStatus.registered, *window_ended, ~already)
            .order_by(Visit.window_end, Visit.id)
        )
    )
    session.rollback()  # end the read; each flag is its own short write
    raised = 0
    for visit_id in candidates:
        if stop is not None and stop():
            break
        begin_write(session)
        try:
            # Lock the visit (PostgreSQL; SQLite's write lock is already held): two sweepers,
            # or a sweep and a confirmation, take turns on it, so the flag check below sees
            # the other's flag and only the sweep that inserted it counts it.
            visit = session.scalar(
                select(Visit)
                .where(Visit.id == visit_id)
                .with_for_update(key_share=True)
                .execution_options(populate_existing=True)
            )
            finding = (
                window_passed_unconfirmed(visit.status, visit.window_end, tolerance, now)
                if visit is not None
                else None
            )
            dedupe_key = f"visit:{visit_id}"
            if (
                visit is None
                or finding is None
                or session.scalar(
                    select(Flag.id).where(Flag.kind == kind, Flag.dedupe_key == dedupe_key)
                )
            ):
                session.rollback()
                continue
            raise_flag(
                session,
                finding=finding,
                dedupe_key=dedupe_key,
                agency_id=visit.agency_id,
                enterprise_id=visit.enterprise_id,
                visit_id=visit.id,
                now=now,
            )
            session.commit()
            raised += 1
        except IntegrityError:
            # Another sweeper raised it between our check and our insert: nothing to do.
            session.rollback()
    return raised
