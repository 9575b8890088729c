"""Each rule: a name, a severity, the flag kind it raises, and a message (English msgid)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from webapp.enums import Approval, CredentialStatus, FlagKind, Severity, VisitStatus
from webapp.errors import FieldError

MIN_VALID_INSPECTORS = 2
MAX_WINDOW = timedelta(hours=24)
MAX_LEAD_TIME = timedelta(days=62)


@dataclass(frozen=True)
class Finding:
    rule: str
    kind: FlagKind
    severity: Severity
    message: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TeamMember:
    """An inspector on a visit, with the credential that would be shown at the gate."""

    inspector_id: int
    name: str
    credential_number: str | None
    credential_status: CredentialStatus | None
    valid_from: date | None
    valid_until: date | None
    # The enforcement fields the credential covers (space-separated; "" = not restricted).
    fields: str = ""
    # The inspector's agency: in a joint visit each agency covers its own items.
    agency_id: int | None = None


@dataclass(frozen=True)
class ItemFact:
    """An item on a visit, as the rules see it."""

    item_id: int
    code: str
    field: str = ""  # the enforcement field a credential must cover; "" = any
    max_per_year: int | None = None
    # The agency covering it in a joint visit; None = the visit's own agency.
    agency_id: int | None = None


def credential_valid(member: TeamMember, first_day: date, last_day: date) -> bool:
    return (
        member.credential_status == CredentialStatus.valid
        and member.valid_from is not None
        and member.valid_until is not None
        and member.valid_from <= first_day
        and member.valid_until >= last_day
    )


def team_credentials(team: Sequence[TeamMember], first_day: date, last_day: date) -> Finding | None:
    """Rule `credentials.two_valid`: at least two inspectors whose credentials are valid on
    every day of the visit's window."""
    invalid = [m.name for m in team if not credential_valid(m, first_day, last_day)]
    valid = len(team) - len(invalid)
    if valid >= MIN_VALID_INSPECTORS:
        return None
    return Finding(
        rule="credentials.two_valid",
        kind=FlagKind.too_few_valid_credentials,
        severity=Severity.serious,
        message="Only %(valid)s inspector(s) with a credential valid on the visit's date; "
        "at least 2 are required. Not valid: %(invalid)s.",
        params={"valid": valid, "invalid": ", ".join(invalid) or "-"},
    )


# Settings.extra_visit_approval: what waits for the supervisor's approval of an extra visit.
GATE_CONFIRM = "confirm"  # the pass is shown, but the enterprise's scan does not confirm
GATE_ISSUE = "issue"  # the pass is not even shown


def extra_visit_at_registration(is_extra: bool, gate: str = GATE_CONFIRM) -> Finding | None:
    """Rule `extra.needs_approval`, as a warning before anyone goes."""
    if not is_extra:
        return None
    return Finding(
        rule="extra.needs_approval",
        kind=FlagKind.extra_unapproved,
        severity=Severity.warning,
        message=(
            "Extra visit (not in the plan): its pass is issued only once a supervisor has "
            "approved it."
            if gate == GATE_ISSUE
            else "Extra visit (not in the plan): the enterprise's scan will not confirm it "
            "until a supervisor has approved it."
        ),
        params={"gate": gate},
    )


def approval_refusal(is_extra: bool, approval: Approval) -> str | None:
    """Rule `extra.needs_approval`, as the gate: the refusal code of an extra visit's pass
    while its approval is pending or was rejected (None: approved, or a planned visit)."""
    if not is_extra or approval in (Approval.approved, Approval.not_required):
        return None
    return "approval_rejected" if approval == Approval.rejected else "approval_pending"


def extra_visit_at_scan(
    is_extra: bool,
    approval: Approval,
    *,
    approved_at: datetime | None = None,
    first_refused_at: datetime | None = None,
) -> Finding | None:
    """Rule `extra.needs_approval`, at the confirming scan.

    The gate (approval_refusal) keeps an unapproved extra visit from confirming; should one
    get through anyway it is a serious flag. An approval given only after the pass had been
    refused at the gate for want of it (`first_refused_at`: the first such refused scan)
    means the team went before the approval: that is flagged too (一律经批准后进行)."""
    if not is_extra:
        return None
    if approval != Approval.approved:
        return Finding(
            rule="extra.needs_approval",
            kind=FlagKind.extra_unapproved,
            severity=Severity.serious,
            message=(
                "Extra visit confirmed although its approval was rejected."
                if approval == Approval.rejected
                else "Extra visit confirmed while its approval was still pending."
            ),
            params={"approval": approval.value},
        )
    if approved_at is None or first_refused_at is None or approved_at < first_refused_at:
        return None
    return Finding(
        rule="extra.needs_approval",
        kind=FlagKind.extra_unapproved,
        severity=Severity.warning,
        message="Extra visit approved only %(minutes)s minutes after its pass had been refused "
        "at the gate for want of approval: the team went before the approval.",
        params={
            "approval": approval.value,
            "minutes": int((approved_at - first_refused_at).total_seconds() // 60),
        },
    )


def short_notice(
    registered_at: datetime, scanned_at: datetime, threshold_minutes: int
) -> Finding | None:
    """Rule `timing.short_notice`: registered only minutes before its confirming scan."""
    lead = scanned_at - registered_at
    if lead >= timedelta(minutes=threshold_minutes):
        return None
    return Finding(
        rule="timing.short_notice",
        kind=FlagKind.short_notice,
        severity=Severity.warning,
        message="Registered only %(minutes)s minutes before its scan (less than %(threshold)s).",
        params={"minutes": int(lead.total_seconds() // 60), "threshold": threshold_minutes},
    )


def short_notice_at_registration(
    now: datetime, window_start: datetime, threshold_minutes: int
) -> Finding | None:
    """Rule `timing.short_notice`, before anyone goes: a window that starts within the
    threshold may well be scanned within it, which is flagged."""
    if window_start - now >= timedelta(minutes=threshold_minutes):
        return None
    return Finding(
        rule="timing.short_notice",
        kind=FlagKind.short_notice,
        severity=Severity.warning,
        message="The window starts less than %(threshold)s minutes from now: a scan less than "
        "%(threshold)s minutes after registering is flagged as short notice.",
        params={"threshold": threshold_minutes},
    )


def confirmed_outside_window(
    window_start: datetime, window_end: datetime, confirmed_at: datetime
) -> Finding | None:
    """Rule `timing.outside_window`: confirmed inside the tolerance but outside the window
    proper (a scan outside the tolerance is refused, not confirmed)."""
    if window_start <= confirmed_at <= window_end:
        return None
    early = confirmed_at < window_start
    gap = window_start - confirmed_at if early else confirmed_at - window_end
    return Finding(
        rule="timing.outside_window",
        kind=FlagKind.confirmed_outside_window,
        severity=Severity.warning,
        message=(
            "Confirmed %(minutes)s minutes before its window started (within the tolerance)."
            if early
            else "Confirmed %(minutes)s minutes after its window ended (within the tolerance)."
        ),
        params={"minutes": max(1, int(gap.total_seconds() // 60)), "early": early},
    )


def credential_fields(
    team: Sequence[TeamMember], items: Sequence[ItemFact], *, host_agency_id: int
) -> Finding | None:
    """Rule `credentials.field`: an inspector whose credential is restricted to some fields
    covers an item of another field. In a joint visit each inspector covers their own
    agency's items (an item without a covering agency is the visit's own agency's)."""
    problems: list[str] = []
    for member in team:
        allowed = set(member.fields.split())
        if not allowed:
            continue  # an unrestricted credential covers every field
        for item in items:
            covering = item.agency_id if item.agency_id is not None else host_agency_id
            if member.agency_id is not None and covering != member.agency_id:
                continue
            if item.field and item.field not in allowed:
                problems.append(f"{member.name}: {item.code} ({item.field})")
    if not problems:
        return None
    return Finding(
        rule="credentials.field",
        kind=FlagKind.credential_field,
        severity=Severity.warning,
        message="A credential does not cover the field of an item its holder checks: %(problems)s.",
        params={"problems": "; ".join(problems)},
    )


def window_passed_unconfirmed(
    status: VisitStatus, window_end: datetime, tolerance_minutes: int, now: datetime
) -> Finding | None:
    """Rule `timing.unconfirmed`: the window (plus tolerance) passed with no confirmation."""
    if status != VisitStatus.registered:
        return None
    if now <= window_end + timedelta(minutes=tolerance_minutes):
        return None
    return Finding(
        rule="timing.unconfirmed",
        kind=FlagKind.window_passed_unconfirmed,
        severity=Severity.warning,
        message="The visit's window passed and the enterprise never confirmed it.",
    )


def scan_refusal(
    *,
    status: VisitStatus,
    visit_enterprise_id: int,
    scanner_enterprise_id: int,
    window_start: datetime,
    window_end: datetime,
    tolerance_minutes: int,
    now: datetime,
    is_extra: bool = False,
    approval: Approval = Approval.not_required,
) -> str | None:
    """Rule `pass.confirms_once_here_now`: the refusal code for a genuine, current pass,
    or None when it confirms. Order matters: the most useful reason first; an extra visit
    waiting for (or refused) its approval comes last, once the pass is otherwise good."""
    if status == VisitStatus.cancelled:
        return "visit_cancelled"
    if visit_enterprise_id != scanner_enterprise_id:
        return "wrong_enterprise"
    if status == VisitStatus.confirmed:
        return "already_confirmed"
    tolerance = timedelta(minutes=tolerance_minutes)
    if not (window_start - tolerance <= now <= window_end + tolerance):
        return "outside_window"
    return approval_refusal(is_extra, approval)


# Refusal codes of a scan whose refusal is itself serious (a forgery, a pass shown at the
# wrong gate, a cancelled visit presented anyway); the others are warnings.
SERIOUS_REFUSALS = frozenset({"wrong_enterprise", "pass_invalid", "visit_cancelled"})

_REFUSED_SCAN_MESSAGES = {
    "pass_invalid": "Refused scan: the pass was not genuine (forged, garbled or unknown).",
    "pass_expired": "Refused scan: the pass was an old code (a screenshot or a photo sent on).",
    "wrong_enterprise": "Refused scan: the pass of a visit at another enterprise was scanned.",
    "already_confirmed": "Refused scan: the visit had already been confirmed.",
    "outside_window": "Refused scan: scanned outside the visit's registered time window.",
    "visit_cancelled": "Refused scan: the visit had been cancelled.",
    "approval_pending": "Refused scan: the extra visit was still waiting for its approval.",
    "approval_rejected": "Refused scan: the extra visit's approval had been rejected.",
}


def refused_scan(reason_code: str) -> Finding:
    """Rule `pass.refused`: every refused scan is shown to the supervisor, with its reason."""
    return Finding(
        rule="pass.refused",
        kind=FlagKind.refused_scan,
        severity=Severity.serious if reason_code in SERIOUS_REFUSALS else Severity.warning,
        message=_REFUSED_SCAN_MESSAGES.get(reason_code, "Refused scan (reason: %(reason)s)."),
        params={"reason": reason_code},
    )


def unregistered_report_finding() -> Finding:
    """Rule `report.unregistered`: an enterprise reported a visit that showed no valid pass."""
    return Finding(
        rule="report.unregistered",
        kind=FlagKind.unregistered_report,
        severity=Severity.serious,
        message="The enterprise reported a visit by people who showed no valid pass.",
    )


def validate_registration(
    *,
    window_start: datetime | None,
    window_end: datetime | None,
    now: datetime,
    inspector_count: int,
    item_count: int,
    is_extra: bool,
    extra_reason_given: bool,
    extra_text: str,
) -> list[FieldError]:
    """What makes a registration impossible (a refusal, not a warning)."""
    errors: list[FieldError] = []
    if window_start is None:
        errors.append(FieldError("window_start", "Give the start of the visit's time window."))
    if window_end is None:
        errors.append(FieldError("window_end", "Give the end of the visit's time window."))
    if window_start and window_end:
        if window_end <= window_start:
            errors.append(FieldError("window_end", "The window must end after it starts."))
        elif window_end - window_start > MAX_WINDOW:
            errors.append(
                FieldError("window_end", "A window can be at most 24 hours; register each day.")
            )
        if window_end <= now:
            errors.append(
                FieldError("window_end", "The window is already over: register before you go.")
            )
        if window_start - now > MAX_LEAD_TIME:
            errors.append(
                FieldError("window_start", "The window starts more than 62 days from now.")
            )
    if inspector_count < MIN_VALID_INSPECTORS:
        errors.append(
            FieldError(
                "inspectors",
                "At least 2 inspectors take part in an inspection: add a co-inspector.",
            )
        )
    if item_count == 0:
        errors.append(FieldError("items", "Choose at least one item from the item list."))
    if is_extra:
        if not extra_reason_given:
            errors.append(
                FieldError(
                    "extra_reason",
                    "Choose a plan entry, or for an extra visit choose its reason.",
                )
            )
        if len(extra_text.strip()) < 4:
            errors.append(
                FieldError(
                    "extra_reason_text",
                    "Describe the reason for the extra visit (at least 4 characters).",
                )
            )
    return errors


def registration_findings(
    *,
    team: Sequence[TeamMember],
    first_day: date,
    last_day: date,
    is_extra: bool,
    gate: str = GATE_CONFIRM,
    items: Sequence[ItemFact] = (),
    host_agency_id: int | None = None,
) -> list[Finding]:
    """What registration warns about from the visit alone (its team, items and basis); the
    rules over the enterprise's other visits are in webapp.rules.history."""
    found = [
        team_credentials(team, first_day, last_day),
        extra_visit_at_registration(is_extra, gate),
        credential_fields(team, items, host_agency_id=host_agency_id)
        if host_agency_id is not None
        else None,
    ]
    return [f for f in found if f is not None]
