"""Every model, imported once so metadata and Alembic see the whole schema."""

from webapp.agencies.models import Agency, Credential, Inspector
from webapp.audit.models import AuditEvent
from webapp.auth.models import IdempotencyRecord, User, UserSession
from webapp.checkin.models import Scan, UnregisteredReport
from webapp.enterprises.models import Enterprise
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry, plan_entry_items
from webapp.supervision.models import Flag, FlagResolution
from webapp.visits.models import Visit, VisitDecision, VisitInspector, visit_items

__all__ = [
    "Agency",
    "AuditEvent",
    "Credential",
    "Enterprise",
    "Flag",
    "FlagResolution",
    "IdempotencyRecord",
    "InspectionItem",
    "Inspector",
    "Plan",
    "PlanEntry",
    "Scan",
    "UnregisteredReport",
    "User",
    "UserSession",
    "Visit",
    "VisitDecision",
    "VisitInspector",
    "plan_entry_items",
    "visit_items",
]
