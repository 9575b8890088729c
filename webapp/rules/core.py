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


def extra_visit_at_registration(is_extra: bool) -> Finding | None:
    """Rule `extra.needs_approval`, as a warning before anyone goes."""
    if not is_extra:
        return None
    return Finding(
        rule="extra.needs_approval",
        kind=FlagKind.extra_unapproved,
        severity=Severity.warning,
        message="Extra visit (not in the plan): it needs a supervisor's approval before the "
        "enterprise scans the pass, or it will be flagged.",
    )


def extra_visit_at_scan(is_extra: bool, approval: Approval) -> Finding | None:
    """Rule `extra.needs_approval`, at the confirming scan: not approved yet is a flag."""
    if not is_extra or approval == Approval.approved:
        return None
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
) -> str | None:
    """Rule `pass.confirms_once_here_now`: the refusal code for a genuine, current pass,
    or None when it confirms. Order matters: the most useful reason first."""
    if status == VisitStatus.cancelled:
        return "visit_cancelled"
    if visit_enterprise_id != scanner_enterprise_id:
        return "wrong_enterprise"
    if status == VisitStatus.confirmed:
        return "already_confirmed"
    tolerance = timedelta(minutes=tolerance_minutes)
    if not (window_start - tolerance <= now <= window_end + tolerance):
        return "outside_window"
    return None


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
    *, team: Sequence[TeamMember], first_day: date, last_day: date, is_extra: bool
) -> list[Finding]:
    """Everything registration warns about before anyone goes."""
    found = [
        team_credentials(team, first_day, last_day),
        extra_visit_at_registration(is_extra),
    ]
    return [f for f in found if f is not None]
