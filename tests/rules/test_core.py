"""Each rule of webapp/rules/core.py: the cases that trigger it and the cases that must not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from webapp.enums import Approval, CredentialStatus, FlagKind, Severity, VisitStatus
from webapp.rules import core

NOW = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)
TODAY = date(2026, 11, 16)


def member(
    name: str = "Alice",
    *,
    status: CredentialStatus | None = CredentialStatus.valid,
    valid_from: date | None = date(2025, 1, 1),
    valid_until: date | None = date(2027, 12, 31),
    number: str | None = "JZ1",
) -> core.TeamMember:
    return core.TeamMember(
        inspector_id=hash(name) % 1000,
        name=name,
        credential_number=number,
        credential_status=status,
        valid_from=valid_from,
        valid_until=valid_until,
    )


# --- credential_valid -------------------------------------------------------------------


def test_credential_valid_on_every_day_of_the_window() -> None:
    m = member(valid_from=date(2026, 11, 16), valid_until=date(2026, 11, 17))
    assert core.credential_valid(m, TODAY, TODAY)  # first day of validity
    assert core.credential_valid(m, date(2026, 11, 17), date(2026, 11, 17))  # last day
    assert core.credential_valid(m, TODAY, date(2026, 11, 17))


@pytest.mark.parametrize(
    ("m", "first", "last"),
    [
        (member(valid_until=date(2026, 11, 15)), TODAY, TODAY),  # expired yesterday
        (member(valid_from=date(2026, 11, 17)), TODAY, TODAY),  # not yet valid
        (member(valid_until=date(2026, 11, 16)), TODAY, date(2026, 11, 17)),  # expires midway
        (member(status=CredentialStatus.suspended), TODAY, TODAY),
        (member(status=CredentialStatus.revoked), TODAY, TODAY),
        (member(status=None, valid_from=None, valid_until=None, number=None), TODAY, TODAY),
        (member(valid_from=None), TODAY, TODAY),
        (member(valid_until=None), TODAY, TODAY),
    ],
)
def test_credential_not_valid(m: core.TeamMember, first: date, last: date) -> None:
    assert not core.credential_valid(m, first, last)


# --- team_credentials -------------------------------------------------------------------


def test_two_valid_inspectors_pass() -> None:
    assert core.team_credentials([member("A"), member("B")], TODAY, TODAY) is None
    # Two valid and one expired: still two valid.
    team = [member("A"), member("B"), member("C", valid_until=date(2020, 1, 1))]
    assert core.team_credentials(team, TODAY, TODAY) is None


@pytest.mark.parametrize(
    ("team", "valid", "invalid"),
    [
        ([member("A")], 1, "-"),
        ([], 0, "-"),
        ([member("A"), member("Carol", valid_until=date(2026, 11, 15))], 1, "Carol"),
        (
            [member("X", status=CredentialStatus.suspended), member("Y", valid_until=None)],
            0,
            "X, Y",
        ),
    ],
)
def test_fewer_than_two_valid_is_a_serious_finding(
    team: list[core.TeamMember], valid: int, invalid: str
) -> None:
    finding = core.team_credentials(team, TODAY, TODAY)
    assert finding is not None
    assert finding.rule == "credentials.two_valid"
    assert finding.kind == FlagKind.too_few_valid_credentials
    assert finding.severity == Severity.serious
    assert finding.params == {"valid": valid, "invalid": invalid}
    assert finding.message % finding.params  # the message takes its parameters


# --- extra visits -----------------------------------------------------------------------


def test_extra_visit_at_registration() -> None:
    assert core.extra_visit_at_registration(False) is None
    finding = core.extra_visit_at_registration(True)
    assert finding is not None
    assert finding.rule == "extra.needs_approval"
    assert finding.kind == FlagKind.extra_unapproved
    assert finding.severity == Severity.warning


@pytest.mark.parametrize("approval", [Approval.pending, Approval.rejected])
def test_extra_visit_scanned_before_approval_is_serious(approval: Approval) -> None:
    finding = core.extra_visit_at_scan(True, approval)
    assert finding is not None
    assert finding.kind == FlagKind.extra_unapproved
    assert finding.severity == Severity.serious
    assert finding.params == {"approval": approval.value}


@pytest.mark.parametrize(
    ("is_extra", "approval"),
    [(True, Approval.approved), (False, Approval.not_required), (False, Approval.pending)],
)
def test_approved_or_planned_visit_scanned_is_fine(is_extra: bool, approval: Approval) -> None:
    assert core.extra_visit_at_scan(is_extra, approval) is None


# --- short notice -----------------------------------------------------------------------


def test_short_notice() -> None:
    registered = NOW
    assert core.short_notice(registered, NOW + timedelta(minutes=30), 30) is None  # exactly
    assert core.short_notice(registered, NOW + timedelta(hours=5), 30) is None
    finding = core.short_notice(registered, NOW + timedelta(minutes=29, seconds=59), 30)
    assert finding is not None
    assert finding.rule == "timing.short_notice"
    assert finding.kind == FlagKind.short_notice
    assert finding.severity == Severity.warning
    assert finding.params == {"minutes": 29, "threshold": 30}
    # A threshold of 0 flags nothing.
    assert core.short_notice(registered, NOW, 0) is None


# --- window passed unconfirmed ------------------------------------------------------------


def test_window_passed_unconfirmed() -> None:
    end = NOW
    late = NOW + timedelta(minutes=31)
    finding = core.window_passed_unconfirmed(VisitStatus.registered, end, 30, late)
    assert finding is not None
    assert finding.rule == "timing.unconfirmed"
    assert finding.kind == FlagKind.window_passed_unconfirmed
    # Within the tolerance, or confirmed, or cancelled: nothing.
    on_time = NOW + timedelta(minutes=30)
    assert core.window_passed_unconfirmed(VisitStatus.registered, end, 30, on_time) is None
    assert core.window_passed_unconfirmed(VisitStatus.confirmed, end, 30, late) is None
    assert core.window_passed_unconfirmed(VisitStatus.cancelled, end, 30, late) is None


# --- scan refusal -----------------------------------------------------------------------


def _refusal(**changes: object) -> str | None:
    args: dict[str, object] = {
        "status": VisitStatus.registered,
        "visit_enterprise_id": 1,
        "scanner_enterprise_id": 1,
        "window_start": NOW,
        "window_end": NOW + timedelta(hours=3),
        "tolerance_minutes": 30,
        "now": NOW + timedelta(hours=1),
    }
    args.update(changes)
    return core.scan_refusal(**args)  # type: ignore[arg-type]


def test_scan_confirms_its_own_visit_here_within_the_window() -> None:
    assert _refusal() is None
    assert _refusal(now=NOW - timedelta(minutes=30)) is None  # tolerance before
    assert _refusal(now=NOW + timedelta(hours=3, minutes=30)) is None  # tolerance after


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"status": VisitStatus.cancelled}, "visit_cancelled"),
        ({"scanner_enterprise_id": 2}, "wrong_enterprise"),
        ({"status": VisitStatus.confirmed}, "already_confirmed"),
        ({"now": NOW - timedelta(minutes=31)}, "outside_window"),
        ({"now": NOW + timedelta(hours=3, minutes=31)}, "outside_window"),
        # The most useful reason first: a cancelled visit at the wrong gate is "cancelled",
        # a confirmed one at the wrong gate is "wrong enterprise".
        ({"status": VisitStatus.cancelled, "scanner_enterprise_id": 2}, "visit_cancelled"),
        ({"status": VisitStatus.confirmed, "scanner_enterprise_id": 2}, "wrong_enterprise"),
        ({"status": VisitStatus.confirmed, "now": NOW + timedelta(days=1)}, "already_confirmed"),
    ],
)
def test_scan_refusals(changes: dict[str, object], code: str) -> None:
    assert _refusal(**changes) == code


# --- refused scans and unregistered reports as findings ---------------------------------


@pytest.mark.parametrize(
    ("reason", "severity"),
    [
        ("pass_invalid", Severity.serious),
        ("wrong_enterprise", Severity.serious),
        ("visit_cancelled", Severity.serious),
        ("pass_expired", Severity.warning),
        ("already_confirmed", Severity.warning),
        ("outside_window", Severity.warning),
    ],
)
def test_refused_scan_finding(reason: str, severity: Severity) -> None:
    finding = core.refused_scan(reason)
    assert finding.rule == "pass.refused"
    assert finding.kind == FlagKind.refused_scan
    assert finding.severity == severity
    assert finding.params == {"reason": reason}
    assert "%(reason)s" not in finding.message  # a specific message for a known reason


def test_refused_scan_with_an_unknown_reason_names_it() -> None:
    finding = core.refused_scan("something_new")
    assert finding.severity == Severity.warning
    assert finding.message % finding.params == "Refused scan (reason: something_new)."


def test_unregistered_report_finding() -> None:
    finding = core.unregistered_report_finding()
    assert finding.rule == "report.unregistered"
    assert finding.kind == FlagKind.unregistered_report
    assert finding.severity == Severity.serious


# --- validate_registration --------------------------------------------------------------


def _validate(**changes: object) -> dict[str, list[str]]:
    args: dict[str, object] = {
        "window_start": NOW + timedelta(hours=1),
        "window_end": NOW + timedelta(hours=4),
        "now": NOW,
        "inspector_count": 2,
        "item_count": 1,
        "is_extra": False,
        "extra_reason_given": False,
        "extra_text": "",
    }
    args.update(changes)
    found: dict[str, list[str]] = {}
    for error in core.validate_registration(**args):  # type: ignore[arg-type]
        found.setdefault(error.field, []).append(error.message)
    return found


def test_a_complete_registration_has_no_errors() -> None:
    assert _validate() == {}
    assert _validate(is_extra=True, extra_reason_given=True, extra_text="Hotline 12345") == {}
    # A window already under way (started, not over) may still be registered.
    assert _validate(window_start=NOW - timedelta(hours=1)) == {}
    assert _validate(window_end=NOW + timedelta(hours=25)) == {}  # exactly 24 h
    assert (
        _validate(
            window_start=NOW + timedelta(days=62), window_end=NOW + timedelta(days=62, hours=1)
        )
        == {}
    )


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"window_start": None}, "window_start", "start"),
        ({"window_end": None}, "window_end", "end"),
        ({"window_end": NOW + timedelta(hours=1)}, "window_end", "end after it starts"),
        ({"window_end": NOW + timedelta(minutes=30)}, "window_end", "end after it starts"),
        ({"window_end": NOW + timedelta(hours=25, minutes=1)}, "window_end", "24 hours"),
        (
            {"window_start": NOW - timedelta(hours=3), "window_end": NOW},
            "window_end",
            "already over",
        ),
        (
            {
                "window_start": NOW + timedelta(days=63),
                "window_end": NOW + timedelta(days=63, hours=1),
            },
            "window_start",
            "62 days",
        ),
        ({"inspector_count": 1}, "inspectors", "At least 2"),
        ({"inspector_count": 0}, "inspectors", "At least 2"),
        ({"item_count": 0}, "items", "at least one item"),
        ({"is_extra": True, "extra_text": "Hotline 12345"}, "extra_reason", "reason"),
        (
            {"is_extra": True, "extra_reason_given": True, "extra_text": " ab "},
            "extra_reason_text",
            "at least 4",
        ),
    ],
)
def test_each_registration_error(changes: dict[str, object], field: str, text: str) -> None:
    errors = _validate(**changes)
    assert field in errors, errors
    assert any(text in message for message in errors[field])


def test_extra_text_is_not_required_for_a_planned_visit() -> None:
    assert "extra_reason_text" not in _validate(is_extra=False, extra_text="")
    assert "extra_reason" not in _validate(is_extra=False, extra_reason_given=False)


def test_several_errors_at_once() -> None:
    errors = _validate(window_start=None, window_end=None, inspector_count=1, item_count=0)
    assert set(errors) == {"window_start", "window_end", "inspectors", "items"}


# --- registration_findings ----------------------------------------------------------------


def test_registration_findings() -> None:
    good = [member("A"), member("B")]
    assert (
        core.registration_findings(team=good, first_day=TODAY, last_day=TODAY, is_extra=False) == []
    )
    extra = core.registration_findings(team=good, first_day=TODAY, last_day=TODAY, is_extra=True)
    assert [f.rule for f in extra] == ["extra.needs_approval"]
    both = core.registration_findings(
        team=[member("A"), member("C", valid_until=date(2026, 11, 1))],
        first_day=TODAY,
        last_day=TODAY,
        is_extra=True,
    )
    assert [f.rule for f in both] == ["credentials.two_valid", "extra.needs_approval"]
