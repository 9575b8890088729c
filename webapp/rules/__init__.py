"""The rules: pure functions from a visit and the facts around it to findings.

No I/O and no clock here: "now" and every fact are passed in. The same rules speak at
registration (warnings, before anyone goes) and afterwards (flags for the supervisor).
"""

from webapp.rules.core import (
    Finding,
    ItemFact,
    TeamMember,
    approval_refusal,
    confirmed_outside_window,
    credential_fields,
    extra_visit_at_registration,
    extra_visit_at_scan,
    refused_scan,
    registration_findings,
    scan_refusal,
    short_notice,
    short_notice_at_registration,
    team_credentials,
    unregistered_report_finding,
    validate_registration,
    window_passed_unconfirmed,
)
from webapp.rules.history import (
    EntryFact,
    VisitFact,
    item_frequency,
    merge_candidate,
    over_cap,
    visits_this_year,
)

__all__ = [
    "EntryFact",
    "Finding",
    "ItemFact",
    "TeamMember",
    "VisitFact",
    "approval_refusal",
    "confirmed_outside_window",
    "credential_fields",
    "extra_visit_at_registration",
    "extra_visit_at_scan",
    "item_frequency",
    "merge_candidate",
    "over_cap",
    "refused_scan",
    "registration_findings",
    "scan_refusal",
    "short_notice",
    "short_notice_at_registration",
    "team_credentials",
    "unregistered_report_finding",
    "validate_registration",
    "visits_this_year",
    "window_passed_unconfirmed",
]
