"""Words for every closed vocabulary, as English msgids (translated where shown)."""

from __future__ import annotations

from enum import StrEnum

VISIT_STATUS_LABELS = {
    "registered": "Registered",
    "confirmed": "Confirmed",
    "cancelled": "Cancelled",
}
APPROVAL_LABELS = {
    "not_required": "Planned (no approval needed)",
    "pending": "Pending approval",
    "approved": "Approved",
    "rejected": "Rejected",
}
EXTRA_REASON_LABELS = {
    "complaint": "Complaint or hotline report",
    "referral": "Referral or assignment from a higher office",
    "accident": "Accident or emergency",
    "remote_clue": "Clue from remote monitoring",
    "recheck": "Re-check of ordered rectification",
    "enterprise_request": "Request by the enterprise",
    "special_campaign": "Special campaign",
    "licensing_check": "Licensing site check",
}
FLAG_KIND_LABELS = {
    "extra_unapproved": "Extra visit not approved before its scan",
    "unregistered_report": "Unregistered-visit report",
    "window_passed_unconfirmed": "Window passed unconfirmed",
    "refused_scan": "Refused scan",
    "too_few_valid_credentials": "Fewer than two inspectors with valid credentials",
    "short_notice": "Registered only minutes before its scan",
    "merge_candidate": "Merge candidate: several teams at one enterprise in one month",
    "over_cap": "Over the enterprise's yearly cap",
    "item_frequency": "Item checked more often than the item list allows",
    "credential_field": "Credential does not cover an item's field",
    "confirmed_outside_window": "Confirmed outside its window (within the tolerance)",
    "plan_duplicate": "Plan puts one enterprise twice into one month",
    "major_hazard_overdue": "Major hazard not rectified by its deadline",
}
SEVERITY_LABELS = {"info": "Info", "warning": "Warning", "serious": "Serious"}
CREDENTIAL_STATUS_LABELS = {"valid": "valid", "suspended": "suspended", "revoked": "revoked"}
SCAN_OUTCOME_LABELS = {"confirmed": "Confirmed", "refused": "Refused"}
REFUSAL_LABELS = {
    "pass_invalid": "Not a valid pass (forged, damaged or unknown)",
    "pass_expired": "Expired pass (an old code or a screenshot)",
    "wrong_enterprise": "Pass for another enterprise's visit",
    "already_confirmed": "Visit already confirmed",
    "outside_window": "Outside the visit's time window",
    "visit_cancelled": "Visit was cancelled",
    "approval_pending": "Extra visit not approved yet",
    "approval_rejected": "Extra visit rejected by the supervisor",
}
ROLE_LABELS = {
    "inspector": "Inspector",
    "manager": "Enterprise safety manager",
    "supervisor": "Supervisor",
    "admin": "Administrator",
}
ENTERPRISE_CLASS_LABELS = {
    "hazchem_metallurgy": "Hazardous chemicals and metallurgy",
    "other": "Other, non-high-risk industries",
    "coal_mine": "Coal mine",
}
AGENCY_LEVEL_LABELS = {
    "province": "Province",
    "city": "City",
    "county": "County",
    "town": "Town",
}
FINDING_OUTCOME_LABELS = {
    "compliant": "Compliant",
    "hazard": "Hazard",
    "major_hazard": "Major hazard",
}
RECTIFICATION_OUTCOME_LABELS = {"rectified": "Rectified", "not_rectified": "Not rectified"}
IMPORT_KIND_LABELS = {
    "enterprises": "Enterprises",
    "inspectors": "Inspectors and credentials",
    "items": "Inspection item list",
    "annual_plan": "Annual plan",
    "monthly_plan": "Monthly plan",
    "caps": "Yearly visit caps",
}
IMPORT_STATUS_LABELS = {
    "validated": "Checked, waiting for confirmation",
    "applying": "Applying",
    "applied": "Applied",
    "failed": "Failed",
    "discarded": "Discarded",
}

_TABLES: dict[str, dict[str, str]] = {
    "visit_status": VISIT_STATUS_LABELS,
    "approval": APPROVAL_LABELS,
    "extra_reason": EXTRA_REASON_LABELS,
    "flag_kind": FLAG_KIND_LABELS,
    "severity": SEVERITY_LABELS,
    "credential_status": CREDENTIAL_STATUS_LABELS,
    "scan_outcome": SCAN_OUTCOME_LABELS,
    "refusal": REFUSAL_LABELS,
    "role": ROLE_LABELS,
    "enterprise_class": ENTERPRISE_CLASS_LABELS,
    "agency_level": AGENCY_LEVEL_LABELS,
    "finding_outcome": FINDING_OUTCOME_LABELS,
    "rectification_outcome": RECTIFICATION_OUTCOME_LABELS,
    "import_kind": IMPORT_KIND_LABELS,
    "import_status": IMPORT_STATUS_LABELS,
}


def label_msgid(table: str, value: str | StrEnum | None) -> str:
    """The English msgid for a value of a vocabulary (the value itself if unknown)."""
    if value is None:
        return ""
    key = value.value if isinstance(value, StrEnum) else str(value)
    return _TABLES[table].get(key, key)
