"""Closed vocabularies shared by models, services, rules and templates."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum as SAEnum


class Role(StrEnum):
    inspector = "inspector"
    manager = "manager"  # the enterprise's safety manager
    supervisor = "supervisor"
    admin = "admin"


class AgencyLevel(StrEnum):
    province = "province"
    city = "city"
    county = "county"
    town = "town"


class CredentialStatus(StrEnum):
    valid = "valid"
    suspended = "suspended"
    revoked = "revoked"


class EnterpriseClass(StrEnum):
    hazchem_metallurgy = "hazchem_metallurgy"
    other = "other"
    coal_mine = "coal_mine"


class PlanKind(StrEnum):
    annual = "annual"
    monthly = "monthly"


class ExtraReason(StrEnum):
    """Why a visit outside the plan is made (计划外检查的事由)."""

    complaint = "complaint"  # 举报投诉 / 12345
    referral = "referral"  # 上级转办交办
    accident = "accident"  # 事故 / 突发事件
    remote_clue = "remote_clue"  # 非现场执法线索
    recheck = "recheck"  # 整改复查
    enterprise_request = "enterprise_request"  # 企业申请
    special_campaign = "special_campaign"  # 专项行动
    licensing_check = "licensing_check"  # 行政许可现场核查


# Case-driven visits (DOMAIN.md) do not count against an enterprise's yearly cap and are
# never merge candidates: they cannot wait for, or be folded into, a planned visit. They
# are still counted and shown. A special campaign is planned work and counts.
CASE_DRIVEN_REASONS = frozenset(
    {
        ExtraReason.complaint,
        ExtraReason.referral,
        ExtraReason.accident,
        ExtraReason.remote_clue,
        ExtraReason.recheck,
        ExtraReason.enterprise_request,
        ExtraReason.licensing_check,
    }
)


class VisitStatus(StrEnum):
    registered = "registered"
    confirmed = "confirmed"
    cancelled = "cancelled"


class Approval(StrEnum):
    not_required = "not_required"  # a planned visit
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class ScanOutcome(StrEnum):
    confirmed = "confirmed"
    refused = "refused"


class FlagKind(StrEnum):
    extra_unapproved = "extra_unapproved"
    unregistered_report = "unregistered_report"
    window_passed_unconfirmed = "window_passed_unconfirmed"
    refused_scan = "refused_scan"
    too_few_valid_credentials = "too_few_valid_credentials"
    short_notice = "short_notice"
    merge_candidate = "merge_candidate"  # same enterprise, same month, several teams
    over_cap = "over_cap"  # beyond the yearly cap of its class and grade
    item_frequency = "item_frequency"  # an item checked more often than the list allows
    credential_field = "credential_field"  # a credential that does not cover an item's field
    confirmed_outside_window = "confirmed_outside_window"  # inside the tolerance only
    plan_duplicate = "plan_duplicate"  # a plan puts one enterprise twice into one month
    major_hazard_overdue = "major_hazard_overdue"  # not rectified by its deadline


class FindingOutcome(StrEnum):
    """What an inspection found for one checklist item."""

    compliant = "compliant"
    hazard = "hazard"  # 一般隐患
    major_hazard = "major_hazard"  # 重大事故隐患


class RectificationOutcome(StrEnum):
    rectified = "rectified"
    not_rectified = "not_rectified"


class ImportKind(StrEnum):
    enterprises = "enterprises"
    inspectors = "inspectors"  # inspectors with their credentials
    items = "items"
    annual_plan = "annual_plan"
    monthly_plan = "monthly_plan"
    caps = "caps"


class ImportStatus(StrEnum):
    validated = "validated"  # checked, diff shown, waiting for confirmation
    applying = "applying"
    applied = "applied"
    failed = "failed"
    discarded = "discarded"


class Severity(StrEnum):
    info = "info"
    warning = "warning"
    serious = "serious"


def sa_enum(enum: type[StrEnum], name: str) -> SAEnum:
    """A portable enum column: VARCHAR plus a CHECK constraint, values stored as written."""
    return SAEnum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
