"""Raising a flag: the one way a rule's finding becomes a record for the supervisor."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.audit import service as audit
from webapp.enums import FlagKind
from webapp.rules import Finding
from webapp.supervision.models import Flag


def raise_flag(
    session: Session,
    *,
    finding: Finding,
    dedupe_key: str,
    agency_id: int,
    now: datetime,
    actor_id: int | None = None,
    enterprise_id: int | None = None,
    visit_id: int | None = None,
    scan_id: int | None = None,
    report_id: int | None = None,
    plan_entry_id: int | None = None,
) -> Flag:
    """Raise `finding` once per (kind, dedupe_key); returns the existing flag if raised."""
    existing = session.scalar(
        select(Flag).where(Flag.kind == finding.kind, Flag.dedupe_key == dedupe_key)
    )
    if existing is not None:
        return existing
    flag = Flag(
        kind=finding.kind,
        severity=finding.severity,
        dedupe_key=dedupe_key,
        agency_id=agency_id,
        enterprise_id=enterprise_id,
        visit_id=visit_id,
        scan_id=scan_id,
        report_id=report_id,
        plan_entry_id=plan_entry_id,
        detail=json.dumps(
            {"rule": finding.rule, "message": finding.message, "params": finding.params},
            ensure_ascii=False,
        ),
        raised_at=now,
    )
    session.add(flag)
    session.flush()
    audit.record(
        session,
        actor_id=actor_id,
        action="flag.raised",
        object_type="flag",
        object_id=flag.id,
        visit_id=visit_id,
        now=now,
        data={"kind": finding.kind.value, "rule": finding.rule, "params": finding.params},
    )
    return flag


# What a flag says when its detail carries no message of its own (the rules store theirs:
# see webapp/rules). English msgids, translated at the edge; no placeholders, since the
# parameters of an unknown finding are unknown.
FLAG_MESSAGES = {
    FlagKind.extra_unapproved: "Extra visit confirmed without a timely approval.",
    FlagKind.unregistered_report: "The enterprise reported a visit by people who showed no "
    "valid pass.",
    FlagKind.window_passed_unconfirmed: "The visit's window passed and the enterprise never "
    "confirmed it.",
    FlagKind.refused_scan: "A scan of the visit's pass was refused.",
    FlagKind.too_few_valid_credentials: "Fewer than 2 inspectors with a credential valid on "
    "the visit's date.",
    FlagKind.short_notice: "Registered only minutes before its scan.",
    FlagKind.merge_candidate: "Merge candidate: the enterprise is visited or planned by "
    "several teams in one month.",
    FlagKind.over_cap: "Over the enterprise's yearly cap of visits.",
    FlagKind.item_frequency: "An item was checked more often than the item list allows.",
    FlagKind.credential_field: "A credential does not cover the field of an item its holder "
    "checks.",
    FlagKind.confirmed_outside_window: "Confirmed outside its window (within the tolerance).",
    FlagKind.plan_duplicate: "The plan puts the enterprise twice into one month.",
    FlagKind.major_hazard_overdue: "A major hazard was not rectified by its deadline.",
}


def flag_message(flag: Flag) -> tuple[str, dict[str, object]]:
    """The finding's message (English msgid) and parameters, for translation at the edge;
    the kind's own message when the finding stored none."""
    detail = json.loads(flag.detail or "{}")
    message = str(detail.get("message") or "")
    if not message:
        return FLAG_MESSAGES.get(flag.kind, ""), {}
    return message, dict(detail.get("params", {}))
