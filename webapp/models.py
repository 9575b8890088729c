"""Every model, imported once so metadata and Alembic see the whole schema."""

import webapp.supervision.summary  # noqa: F401  (keeps the report's summary current)
from webapp.agencies.models import Agency, Credential, Inspector
from webapp.audit.models import AuditEvent
from webapp.auth.models import IdempotencyRecord, SignInAttempt, User, UserSession
from webapp.checkin.models import Scan, UnregisteredReport
from webapp.enterprises.models import Enterprise
from webapp.findings.models import (
    FindingPhoto,
    Inspection,
    ItemFinding,
    NoticeAcknowledgement,
    Rectification,
)
from webapp.imports.models import ImportBatch
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry, VisitCap, plan_entry_items
from webapp.supervision.models import AgencyClosure, Flag, FlagResolution, ReportVisitUnit
from webapp.visits.models import Visit, VisitDecision, VisitInspector, visit_items

__all__ = [
    "Agency",
    "AgencyClosure",
    "AuditEvent",
    "Credential",
    "Enterprise",
    "FindingPhoto",
    "Flag",
    "FlagResolution",
    "IdempotencyRecord",
    "ImportBatch",
    "Inspection",
    "InspectionItem",
    "Inspector",
    "ItemFinding",
    "NoticeAcknowledgement",
    "Plan",
    "PlanEntry",
    "Rectification",
    "ReportVisitUnit",
    "Scan",
    "SignInAttempt",
    "UnregisteredReport",
    "User",
    "UserSession",
    "Visit",
    "VisitCap",
    "VisitDecision",
    "VisitInspector",
    "plan_entry_items",
    "visit_items",
]
