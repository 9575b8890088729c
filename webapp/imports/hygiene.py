"""Plan hygiene at load time: gather plan entries of some months, run the pure rule
`webapp.rules.plan.plan_duplicates`, and raise the supervisor's flags (once each)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, bindparam, func, select, text
from sqlalchemy.orm import Session

from webapp.agencies.models import Agency
from webapp.db import plain_reads
from webapp.enterprises.models import Enterprise
from webapp.enums import FlagKind, PlanKind
from webapp.imports.diff import select_among
from webapp.plans.models import Plan, PlanEntry
from webapp.rules import Finding
from webapp.rules.plan import PlannedEntry, PlanSlot, plan_duplicates, slot
from webapp.supervision.flags import raise_flag
from webapp.supervision.models import Flag


def entry_facts(
    session: Session,
    *,
    months: Collection[str],
    enterprise_ids: Collection[int] | None = None,
    shared_only: bool = False,
) -> list[PlannedEntry]:
    """Every plan entry of these months ("YYYY-MM"), of every agency, as the rule sees it
    (optionally only those of some enterprises; with `shared_only`, only the entries whose
    enterprise and month another entry shares: the rule's own shortcut
    `webapp.rules.plan.shared_slots`, asked of the database so that a month's other entries
    are never read)."""
    stmt = (
        select(
            PlanEntry.id,
            PlanEntry.agency_id,
            Agency.name,
            Plan.kind,
            PlanEntry.enterprise_id,
            Enterprise.name,
            PlanEntry.month,
        )
        .join(Plan, Plan.id == PlanEntry.plan_id)
        .join(Agency, Agency.id == PlanEntry.agency_id)
        .join(Enterprise, Enterprise.id == PlanEntry.enterprise_id)
        .where(PlanEntry.month.in_(sorted(set(months))))
        .order_by(PlanEntry.id)
    )
    if shared_only:
        shared = (
            select(PlanEntry.enterprise_id, PlanEntry.month)
            .where(PlanEntry.month.in_(sorted(set(months))))
            .group_by(PlanEntry.enterprise_id, PlanEntry.month)
            .having(func.count() > 1)
            .subquery()
        )
        stmt = stmt.join(
            shared,
            and_(
                shared.c.enterprise_id == PlanEntry.enterprise_id,
                shared.c.month == PlanEntry.month,
            ),
        )
    if enterprise_ids is None:
        found = list(session.execute(stmt))
    else:  # the enterprises as one list parameter (see `select_among`), not joined: SQLite
        # would walk the month's index and scan the whole list for each entry (a month of
        # 5,500 entries asked for 5,500 enterprises: 1 s against 7 ms)
        found = select_among(
            session, stmt, PlanEntry.enterprise_id, sorted(set(enterprise_ids)), joined=False
        )
    facts: list[PlannedEntry] = []
    for entry_id, agency_id, agency_name, kind, ent_id, ent_name, month in found:
        facts.append(
            PlannedEntry(
                agency_id=agency_id,
                agency_name=agency_name,
                plan_kind=PlanKind(kind),
                enterprise_id=ent_id,
                enterprise_name=ent_name,
                month=month,
                entry_id=entry_id,
            )
        )
    return facts


_SLOTS = text("SELECT enterprise_id, month FROM plan_entries WHERE month IN :months").bindparams(
    bindparam("months", expanding=True)
)


def slot_counts(session: Session, months: Collection[str]) -> Counter[PlanSlot]:
    """How many plan entries (of every agency) each (enterprise, month) of `months` has."""
    if not months:
        return Counter()
    found = plain_reads(session).execute(_SLOTS, {"months": sorted(set(months))})
    return Counter((ent, month) for ent, month in found)


def _shared_facts(session: Session, slots: Counter[PlanSlot]) -> list[PlannedEntry]:
    """`entry_facts(shared_only=True)` of the months of `slots` (every (enterprise, month)
    of those months with its count of entries), read for the shared pairs only: none read
    when no pair is shared."""
    shared = {key for key, count in slots.items() if count > 1}
    if not shared:
        return []
    plain_reads(session)  # pending changes flushed first, as the session's query would
    found = entry_facts(
        session,
        months={month for _, month in shared},
        enterprise_ids={ent for ent, _ in shared},
    )
    return [f for f in found if slot(f) in shared]


def _first_entry(finding: Finding, facts: Sequence[PlannedEntry], agency_id: int) -> int | None:
    params = finding.params
    ids = [
        f.entry_id
        for f in facts
        if f.entry_id is not None
        and f.agency_id == agency_id
        and f.enterprise_id == params["enterprise_id"]
        and f.month == params["month"]
    ]
    return min(ids) if ids else None


def raise_plan_flags(
    session: Session,
    *,
    months: Collection[str],
    now: datetime,
    actor_id: int | None = None,
    slots: Counter[PlanSlot] | None = None,
) -> list[Flag]:
    """Run the plan-hygiene rules over the entries of `months` and raise their flags in the
    caller's transaction: `plan.duplicate` to the agency whose plan it is, and
    `plan.merge_candidate` to each agency involved. Dedupe keys make a re-run (a re-import)
    raise nothing new. Returns the flags (new and existing) of the findings. `slots`: the
    count of entries of each (enterprise, month) of `months` as the database holds them now,
    when the caller knows it (see `slot_counts`): only the shared pairs' entries are read."""
    if not months:
        return []
    if slots is None:
        facts = entry_facts(session, months=months, shared_only=True)
    else:
        facts = _shared_facts(session, slots)
    flags: list[Flag] = []
    for finding in plan_duplicates(facts):
        params = finding.params
        enterprise_id = int(params["enterprise_id"])
        month = str(params["month"])
        if finding.kind == FlagKind.plan_duplicate:
            targets = [(int(params["agency_id"]), str(params["plan_kind"]))]
        else:
            targets = [(int(a), "") for a in params["agency_ids"]]
        for agency_id, kind in targets:
            key = (
                f"plan.duplicate:{agency_id}:{kind}:{enterprise_id}:{month}"
                if kind
                else f"plan.merge:{enterprise_id}:{month}:{agency_id}"
            )
            flag = raise_flag(
                session,
                finding=finding,
                dedupe_key=key,
                agency_id=agency_id,
                enterprise_id=enterprise_id,
                plan_entry_id=_first_entry(finding, facts, agency_id),
                actor_id=actor_id,
                now=now,
            )
            flags.append(flag)
    return flags
