"""The pure rules the check-in adds: refused_scan and unregistered_report_finding."""

from __future__ import annotations

import pytest

from webapp import rules
from webapp.checkin.service import REFUSALS
from webapp.enums import FlagKind, Severity

SERIOUS = ["wrong_enterprise", "pass_invalid", "visit_cancelled"]
WARNING = ["pass_expired", "already_confirmed", "outside_window"]


@pytest.mark.parametrize("reason", SERIOUS + WARNING)
def test_refused_scan_names_its_reason(reason: str) -> None:
    finding = rules.refused_scan(reason)
    assert finding.kind == FlagKind.refused_scan
    assert finding.rule == "pass.refused"
    assert finding.params == {"reason": reason}
    assert finding.message.startswith("Refused scan: ")
    assert finding.severity == (Severity.serious if reason in SERIOUS else Severity.warning)


def test_each_refusal_has_its_own_plain_message() -> None:
    messages = {rules.refused_scan(r).message for r in SERIOUS + WARNING}
    assert len(messages) == 6


def test_an_unknown_reason_still_makes_a_readable_flag() -> None:
    finding = rules.refused_scan("something_new")
    assert finding.severity == Severity.warning
    assert finding.message % finding.params == "Refused scan (reason: something_new)."


def test_unregistered_report_finding() -> None:
    finding = rules.unregistered_report_finding()
    assert finding.kind == FlagKind.unregistered_report
    assert finding.severity == Severity.serious
    assert "no valid pass" in finding.message


def test_every_refusal_code_has_words_for_the_manager() -> None:
    assert set(REFUSALS) == {*SERIOUS, *WARNING, "approval_pending", "approval_rejected"}
    for message, next_step in REFUSALS.values():
        assert message
        assert next_step
