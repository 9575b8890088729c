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


# --- extra visits: the approval gate and a late approval --------------------------------------


@pytest.mark.parametrize(
    ("is_extra", "approval", "code"),
    [
        (True, Approval.pending, "approval_pending"),
        (True, Approval.rejected, "approval_rejected"),
        (True, Approval.approved, None),
        (False, Approval.not_required, None),
    ],
)
def test_approval_refusal(is_extra: bool, approval: Approval, code: str | None) -> None:
    assert core.approval_refusal(is_extra, approval) == code


def test_scan_of_an_unapproved_extra_visit_is_refused_last() -> None:
    assert _refusal(is_extra=True, approval=Approval.pending) == "approval_pending"
    assert _refusal(is_extra=True, approval=Approval.rejected) == "approval_rejected"
    assert _refusal(is_extra=True, approval=Approval.approved) is None
    # A more useful reason first: outside the window, another enterprise.
    late = NOW + timedelta(hours=4)
    assert _refusal(is_extra=True, approval=Approval.pending, now=late) == "outside_window"
    assert (
        _refusal(is_extra=True, approval=Approval.pending, scanner_enterprise_id=2)
        == "wrong_enterprise"
    )


def test_registration_warning_follows_the_gate() -> None:
    confirm = core.extra_visit_at_registration(True, core.GATE_CONFIRM)
    issue = core.extra_visit_at_registration(True, core.GATE_ISSUE)
    assert confirm is not None
    assert issue is not None
    assert "will not confirm it" in confirm.message
    assert "pass is issued only once" in issue.message


def test_extra_visit_approved_after_a_refused_scan_is_flagged() -> None:
    refused = NOW
    finding = core.extra_visit_at_scan(
        True,
        Approval.approved,
        approved_at=refused + timedelta(minutes=25),
        first_refused_at=refused,
    )
    assert finding is not None
    assert (finding.rule, finding.kind, finding.severity) == (
        "extra.needs_approval",
        FlagKind.extra_unapproved,
        Severity.warning,
    )
    assert finding.params == {"approval": "approved", "minutes": 25}
    assert finding.message % finding.params


@pytest.mark.parametrize(
    ("approved_at", "first_refused_at"),
    [
        (NOW, None),  # approved, never refused at the gate
        (NOW - timedelta(minutes=1), NOW),  # approved before the refusal (a race)
        (None, NOW),  # approval time unknown
    ],
)
def test_extra_visit_approved_in_time_is_not_flagged(
    approved_at: datetime | None, first_refused_at: datetime | None
) -> None:
    assert (
        core.extra_visit_at_scan(
            True, Approval.approved, approved_at=approved_at, first_refused_at=first_refused_at
        )
        is None
    )


# --- timing: short notice at registration, confirmed outside the window -----------------------


def test_short_notice_at_registration() -> None:
    finding = core.short_notice_at_registration(NOW, NOW + timedelta(minutes=29), 30)
    assert finding is not None
    assert (finding.rule, finding.kind) == ("timing.short_notice", FlagKind.short_notice)
    assert finding.message % finding.params
    assert core.short_notice_at_registration(NOW, NOW + timedelta(minutes=30), 30) is None
    assert core.short_notice_at_registration(NOW, NOW + timedelta(hours=5), 30) is None


def test_confirmed_outside_the_window_proper() -> None:
    start, end = NOW, NOW + timedelta(hours=3)
    early = core.confirmed_outside_window(start, end, start - timedelta(minutes=12))
    assert early is not None
    assert (early.rule, early.kind, early.severity) == (
        "timing.outside_window",
        FlagKind.confirmed_outside_window,
        Severity.warning,
    )
    assert early.params == {"minutes": 12, "early": True}
    assert "before its window started" in early.message
    late = core.confirmed_outside_window(start, end, end + timedelta(minutes=20))
    assert late is not None
    assert late.params == {"minutes": 20, "early": False}
    assert "after its window ended" in late.message


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(hours=1), timedelta(hours=3)])
def test_confirmed_inside_the_window(offset: timedelta) -> None:
    assert core.confirmed_outside_window(NOW, NOW + timedelta(hours=3), NOW + offset) is None


# --- credentials.field ------------------------------------------------------------------------


def fielded(name: str, fields: str, agency_id: int | None = None) -> core.TeamMember:
    return core.TeamMember(
        inspector_id=hash(name) % 1000,
        name=name,
        credential_number="JZ1",
        credential_status=CredentialStatus.valid,
        valid_from=date(2025, 1, 1),
        valid_until=date(2027, 12, 31),
        fields=fields,
        agency_id=agency_id,
    )


def test_a_credential_not_covering_an_items_field() -> None:
    team = [fielded("Alice", "hazchem"), fielded("Bob", "mining industry_trade")]
    items = [core.ItemFact(1, "WH-001", field="hazchem"), core.ItemFact(2, "AQ-001", field="")]
    finding = core.credential_fields(team, items, host_agency_id=1)
    assert finding is not None
    assert (finding.rule, finding.kind, finding.severity) == (
        "credentials.field",
        FlagKind.credential_field,
        Severity.warning,
    )
    assert finding.params == {"problems": "Bob: WH-001 (hazchem)"}
    assert finding.message % finding.params


@pytest.mark.parametrize(
    ("team", "items"),
    [
        # Unrestricted credentials ("" = older credentials carry no field) cover everything.
        ([fielded("Alice", ""), fielded("Bob", "")], [core.ItemFact(1, "WH-001", field="hazchem")]),
        # Items of any field ("") need no particular credential.
        ([fielded("Alice", "mining")], [core.ItemFact(1, "AQ-001", field="")]),
        ([fielded("Alice", "hazchem mining")], [core.ItemFact(1, "WH-001", field="hazchem")]),
    ],
)
def test_credentials_covering_their_items(
    team: list[core.TeamMember], items: list[core.ItemFact]
) -> None:
    assert core.credential_fields(team, items, host_agency_id=1) is None


def test_in_a_joint_visit_each_agency_covers_its_own_items() -> None:
    host, guest = 1, 2
    team = [fielded("Alice", "hazchem", host), fielded("Dave", "mining", guest)]
    items = [
        core.ItemFact(1, "WH-001", field="hazchem"),  # the host's item (agency None)
        core.ItemFact(2, "KS-001", field="mining", agency_id=guest),
    ]
    assert core.credential_fields(team, items, host_agency_id=host) is None
    wrong = [*items, core.ItemFact(3, "WH-002", field="hazchem", agency_id=guest)]
    finding = core.credential_fields(team, wrong, host_agency_id=host)
    assert finding is not None
    assert finding.params == {"problems": "Dave: WH-002 (hazchem)"}


def test_registration_findings_include_the_credential_field() -> None:
    team = [fielded("Alice", "mining"), fielded("Bob", "")]
    items = [core.ItemFact(1, "WH-001", field="hazchem")]
    found = core.registration_findings(
        team=team, first_day=TODAY, last_day=TODAY, is_extra=False, items=items, host_agency_id=1
    )
    assert [f.rule for f in found] == ["credentials.field"]
