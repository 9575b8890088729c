"""Raising a flag: the one way a rule's finding becomes a record for the supervisor."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.audit import service as audit
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


def flag_message(flag: Flag) -> tuple[str, dict[str, object]]:
    """The finding's message (English msgid) and parameters, for translation at the edge."""
    detail = json.loads(flag.detail or "{}")
    return str(detail.get("message", "")), dict(detail.get("params", {}))
