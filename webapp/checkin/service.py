"""The enterprise side of a visit: look at a pass, confirm it (or record why not), report a
visit that showed no valid pass, and list the enterprise's own confirmed visits.

Opening a pass (`preview_scan`) reads only. Confirming (`scan_pass`) is one transaction that
locks the visit, stores the scan whatever its outcome, and answers a retry with the first
answer. An enterprise never sees a visit before its pass is scanned: every list here is of
confirmed visits only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from webapp import idempotency, rules
from webapp.agencies.models import Inspector
from webapp.audit import service as audit
from webapp.auth import security
from webapp.auth.models import User
from webapp.checkin import passes
from webapp.checkin.models import Scan, UnregisteredReport
from webapp.config import Settings
from webapp.db import begin_write
from webapp.enterprises.models import Enterprise
from webapp.enums import Approval, Role, ScanOutcome, VisitStatus
from webapp.errors import (
    STATUS_BY_CODE,
    FieldError,
    LocalTime,
    forbidden,
    not_found,
    validation_error,
)
from webapp.supervision import summary
from webapp.supervision.flags import raise_flag
from webapp.visits import rows
from webapp.visits import service as visits_service
from webapp.visits.models import Visit, VisitDecision, VisitInspector
from webapp.visits.rows import VisitRow
from webapp.web import N_

IDEMPOTENCY_SCOPE = "checkin"
MAX_PRESENTED_LENGTH = 2048
MAX_WHO_LENGTH = 2000
MAX_SAID_LENGTH = 4000
MAX_REPORT_AGE = timedelta(days=365)

# Every refusal in plain words (English msgids), and what the safety manager does next.
REFUSALS: dict[str, tuple[str, str]] = {
    "pass_invalid": (
        N_("This is not a valid pass: it was not issued by this registry, or it is damaged."),
        N_(
            "Do not confirm. Ask the inspectors to open the visit in their app and show the "
            "live code. If they cannot, report the visit."
        ),
    ),
    "pass_expired": (
        N_("This code has expired: ask the inspector to show the live code."),
        N_(
            "The code on the inspector's phone changes every few seconds. Scan it again from "
            "the phone itself (not a screenshot or a photo), or type the code shown under it."
        ),
    ),
    "wrong_enterprise": (
        N_("This pass is for a visit at another enterprise."),
        N_(
            "Do not confirm. Ask the inspectors for the pass of a visit registered for your "
            "enterprise. If they have none, report the visit."
        ),
    ),
    "already_confirmed": (
        N_("Already confirmed at %(time)s by %(name)s."),
        N_("Nothing more to do: the visit is in your list of confirmed visits."),
    ),
    "outside_window": (
        N_("This visit is not registered for this time: its time window is %(start)s – %(end)s."),
        N_(
            "Ask the inspectors to register a visit for this time. If they do not, report "
            "the visit."
        ),
    ),
    "visit_cancelled": (
        N_("This visit was cancelled by its agency; it cannot be confirmed."),
        N_("Ask the inspectors to register a new visit. If they do not, report the visit."),
    ),
    "approval_pending": (
        N_(
            "This extra visit (outside the plan) has not been approved by a supervisor yet: "
            "it cannot be confirmed."
        ),
        N_(
            "Ask the inspectors to wait for their supervisor's approval and scan again. An "
            "extra visit may take place only after it is approved."
        ),
    ),
    "approval_rejected": (
        N_("The supervisor rejected this extra visit (outside the plan): it cannot be confirmed."),
        N_("Do not confirm. If the inspectors inspect anyway, report the visit."),
    ),
}

# The refusals after which the visit itself may be shown to the scanning manager: the pass
# was genuine and current and the visit is at their own enterprise.
_OWN_VISIT_REFUSALS = frozenset(
    {"already_confirmed", "outside_window", "approval_pending", "approval_rejected"}
)
# The refusals of an extra visit's pass for want of an approval.
_APPROVAL_REFUSALS = frozenset({"approval_pending", "approval_rejected"})


@dataclass(frozen=True)
class ScanResult:
    """The answer to a confirming scan (a replay of a retried request gives the same one)."""

    scan_id: int
    outcome: ScanOutcome
    reason_code: str | None  # None when confirmed
    message: str  # English msgid
    params: dict[str, Any]
    next_step: str  # English msgid; "" when confirmed
    confirmed_at: datetime | None
    # Only when the scanning manager may see it (their own enterprise's genuine pass).
    visit: VisitRow | None
    replayed: bool = False
    # The confirmed visit's card, built in the confirming transaction (None on a refusal or
    # a replay: build it from `visit`).
    card: visits_service.VisitCard | None = None

    @property
    def confirmed(self) -> bool:
        return self.outcome == ScanOutcome.confirmed

    @property
    def status_code(self) -> int:
        return 201 if self.reason_code is None else STATUS_BY_CODE.get(self.reason_code, 400)


@dataclass(frozen=True)
class ScanPreview:
    """What GET /scan shows; building it writes nothing."""

    presented: str  # what the confirm form posts back
    viewer: str  # anonymous | manager | staff (inspector, supervisor, admin)
    own: bool  # the viewer is a manager of the visit's enterprise
    refusal: str | None
    message: str  # English msgid ("" when the pass is fine)
    params: dict[str, Any]
    next_step: str
    visit: VisitRow | None  # None when nothing about the visit may be shown
    can_confirm: bool  # a manager of this enterprise, and the pass would confirm now
    can_record: bool  # a signed-in manager may record the refused scan for the supervisor
    enterprise_name: str | None  # only for the enterprise's own manager


@dataclass(frozen=True)
class ManagerHome:
    enterprise: Enterprise
    visits: list[Visit]
    reports: list[UnregisteredReport] = field(default_factory=list)


# --- helpers -------------------------------------------------------------------------------


def _manager(actor: User) -> int:
    """The enterprise of a safety manager; anyone else may not act for an enterprise."""
    if actor.role != Role.manager or actor.enterprise_id is None:
        raise forbidden()
    return actor.enterprise_id


def _local(value: datetime, settings: Settings, now: datetime) -> str:
    """A time as a person reads it: `10:02` today, `2026-11-15 10:02` another day."""
    # Reads in the office's zone; a page or answer shows it in the reader's (LocalTime).
    return LocalTime(value, now=now, zone=ZoneInfo(settings.timezone))


def _refusal_params(
    session: Session, reason: str, visit: VisitRow | None, *, settings: Settings, now: datetime
) -> dict[str, Any]:
    if visit is None:
        return {}
    if reason == "already_confirmed" and visit.confirmed_at is not None:
        by = session.get(User, visit.confirmed_by_id) if visit.confirmed_by_id else None
        return {
            "time": _local(visit.confirmed_at, settings, now),
            "name": by.display_name if by else "?",
        }
    if reason == "outside_window":
        return {
            "start": _local(visit.window_start, settings, now),
            "end": _local(visit.window_end, settings, now),
        }
    return {}


def refusal_of(
    visit: VisitRow, *, enterprise_id: int, now: datetime, settings: Settings
) -> str | None:
    """Why a genuine, current pass of `visit` would not confirm at `enterprise_id` now
    (an extra visit confirms only once approved, whatever Settings.extra_visit_approval)."""
    return rules.scan_refusal(
        status=visit.status,
        visit_enterprise_id=visit.enterprise_id,
        scanner_enterprise_id=enterprise_id,
        window_start=visit.window_start,
        window_end=visit.window_end,
        tolerance_minutes=settings.window_tolerance_minutes,
        now=now,
        is_extra=visit.is_extra,
        approval=visit.approval,
    )


def as_aware(value: datetime | None, settings: Settings) -> datetime | None:
    """A datetime given without a zone is read in the configured local zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=ZoneInfo(settings.timezone))
    return value


def parse_device_time(text: str | None, settings: Settings) -> datetime | None:
    """The phone's own clock as it sent it (ISO 8601); None if absent or unreadable (it is
    evidence beside the server's time, never a reason to refuse a scan)."""
    if not text or len(text) > 40:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return as_aware(value, settings)


def _request_digest(presented: str) -> str:
    return security.digest("checkin:" + presented.strip())


# --- reading a pass (GET /scan) ------------------------------------------------------------


def preview_scan(
    session: Session, *, viewer: User | None, presented: str, now: datetime, settings: Settings
) -> ScanPreview:
    """What the scan page shows for a presented pass. Reads only: no scan, audit event or
    flag is written (link previews and prefetchers open links too)."""
    presented = presented[:MAX_PRESENTED_LENGTH]
    found = passes.identify(session, presented, now=now, settings=settings)
    if viewer is None:
        kind = "anonymous"
    elif viewer.role == Role.manager:
        kind = "manager"
    else:
        kind = "staff"
    visit = found.visit

    def refused(reason: str, *, show: VisitRow | None = None, own: bool = False) -> ScanPreview:
        message, next_step = REFUSALS[reason]
        return ScanPreview(
            presented=presented,
            viewer=kind,
            own=own,
            refusal=reason,
            message=message,
            params=_refusal_params(session, reason, show, settings=settings, now=now),
            next_step=next_step,
            visit=show,
            can_confirm=False,
            # Nothing went wrong in looking again at a visit already confirmed.
            can_record=kind == "manager" and reason != "already_confirmed",
            enterprise_name=show.enterprise.name if show is not None and own else None,
        )

    if found.refusal is not None or visit is None:
        # Forged, garbled or old: a plain refusal, nothing about any visit.
        return refused(found.refusal or "pass_invalid")
    if kind == "manager":
        assert viewer is not None
        own = viewer.enterprise_id == visit.enterprise_id
        scanner = viewer.enterprise_id if viewer.enterprise_id is not None else -1
        reason = refusal_of(visit, enterprise_id=scanner, now=now, settings=settings)
        if reason is not None:
            # Another enterprise's manager learns nothing about the visit or where it is.
            return refused(reason, show=visit if own else None, own=own)
    elif visit.status == VisitStatus.cancelled:
        return refused("visit_cancelled", show=visit)
    else:
        own = False
    return ScanPreview(
        presented=presented,
        viewer=kind,
        own=own,
        refusal=None,
        message="",
        params={},
        next_step="",
        visit=visit,
        can_confirm=own,
        can_record=False,
        enterprise_name=visit.enterprise.name if own else None,
    )


# --- confirming (POST /scan, POST /api/v1/checkins) ----------------------------------------


def _replayed(session: Session, body: str) -> ScanResult:
    data = json.loads(body)
    visit = None
    if data.get("visit_public_id"):
        visit = rows.load(session, "public_id", data["visit_public_id"])
    confirmed_at = data.get("confirmed_at")
    return ScanResult(
        scan_id=int(data["scan_id"]),
        outcome=ScanOutcome(data["outcome"]),
        reason_code=data.get("reason_code"),
        message=str(data["message"]),
        params=dict(data.get("params") or {}),
        next_step=str(data.get("next_step") or ""),
        confirmed_at=datetime.fromisoformat(confirmed_at) if confirmed_at else None,
        visit=visit,
        replayed=True,
    )


def _body(result: ScanResult) -> dict[str, Any]:
    return {
        "scan_id": result.scan_id,
        "outcome": result.outcome.value,
        "reason_code": result.reason_code,
        "message": result.message,
        "params": result.params,
        "next_step": result.next_step,
        "confirmed_at": result.confirmed_at.isoformat() if result.confirmed_at else None,
        "visit_public_id": result.visit.public_id if result.visit else None,
    }


def _find_replay(
    session: Session, *, actor: User, key: str | None, request_digest: str
) -> ScanResult | None:
    if key is None:
        return None
    record = idempotency.replay(
        session,
        user_id=actor.id,
        scope=IDEMPOTENCY_SCOPE,
        key=key,
        request_digest=request_digest,
    )
    return _replayed(session, record.body) if record is not None else None


def scan_pass(
    session: Session,
    *,
    actor: User,
    presented: str,
    device_time: datetime | None,
    now: datetime,
    settings: Settings,
    idempotency_key: str | None,
) -> ScanResult:
    """A safety manager's confirming scan of a pass (the URL, the token or the short code).

    Every scan is stored, refused ones too, with the reason; a confirmation happens at most
    once per visit; a refusal becomes a flag for the supervisor. A retry carrying the same
    idempotency key gets the first answer again and writes nothing.
    """
    enterprise_id = _manager(actor)
    key = idempotency.check_key(idempotency_key)
    presented = presented[:MAX_PRESENTED_LENGTH]
    request_digest = _request_digest(presented)
    begin_write(session)
    replay = _find_replay(session, actor=actor, key=key, request_digest=request_digest)
    if replay is not None:
        session.rollback()
        return replay

    # The visit is read once, as rows, locked (two confirmations of one pass run one after
    # the other) and with all that the rules and the answer read of it.
    found = passes.identify(session, presented, now=now, settings=settings, lock=True)
    visit = found.visit
    reason = found.refusal
    if reason is None:
        if visit is None:
            reason = "pass_invalid"
        else:
            reason = refusal_of(visit, enterprise_id=enterprise_id, now=now, settings=settings)

    scan = _store_scan(
        session,
        visit_id=visit.id if visit is not None else None,
        enterprise_id=enterprise_id,
        user_id=actor.id,
        scanned_at=now,
        device_time=device_time,
        outcome=ScanOutcome.confirmed if reason is None else ScanOutcome.refused,
        reason_code=reason,
        presented_as=found.kind,
        presented_digest=found.digest,
    )

    if reason is None:
        assert visit is not None
        result = _confirm(session, actor=actor, visit=visit, scan=scan, now=now, settings=settings)
    else:
        result = _refuse(
            session,
            actor=actor,
            visit=visit,
            scan=scan,
            reason=reason,
            enterprise_id=enterprise_id,
            now=now,
            settings=settings,
        )

    if key is not None:
        idempotency.remember(
            session,
            user_id=actor.id,
            scope=IDEMPOTENCY_SCOPE,
            key=key,
            request_digest=request_digest,
            status_code=result.status_code,
            body=_body(result),
            now=now,
        )
    try:
        session.commit()
    except IntegrityError:
        # The same key raced in from a second connection and won: answer with its result.
        session.rollback()
        replay = _find_replay(session, actor=actor, key=key, request_digest=request_digest)
        if replay is None:
            raise
        return replay
    return result


@dataclass(frozen=True)
class _StoredScan:
    id: int
    presented_as: str
    device_time: datetime | None


# Plain statements, built once, through the session's connection: a confirmation writes two
# rows, and the unit of work cost more than the statements. The report summary's queue learns
# of the visit's change from `summary.mark_written` (its hooks see only what goes through the
# ORM).
_INSERT_SCAN = insert(Scan).returning(Scan.id)
_CONFIRM_VISIT = (
    update(Visit)
    .where(Visit.id == bindparam("visit_id"), Visit.status == VisitStatus.registered)
    .values(
        status=VisitStatus.confirmed,
        confirmed_at=bindparam("confirmed_at"),
        confirmed_by_id=bindparam("confirmed_by_id"),
    )
)


def _store_scan(session: Session, **values: Any) -> _StoredScan:
    """Insert one scan (the evidence of what was presented, when and by whom)."""
    scan_id = session.connection().execute(_INSERT_SCAN, values).scalar_one()
    return _StoredScan(scan_id, values["presented_as"], values["device_time"])


def _confirm(
    session: Session,
    *,
    actor: User,
    visit: VisitRow,
    scan: _StoredScan,
    now: datetime,
    settings: Settings,
) -> ScanResult:
    changed = session.connection().execute(
        _CONFIRM_VISIT, {"visit_id": visit.id, "confirmed_at": now, "confirmed_by_id": actor.id}
    )
    if changed.rowcount != 1:
        # The row is locked and was read as registered: a bug, not a race. Nothing of this
        # transaction (the scan) may be committed.
        raise RuntimeError(f"visit {visit.id} changed under its lock")
    summary.mark_written(session, visit.id)
    confirmed: dict[str, Any] = {
        "status": VisitStatus.confirmed,
        "confirmed_at": now,
        "confirmed_by_id": actor.id,
    }
    held = session.identity_map.get(identity_key(Visit, visit.id))
    if held is not None:
        # A copy the session already holds (a script, the demo loader: one session for many
        # use cases) must not keep saying "registered" to what this session reads next.
        for name, value in confirmed.items():
            set_committed_value(held, name, value)
    visit = replace(visit, status=VisitStatus.confirmed, confirmed_at=now, confirmed_by_id=actor.id)
    findings = [
        _extra_visit_finding(session, visit),
        rules.short_notice(visit.registered_at, now, settings.short_notice_minutes),
        *visits_service.confirmation_findings(session, visit=visit, now=now, settings=settings),
    ]
    audit.record(
        session,
        actor_id=actor.id,
        action="visit.confirmed",
        object_type="visit",
        object_id=visit.id,
        visit_id=visit.id,
        now=now,
        data={
            "scan_id": scan.id,
            "enterprise_id": visit.enterprise_id,
            "presented_as": scan.presented_as,
            "device_time": scan.device_time.isoformat() if scan.device_time else None,
        },
    )
    for finding in findings:
        if finding is not None:
            raise_flag(
                session,
                finding=finding,
                dedupe_key=f"visit:{visit.id}",
                agency_id=visit.agency_id,
                now=now,
                actor_id=actor.id,
                enterprise_id=visit.enterprise_id,
                visit_id=visit.id,
                scan_id=scan.id,
            )
    return ScanResult(
        scan_id=scan.id,
        outcome=ScanOutcome.confirmed,
        reason_code=None,
        message="Visit confirmed at %(time)s.",
        params={"time": _local(now, settings, now)},
        next_step="",
        confirmed_at=now,
        visit=visit,
        # Built before the commit: the answer needs no read after it.
        card=visits_service.card_of(visit, now=now, settings=settings),
    )


def _extra_visit_finding(session: Session, visit: VisitRow) -> rules.Finding | None:
    """Rule `extra.needs_approval` at the confirmation: the approval is compared with the
    first scan refused for want of it (the team was at the gate before the approval)."""
    if not visit.is_extra:
        return None
    approved_at = session.scalar(
        select(func.max(VisitDecision.decided_at)).where(
            VisitDecision.visit_id == visit.id, VisitDecision.decision == Approval.approved
        )
    )
    first_refused_at = session.scalar(
        select(func.min(Scan.scanned_at)).where(
            Scan.visit_id == visit.id, Scan.reason_code.in_(_APPROVAL_REFUSALS)
        )
    )
    return rules.extra_visit_at_scan(
        visit.is_extra,
        visit.approval,
        approved_at=approved_at,
        first_refused_at=first_refused_at,
    )


def _refuse(
    session: Session,
    *,
    actor: User,
    visit: VisitRow | None,
    scan: _StoredScan,
    reason: str,
    enterprise_id: int,
    now: datetime,
    settings: Settings,
) -> ScanResult:
    audit.record(
        session,
        actor_id=actor.id,
        action="scan.refused",
        object_type="scan",
        object_id=scan.id,
        visit_id=visit.id if visit is not None else None,
        now=now,
        data={
            "reason": reason,
            "enterprise_id": enterprise_id,
            "presented_as": scan.presented_as,
            "device_time": scan.device_time.isoformat() if scan.device_time else None,
        },
    )
    if visit is not None:
        agency_id = visit.agency_id
    else:
        # Nobody's visit: the flag goes to the agency in charge of the scanning enterprise.
        enterprise = session.get(Enterprise, enterprise_id)
        if enterprise is None:
            raise not_found("enterprise")
        agency_id = enterprise.agency_id
    raise_flag(
        session,
        finding=rules.refused_scan(reason),
        dedupe_key=f"scan:{scan.id}",
        agency_id=agency_id,
        now=now,
        actor_id=actor.id,
        enterprise_id=enterprise_id,
        visit_id=visit.id if visit is not None else None,
        scan_id=scan.id,
    )
    message, next_step = REFUSALS[reason]
    own = visit is not None and reason in _OWN_VISIT_REFUSALS
    return ScanResult(
        scan_id=scan.id,
        outcome=ScanOutcome.refused,
        reason_code=reason,
        message=message,
        params=_refusal_params(session, reason, visit, settings=settings, now=now) if own else {},
        next_step=next_step,
        confirmed_at=None,
        visit=visit if own else None,
    )


# --- the enterprise's own confirmed visits -------------------------------------------------


def _with_details() -> list[Any]:
    return [
        selectinload(Visit.agency),
        selectinload(Visit.items),
        selectinload(Visit.plan_entry),
        selectinload(Visit.team)
        .selectinload(VisitInspector.inspector)
        .selectinload(Inspector.credentials),
    ]


def confirmed_visits(session: Session, *, actor: User, limit: int = 200) -> list[Visit]:
    """The manager's enterprise's confirmed visits, newest first. A registered visit that
    was never scanned is never listed (inspections may be unannounced)."""
    enterprise_id = _manager(actor)
    return list(
        session.scalars(
            select(Visit)
            .where(Visit.enterprise_id == enterprise_id, Visit.status == VisitStatus.confirmed)
            .options(*_with_details())
            .order_by(Visit.confirmed_at.desc(), Visit.id.desc())
            .limit(limit)
        )
    )


def get_confirmed_visit(session: Session, *, actor: User, public_id: str) -> Visit:
    """One confirmed visit of the manager's own enterprise; anything else is not found
    (the visibility rule itself lives in webapp.visits.service.get_visit)."""
    _manager(actor)
    return visits_service.get_visit(session, actor=actor, public_id=public_id)


def reports_of(session: Session, *, actor: User, limit: int = 100) -> list[UnregisteredReport]:
    """The manager's enterprise's unregistered-visit reports, newest first."""
    enterprise_id = _manager(actor)
    return list(
        session.scalars(
            select(UnregisteredReport)
            .where(UnregisteredReport.enterprise_id == enterprise_id)
            .order_by(UnregisteredReport.occurred_at.desc(), UnregisteredReport.id.desc())
            .limit(limit)
        )
    )


def manager_home(session: Session, *, actor: User) -> ManagerHome:
    """Everything the manager's start page shows: confirmed visits and own reports."""
    enterprise_id = _manager(actor)
    enterprise = session.get(Enterprise, enterprise_id)
    if enterprise is None:
        raise not_found("enterprise")
    return ManagerHome(
        enterprise=enterprise,
        visits=confirmed_visits(session, actor=actor),
        reports=reports_of(session, actor=actor),
    )


# --- reporting a visit that showed no valid pass -------------------------------------------


def check_can_report(*, actor: User) -> None:
    """Only an enterprise's safety manager reports a visit (the report form asks this)."""
    _manager(actor)


def report_unregistered(
    session: Session,
    *,
    actor: User,
    occurred_at: datetime | None,
    who: str,
    what_they_said: str,
    now: datetime,
) -> UnregisteredReport:
    """An enterprise reports a visit by people who showed no valid pass (未报备检查); it
    becomes an unregistered-visit flag for the agency in charge of the enterprise."""
    enterprise_id = _manager(actor)
    begin_write(session)
    who = who.strip()
    what_they_said = what_they_said.strip()
    errors: list[FieldError] = []
    if occurred_at is None:
        errors.append(FieldError("occurred_at", "Give the date and time the visit happened."))
    elif occurred_at.tzinfo is None:
        errors.append(FieldError("occurred_at", "Give the time with its time zone (e.g. +08:00)."))
    elif occurred_at > now:
        errors.append(
            FieldError("occurred_at", "That time is in the future: give when the visit happened.")
        )
    elif now - occurred_at > MAX_REPORT_AGE:
        errors.append(FieldError("occurred_at", "That is more than a year ago: check the year."))
    if len(who) < 2:
        errors.append(
            FieldError(
                "who",
                "Say who came: their names, their agency and any credential numbers you saw.",
            )
        )
    elif len(who) > MAX_WHO_LENGTH:
        errors.append(FieldError("who", "Keep this under %(max)s characters.", max=MAX_WHO_LENGTH))
    if len(what_they_said) < 2:
        errors.append(
            FieldError(
                "what_they_said",
                "Say what they said they came to check (write 'nothing' if they said nothing).",
            )
        )
    elif len(what_they_said) > MAX_SAID_LENGTH:
        errors.append(
            FieldError("what_they_said", "Keep this under %(max)s characters.", max=MAX_SAID_LENGTH)
        )
    if errors:
        session.rollback()
        raise validation_error(errors)
    assert occurred_at is not None
    occurred_at = occurred_at.astimezone(UTC)
    enterprise = session.get(Enterprise, enterprise_id)
    if enterprise is None:
        raise not_found("enterprise")

    report = UnregisteredReport(
        enterprise_id=enterprise_id,
        reported_by_id=actor.id,
        occurred_at=occurred_at,
        who=who,
        what_they_said=what_they_said,
        created_at=now,
    )
    session.add(report)
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="report.created",
        object_type="unregistered_report",
        object_id=report.id,
        now=now,
        data={
            "enterprise_id": enterprise_id,
            "occurred_at": occurred_at.isoformat(),
            "who": who,
            "what_they_said": what_they_said,
        },
    )
    raise_flag(
        session,
        finding=rules.unregistered_report_finding(),
        dedupe_key=f"report:{report.id}",
        agency_id=enterprise.agency_id,
        now=now,
        actor_id=actor.id,
        enterprise_id=enterprise_id,
        report_id=report.id,
    )
    session.commit()
    return report
