"""The rules: pure functions from a visit and the facts around it to findings.

No I/O and no clock here: "now" and every fact are passed in. The same rules speak at
registration (warnings, before anyone goes) and afterwards (flags for the supervisor).
"""

from webapp.rules.core import (
    Finding,
    TeamMember,
    extra_visit_at_registration,
    extra_visit_at_scan,
    refused_scan,
    registration_findings,
    scan_refusal,
    short_notice,
    team_credentials,
    unregistered_report_finding,
    validate_registration,
    window_passed_unconfirmed,
)

__all__ = [
    "Finding",
    "TeamMember",
    "extra_visit_at_registration",
    "extra_visit_at_scan",
    "refused_scan",
    "registration_findings",
    "scan_refusal",
    "short_notice",
    "team_credentials",
    "unregistered_report_finding",
    "validate_registration",
    "window_passed_unconfirmed",
]
