"""Visits: registration (with its checks and warnings), reading, cancelling, the card.

Who sees a visit (get_visit): the inspectors of its agency (and of every agency that joined
it: a joint visit), the supervisors of those agencies or one above them, the admin; the
enterprise's managers only once the pass has been scanned (unannounced inspections: the
enterprise never learns of a registration in advance).

The rules over the enterprise's other visits (merge candidates, the yearly cap, an item's
frequency: webapp.rules.history) see them through `enterprise_facts`; at registration they
warn (registered and confirmed visits count), at the confirming scan they flag (confirmed
visits count): see `confirmation_findings`.

A refusal is raised before anything is added to the session: nothing is written (the
request's session ends without a commit), and the caller's objects stay loaded.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Integer,
    String,
    and_,
    bindparam,
    insert,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, object_session, selectinload

from webapp import idempotency
from webapp.agencies.models import Agency, Inspector
from webapp.audit import service as audit
from webapp.auth import security
from webapp.auth.models import User
from webapp.auth.scope import visible_agency_ids
from webapp.checkin import passes
from webapp.config import Settings, get_settings
from webapp.db import UTCDateTime, begin_write, plain_reads
from webapp.enterprises import service as enterprises_service
from webapp.enterprises.models import Enterprise
from webapp.enums import (
    CASE_DRIVEN_REASONS,
    Approval,
    CredentialStatus,
    ExtraReason,
    FlagKind,
    Role,
    Severity,
    VisitStatus,
)
from webapp.errors import DomainError, FieldError, forbidden, not_found, validation_error
from webapp.items import service as items_service
from webapp.items.models import InspectionItem
from webapp.plans.models import PlanEntry, VisitCap
from webapp.rules import core as rules
from webapp.rules import history
from webapp.supervision import flags as flags_service
from webapp.supervision.models import Flag
from webapp.visits import rows
from webapp.visits.models import Visit, VisitInspector, visit_items
from webapp.visits.rows import CredentialRow, EnterpriseRow, MemberRow, VisitRow
from webapp.web import to_local, tz

IDEMPOTENCY_SCOPE = "visit.register"
JOIN_IDEMPOTENCY_SCOPE = "visit.join"
SUPERVISORY_CAP = ("supervisory", "*")
MAX_CO_INSPECTORS = 20
MAX_ITEMS = 100
MAX_REASON_TEXT = 2000
RECENT_DAYS = 14
PHOTO_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})

# Field names of the registration errors are those of the API body (and the form).
_RULE_FIELDS = {"inspectors": "co_inspector_ids", "items": "item_ids"}


# --- registration input and its check -------------------------------------------------------


@dataclass
class RegistrationInput:
    """What an inspector registers. Windows are aware datetimes (or None when missing)."""

    enterprise_id: int | None
    plan_entry_id: int | None = None
    extra_reason: ExtraReason | None = None
    extra_reason_text: str = ""
    co_inspector_ids: list[int] = field(default_factory=list)
    item_ids: list[int] = field(default_factory=list)
    window_start: datetime | None = None
    window_end: datetime | None = None
    # A re-check (复查): the public id of the visit whose ordered rectification it checks.
    recheck_of: str | None = None

    def digest(self) -> str:
        """A fingerprint of the request, for idempotency keys."""
        body = {
            "enterprise_id": self.enterprise_id,
            "plan_entry_id": self.plan_entry_id,
            "extra_reason": self.extra_reason.value if self.extra_reason else None,
            "extra_reason_text": self.extra_reason_text,
            "co_inspector_ids": list(self.co_inspector_ids),
            "item_ids": list(self.item_ids),
            "window_start": _iso(self.window_start),
            "window_end": _iso(self.window_end),
            "recheck_of": self.recheck_of,
        }
        return security.digest(json.dumps(body, sort_keys=True, separators=(",", ":")))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


@dataclass
class RegistrationCheck:
    """What the form can tell before submitting: refusals (errors) and warnings (findings),
    with what the input resolved to (used by register_visit)."""

    errors: list[FieldError]
    findings: list[rules.Finding]  # warnings
    enterprise: Enterprise | None = None
    plan_entry: PlanEntry | None = None
    team: list[Inspector] = field(default_factory=list)
    items: list[InspectionItem] = field(default_factory=list)
    recheck_of: Visit | None = None
    # Information beside the warnings: where the enterprise stands against its caps.
    notes: list[rules.Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _require_inspector(actor: User) -> Inspector:
    if actor.role != Role.inspector or actor.inspector is None or actor.agency_id is None:
        raise forbidden()
    return actor.inspector


def _credential_for(
    credentials: Sequence[CredentialRow], first_day: date, last_day: date
) -> CredentialRow | None:
    """The credential shown at the gate: one valid on every day of the window if any,
    otherwise the most recent one (so the card says why it is not valid)."""
    credentials = sorted(credentials, key=lambda c: (c.valid_until, c.id), reverse=True)
    for credential in credentials:
        if (
            credential.status == CredentialStatus.valid
            and credential.valid_from <= first_day
            and credential.valid_until >= last_day
        ):
            return credential
    return credentials[0] if credentials else None


def team_member(inspector: Inspector, first_day: date, last_day: date) -> rules.TeamMember:
    return member_fact(
        inspector.id,
        inspector.name,
        inspector.agency_id,
        [rows.credential_row(c) for c in inspector.credentials],
        first_day,
        last_day,
    )


def member_fact(
    inspector_id: int,
    name: str,
    agency_id: int,
    credentials: Sequence[CredentialRow],
    first_day: date,
    last_day: date,
) -> rules.TeamMember:
    """An inspector as the rules see them for a window: the credential shown at the gate."""
    credential = _credential_for(credentials, first_day, last_day)
    return rules.TeamMember(
        inspector_id=inspector_id,
        name=name,
        credential_number=credential.number if credential else None,
        credential_status=credential.status if credential else None,
        valid_from=credential.valid_from if credential else None,
        valid_until=credential.valid_until if credential else None,
        fields=credential.fields if credential else "",
        agency_id=agency_id,
    )


def item_fact(item: InspectionItem | rows.ItemRow, agency_id: int | None = None) -> rules.ItemFact:
    return rules.ItemFact(
        item_id=item.id,
        code=item.code,
        field=item.field,
        max_per_year=item.max_per_year,
        agency_id=agency_id,
    )


def window_days(
    start: datetime | None, end: datetime | None, *, now: datetime
) -> tuple[date, date]:
    """The local dates a window covers; today when the window is missing or reversed."""
    if start is not None and end is not None and end > start:
        return to_local(start).date(), to_local(end).date()
    today = to_local(now).date()
    return today, today


# --- the enterprise's other visits, for the rules over them ---------------------------------


def local_month(value: datetime) -> str:
    return to_local(value).strftime("%Y-%m")


def _year_bounds(value: datetime) -> tuple[datetime, datetime]:
    """The local calendar year of `value`, as UTC bounds [start, end)."""
    year = to_local(value).year
    start = datetime(year, 1, 1, tzinfo=tz()).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=tz()).astimezone(UTC)
    return start, end


def _ancestors_and_caps_statement() -> CompoundSelect[Any]:
    """The agencies above `:agency_id` (its parent, the parent's parent, ...: agency id,
    NULL, NULL, NULL; a NULL id for the top's parent), then the caps of one class and grade
    and the supervisory cap (NULL, class, grade, cap): what the rules over an enterprise's
    visits read besides the visits, in one round trip. Built once: building the recursive
    statement costs more than running it (every registration and confirmation asks)."""
    up = (
        select(Agency.parent_id.label("id"))
        .where(Agency.id == bindparam("agency_id"))
        .cte("up", recursive=True)
    )
    # UNION, not UNION ALL: a (corrupt) cycle ends instead of looping.
    up = up.union(select(Agency.parent_id).where(Agency.id == up.c.id))
    text, number = String(), Integer()
    klass, grade = SUPERVISORY_CAP
    return union_all(
        select(up.c.id, null().cast(text), null().cast(text), null().cast(number)),
        select(
            null().cast(number),
            VisitCap.enterprise_class,
            VisitCap.risk_grade,
            VisitCap.max_per_year,
        ).where(
            or_(
                and_(
                    VisitCap.enterprise_class == bindparam("klass"),
                    VisitCap.risk_grade == bindparam("grade"),
                ),
                and_(VisitCap.enterprise_class == klass, VisitCap.risk_grade == grade),
            )
        ),
    )


_ANCESTORS_AND_CAPS = _ancestors_and_caps_statement()


def ancestors_and_caps(
    session: Session, agency_id: int, enterprise_class: str, risk_grade: str
) -> tuple[set[int], int | None, int | None]:
    """The agencies above `agency_id` (a province has thousands of agencies; the chain is a
    few), and `load_caps()`'s caps of (class, grade) and of SUPERVISORY_CAP, in one
    statement: the agencies above, the cap, the supervisory cap."""
    rows = plain_reads(session).execute(
        _ANCESTORS_AND_CAPS,
        {"agency_id": agency_id, "klass": enterprise_class, "grade": risk_grade},
    )
    ancestors: set[int] = set()
    caps: dict[tuple[str, str], int] = {}
    for aid, klass, grade, cap in rows:
        if klass is not None:
            caps[klass, grade] = cap
        elif aid is not None:
            ancestors.add(aid)
    return ancestors, caps.get((enterprise_class, risk_grade)), caps.get(SUPERVISORY_CAP)


# The enterprise's visits of a year as the rules see them (`year_facts`), read as plain rows
# in at most three statements built once: every registration and confirmation asks, and
# loading them as ORM objects with their agency, team, inspectors and items (five statements)
# cost several times the SQL.
_YEAR_VISITS = (
    select(
        Visit.id,
        Visit.public_id,
        Visit.agency_id,
        Agency.name,
        Visit.window_start,
        Visit.status,
        Visit.plan_entry_id,
        Visit.extra_reason,
    )
    .join(Agency, Agency.id == Visit.agency_id)
    .where(
        Visit.enterprise_id == bindparam("enterprise_id"),
        Visit.window_start >= bindparam("year_start", type_=UTCDateTime()),
        Visit.window_start < bindparam("year_end", type_=UTCDateTime()),
        Visit.status.in_(bindparam("statuses", expanding=True)),
        Visit.id != bindparam("exclude"),
    )
    .order_by(Visit.window_start, Visit.id)
)
_YEAR_TEAMS = (
    select(
        VisitInspector.visit_id, VisitInspector.inspector_id, Inspector.agency_id, Inspector.name
    )
    .join(Inspector, Inspector.id == VisitInspector.inspector_id)
    .where(VisitInspector.visit_id.in_(bindparam("visit_ids", expanding=True)))
    .order_by(VisitInspector.visit_id, VisitInspector.position)
)
_YEAR_ITEMS = select(visit_items.c.visit_id, visit_items.c.item_id).where(
    visit_items.c.visit_id.in_(bindparam("visit_ids", expanding=True))
)


def year_facts(
    session: Session,
    *,
    enterprise_id: int,
    window_start: datetime,
    now: datetime,
    statuses: tuple[VisitStatus, ...],
    ancestors: set[int],
    exclude_visit_id: int | None = None,
    joiner_agency_id: int | None = None,
) -> list[history.VisitFact]:
    """The enterprise's visits of the local year of `window_start` with one of `statuses`,
    as `visit_fact` makes them from a loaded visit (the same fields, the same order)."""
    year_start, year_end = _year_bounds(window_start)
    reads = plain_reads(session)
    visits = reads.execute(
        _YEAR_VISITS,
        {
            "enterprise_id": enterprise_id,
            "year_start": year_start,
            "year_end": year_end,
            "statuses": list(statuses),
            "exclude": 0 if exclude_visit_id is None else exclude_visit_id,  # ids start at 1
        },
    ).all()
    if not visits:
        return []
    ids = [v.id for v in visits]
    teams: dict[int, list[tuple[int, int, str]]] = {}
    for visit_id, inspector_id, agency_id, name in reads.execute(_YEAR_TEAMS, {"visit_ids": ids}):
        teams.setdefault(visit_id, []).append((inspector_id, agency_id, name))
    items: dict[int, set[int]] = {}
    for visit_id, item_id in reads.execute(_YEAR_ITEMS, {"visit_ids": ids}):
        items.setdefault(visit_id, set()).add(item_id)
    facts = []
    for v in visits:
        facts.append(
            _fact(
                visit_id=v.id,
                public_id=v.public_id,
                agency_id=v.agency_id,
                agency_name=v.name,
                window_start=v.window_start,
                status=v.status,
                case_driven=_case_driven(v.plan_entry_id, v.extra_reason),
                team=teams.get(v.id, []),
                item_ids=frozenset(items.get(v.id, ())),
                ancestors=ancestors,
                now=now,
                joiner_agency_id=joiner_agency_id,
            )
        )
    return facts


def _case_driven(plan_entry_id: int | None, extra_reason: ExtraReason | None) -> bool:
    return plan_entry_id is None and extra_reason in CASE_DRIVEN_REASONS


def _agency_ids(visit: Visit) -> frozenset[int]:
    return frozenset({visit.agency_id, *(m.inspector.agency_id for m in visit.team)})


def visit_fact(
    visit: VisitRow, *, ancestors: set[int], now: datetime, joiner_agency_id: int | None = None
) -> history.VisitFact:
    """A stored visit as the rules over an enterprise's visits see it. `joiner_agency_id`:
    the agency that might join it (it is joinable when registered, its window still ahead,
    and that agency not on it yet)."""
    return _fact(
        visit_id=visit.id,
        public_id=visit.public_id,
        agency_id=visit.agency_id,
        agency_name=visit.agency_name,
        window_start=visit.window_start,
        status=visit.status,
        case_driven=_case_driven(visit.plan_entry_id, visit.extra_reason),
        team=[(m.inspector_id, m.agency_id, m.name) for m in visit.team],
        item_ids=frozenset(item.id for item in visit.items),
        ancestors=ancestors,
        now=now,
        joiner_agency_id=joiner_agency_id,
    )


def _fact(
    *,
    visit_id: int,
    public_id: str,
    agency_id: int,
    agency_name: str,
    window_start: datetime,
    status: VisitStatus,
    case_driven: bool,
    team: list[tuple[int, int, str]],
    item_ids: frozenset[int],
    ancestors: set[int],
    now: datetime,
    joiner_agency_id: int | None,
) -> history.VisitFact:
    """`visit_fact` from a visit's values, loaded or read as rows (`year_facts`); `team`:
    (inspector id, their agency, their name) in team order, the lead first."""
    agencies = frozenset({agency_id, *(agency for _, agency, _ in team)})
    return history.VisitFact(
        visit_id=visit_id,
        public_id=public_id,
        agency_id=agency_id,
        agency_name=agency_name,
        lead_name=team[0][2] if team else "?",
        day=to_local(window_start).date().isoformat(),
        month=local_month(window_start),
        status=status,
        case_driven=case_driven,
        supervisory=agency_id in ancestors,
        inspector_ids=frozenset(inspector for inspector, _, _ in team),
        agency_ids=agencies,
        item_ids=item_ids,
        joinable=joiner_agency_id is not None
        and status == VisitStatus.registered
        and window_start > now
        and joiner_agency_id not in agencies,
    )


# The enterprise's plan entries of a month, every agency's (merge candidates).
_MONTH_ENTRIES = (
    select(PlanEntry.id, PlanEntry.agency_id, Agency.name, PlanEntry.month)
    .join(Agency, Agency.id == PlanEntry.agency_id)
    .where(
        PlanEntry.enterprise_id == bindparam("enterprise_id"),
        PlanEntry.month == bindparam("month"),
    )
    .order_by(PlanEntry.id)
)


@dataclass(frozen=True)
class EnterpriseFacts:
    """The enterprise's other visits in the visit's calendar year, other agencies' plan
    entries for it in the visit's month, and its caps."""

    others: list[history.VisitFact]
    entries: list[history.EntryFact]
    cap: int | None
    supervisory_cap: int | None
    ancestors: set[int]  # the agencies above the enterprise's own (supervisory visits)


def enterprise_facts(
    session: Session,
    *,
    enterprise: Enterprise | EnterpriseRow,
    window_start: datetime,
    now: datetime,
    statuses: tuple[VisitStatus, ...],
    exclude_visit_id: int | None = None,
    own_agency_id: int | None = None,
    with_entries: bool = True,
) -> EnterpriseFacts:
    ancestors, cap, supervisory_cap = ancestors_and_caps(
        session, enterprise.agency_id, enterprise.enterprise_class.value, enterprise.risk_grade
    )
    others = year_facts(
        session,
        enterprise_id=enterprise.id,
        window_start=window_start,
        now=now,
        statuses=statuses,
        ancestors=ancestors,
        exclude_visit_id=exclude_visit_id,
        joiner_agency_id=own_agency_id,
    )
    entries: list[history.EntryFact] = []
    if with_entries:
        found = plain_reads(session).execute(
            _MONTH_ENTRIES, {"enterprise_id": enterprise.id, "month": local_month(window_start)}
        )
        entries = [
            history.EntryFact(entry_id=eid, agency_id=aid, agency_name=name, month=m)
            for eid, aid, name, m in found
            if aid != own_agency_id
        ]
    return EnterpriseFacts(
        others=others,
        entries=entries,
        cap=cap,  # the caps table the admin edits
        supervisory_cap=supervisory_cap,
        ancestors=ancestors,
    )


def history_findings(
    fact: history.VisitFact,
    items: list[rules.ItemFact],
    facts: EnterpriseFacts,
    *,
    with_count: bool = False,
) -> list[rules.Finding]:
    """The rules over the enterprise's other visits, for `fact`; `with_count` adds where
    the enterprise stands against its caps (information, for the registration form)."""
    found = [
        history.merge_candidate(fact, facts.others, facts.entries),
        history.over_cap(fact, facts.others, cap=facts.cap, supervisory_cap=facts.supervisory_cap),
        history.item_frequency(fact, items, facts.others),
        history.visits_this_year(
            fact, facts.others, cap=facts.cap, supervisory_cap=facts.supervisory_cap
        )
        if with_count
        else None,
    ]
    return [f for f in found if f is not None]


def _plan_entry_errors(
    entry: PlanEntry | None,
    *,
    actor: User,
    enterprise: Enterprise | None,
    window_start: datetime | None,
) -> list[FieldError]:
    if entry is None or entry.agency_id != actor.agency_id:
        return [
            FieldError(
                "plan_entry_id",
                "This plan entry is not in your agency's plan: choose one of this month's "
                "entries, or register an extra visit.",
            )
        ]
    errors: list[FieldError] = []
    if enterprise is not None and entry.enterprise_id != enterprise.id:
        errors.append(
            FieldError(
                "plan_entry_id",
                "This plan entry is for %(planned)s, not for %(chosen)s.",
                planned=entry.enterprise.name,
                chosen=enterprise.name,
            )
        )
    if window_start is not None:
        window_month = to_local(window_start).strftime("%Y-%m")
        if window_month != entry.month:
            errors.append(
                FieldError(
                    "plan_entry_id",
                    "This plan entry is for %(month)s but the visit starts in "
                    "%(window_month)s: move the window, or choose that month's entry.",
                    month=entry.month,
                    window_month=window_month,
                )
            )
    return errors


def _recheck_errors(
    session: Session,
    *,
    actor: User,
    data: RegistrationInput,
    enterprise: Enterprise | None,
) -> tuple[Visit | None, list[FieldError]]:
    """A re-check names a confirmed visit the actor's agency may see, at the same
    enterprise, and is an extra visit with the reason `recheck`."""
    if data.recheck_of is None:
        return None, []
    try:
        original = get_visit(session, actor=actor, public_id=data.recheck_of)
    except DomainError:
        original = None
    if original is None or original.status != VisitStatus.confirmed:
        return None, [
            FieldError(
                "recheck_of",
                "The visit to re-check was not found among your agency's confirmed visits.",
            )
        ]
    errors: list[FieldError] = []
    if enterprise is not None and original.enterprise_id != enterprise.id:
        errors.append(
            FieldError(
                "recheck_of",
                "A re-check is at the enterprise of the visit it re-checks (%(name)s).",
                name=original.enterprise.name,
            )
        )
    if data.plan_entry_id is not None or data.extra_reason not in (None, ExtraReason.recheck):
        errors.append(
            FieldError(
                "extra_reason",
                "A re-check is an extra visit with the reason 're-check of ordered rectification'.",
            )
        )
    return original, errors


def check_registration(
    session: Session,
    *,
    actor: User,
    data: RegistrationInput,
    now: datetime,
    settings: Settings | None = None,
) -> RegistrationCheck:
    """Every refusal and warning the registration would meet, without writing anything."""
    settings = settings or get_settings()
    lead = _require_inspector(actor)
    errors: list[FieldError] = []

    enterprise = None
    if data.enterprise_id is None:
        errors.append(
            FieldError("enterprise_id", "Choose the enterprise: search by name or credit code.")
        )
    else:
        enterprise = session.get(Enterprise, data.enterprise_id)
        if enterprise is None:
            errors.append(
                FieldError(
                    "enterprise_id",
                    "No enterprise with id %(id)s: choose one from the search.",
                    id=data.enterprise_id,
                )
            )

    entry = None
    entry_ok = False
    if data.plan_entry_id is not None:
        entry = session.get(PlanEntry, data.plan_entry_id)
        entry_errors = _plan_entry_errors(
            entry, actor=actor, enterprise=enterprise, window_start=data.window_start
        )
        errors.extend(entry_errors)
        entry_ok = not entry_errors
        if entry is not None and entry.agency_id != actor.agency_id:
            entry = None  # another agency's entry: tell nothing about it
        if data.extra_reason is not None:
            errors.append(
                FieldError(
                    "extra_reason",
                    "Choose either a plan entry or an extra-visit reason, not both.",
                )
            )

    co_inspectors, problems = own_co_inspectors(
        session, actor=actor, lead=lead, ids=data.co_inspector_ids, field="co_inspector_ids"
    )
    errors += problems
    team = [lead, *co_inspectors]

    item_ids = list(data.item_ids)
    if len(item_ids) > MAX_ITEMS:
        errors.append(FieldError("item_ids", "At most %(max)s items can be named.", max=MAX_ITEMS))
        item_ids = item_ids[:MAX_ITEMS]
    items, unknown = items_service.items_by_ids(session, item_ids)
    if unknown:
        errors.append(
            FieldError(
                "item_ids",
                "Unknown item id(s): %(ids)s. Choose items from the item list.",
                ids=", ".join(str(i) for i in unknown),
            )
        )
    elif not item_ids and entry is not None:
        items = list(entry.items)  # the plan entry's items by default

    is_extra = data.plan_entry_id is None
    if len(data.extra_reason_text) > MAX_REASON_TEXT:
        errors.append(
            FieldError(
                "extra_reason_text",
                "The reason can be at most %(max)s characters.",
                max=MAX_REASON_TEXT,
            )
        )
    rule_errors = rules.validate_registration(
        window_start=data.window_start,
        window_end=data.window_end,
        now=now,
        inspector_count=len(team),
        item_count=len(items) + len(unknown),
        is_extra=is_extra,
        extra_reason_given=data.extra_reason is not None,
        extra_text=data.extra_reason_text,
    )
    errors.extend(
        FieldError(_RULE_FIELDS.get(e.field, e.field), e.message, **e.params) for e in rule_errors
    )

    recheck_of, recheck_errors = _recheck_errors(
        session, actor=actor, data=data, enterprise=enterprise
    )
    errors.extend(recheck_errors)

    first_day, last_day = window_days(data.window_start, data.window_end, now=now)
    members = [team_member(i, first_day, last_day) for i in team]
    facts = [item_fact(item) for item in items]
    assert actor.agency_id is not None
    findings = rules.registration_findings(
        team=members,
        first_day=first_day,
        last_day=last_day,
        is_extra=is_extra,
        gate=settings.extra_visit_approval,
        items=facts,
        host_agency_id=actor.agency_id,
    )
    if len(team) < rules.MIN_VALID_INSPECTORS:
        # Too few inspectors named is already a refusal; do not say it twice.
        findings = [f for f in findings if f.kind != FlagKind.too_few_valid_credentials]
    if data.window_start is not None:
        notice = rules.short_notice_at_registration(
            now, data.window_start, settings.short_notice_minutes
        )
        if notice is not None:
            findings.append(notice)
    if enterprise is not None and data.window_start is not None:
        known = enterprise_facts(
            session,
            enterprise=enterprise,
            window_start=data.window_start,
            now=now,
            statuses=(VisitStatus.registered, VisitStatus.confirmed),
            own_agency_id=actor.agency_id,
        )
        draft = history.VisitFact(
            visit_id=None,
            public_id="",
            agency_id=actor.agency_id,
            agency_name=actor.agency.name if actor.agency else "",
            lead_name=lead.name,
            day=to_local(data.window_start).date().isoformat(),
            month=local_month(data.window_start),
            status=VisitStatus.registered,
            case_driven=is_extra and data.extra_reason in CASE_DRIVEN_REASONS,
            supervisory=actor.agency_id in known.ancestors,
            inspector_ids=frozenset(i.id for i in team),
            agency_ids=frozenset({actor.agency_id}),
            item_ids=frozenset(item.id for item in items),
        )
        findings += history_findings(draft, facts, known, with_count=True)
    return RegistrationCheck(
        errors=errors,
        findings=[f for f in findings if f.severity != Severity.info],
        notes=[f for f in findings if f.severity == Severity.info],
        enterprise=enterprise,
        plan_entry=entry if entry_ok else None,
        team=team,
        items=items,
        recheck_of=recheck_of,
    )


# --- registering ----------------------------------------------------------------------------


def _new_code_prefix(session: Session) -> str:
    for _ in range(20):
        prefix = security.new_code_prefix()
        if session.scalar(select(Visit.id).where(Visit.code_prefix == prefix)) is None:
            return prefix
    raise DomainError(
        "code_space_exhausted", "Could not allocate a short code; please retry.", status=503
    )


@dataclass(frozen=True)
class Registered:
    visit: Visit
    # The answer given to the first request (JSON), when the caller asked for one to be kept:
    # a retry with the same key gets exactly it again, not the visit's state of now.
    answer: dict[str, Any] | None = None


def register_visit(
    session: Session,
    *,
    actor: User,
    data: RegistrationInput,
    now: datetime,
    settings: Settings,
    idempotency_key: str | None = None,
    device_queued_at: datetime | None = None,
) -> Visit:
    """Register a visit before going (see `register`)."""
    return register(
        session,
        actor=actor,
        data=data,
        now=now,
        settings=settings,
        idempotency_key=idempotency_key,
        device_queued_at=device_queued_at,
    ).visit


def register(
    session: Session,
    *,
    actor: User,
    data: RegistrationInput,
    now: datetime,
    settings: Settings,
    idempotency_key: str | None = None,
    answer: Callable[[Visit], dict[str, Any]] | None = None,
    device_queued_at: datetime | None = None,
) -> Registered:
    """Register a visit before going. With an idempotency key, a retry of the same request
    returns the visit the first one registered (nothing twice) and, when `answer` is given,
    the first answer as it was (made by `answer` in the registering transaction); the same
    key with another request is refused with `idempotency_key_reused`.

    The registration time is `now`, when the request arrives: that is the evidence. A phone
    that kept the registration while offline says when it queued it (`device_queued_at`); the
    audit event keeps that as the device's claim, nothing more."""
    _require_inspector(actor)
    begin_write(session)
    key = idempotency.check_key(idempotency_key)
    request_digest = data.digest()
    if key is not None:
        record = idempotency.replay(
            session,
            user_id=actor.id,
            scope=IDEMPOTENCY_SCOPE,
            key=key,
            request_digest=request_digest,
        )
        if record is not None:
            stored = json.loads(record.body)
            earlier: Visit | None = session.scalar(_visit_query(stored["public_id"]))
            session.commit()  # nothing written: end the write transaction
            if earlier is None:  # records and visits are never deleted
                raise not_found("visit")
            return Registered(earlier, stored.get("answer"))

    check = check_registration(session, actor=actor, data=data, now=now, settings=settings)
    if check.errors:
        raise validation_error(check.errors)
    assert check.enterprise is not None
    assert data.window_start is not None
    assert data.window_end is not None
    assert actor.agency_id is not None

    entry = check.plan_entry
    visit = Visit(
        public_id=security.new_public_id(),
        agency_id=actor.agency_id,
        enterprise_id=check.enterprise.id,
        plan_entry_id=entry.id if entry else None,
        extra_reason=None if entry else data.extra_reason,
        extra_reason_text="" if entry else data.extra_reason_text.strip(),
        approval=Approval.not_required if entry else Approval.pending,
        window_start=data.window_start,
        window_end=data.window_end,
        status=VisitStatus.registered,
        registered_at=now,
        registered_by_id=actor.id,
        pass_secret=security.new_pass_secret(),
        code_prefix=_new_code_prefix(session),
        cancel_reason="",
        recheck_of_visit_id=check.recheck_of.id if check.recheck_of else None,
    )
    visit.items = list(check.items)
    session.add(visit)
    session.flush()
    for position, inspector in enumerate(check.team):
        session.add(VisitInspector(visit_id=visit.id, inspector_id=inspector.id, position=position))
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="visit.registered",
        object_type="visit",
        object_id=visit.id,
        visit_id=visit.id,
        now=now,
        data={
            "public_id": visit.public_id,
            "agency_id": visit.agency_id,
            "enterprise_id": visit.enterprise_id,
            "plan_entry_id": visit.plan_entry_id,
            "extra_reason": visit.extra_reason.value if visit.extra_reason else None,
            "extra_reason_text": visit.extra_reason_text,
            "approval": visit.approval.value,
            "inspectors": [i.id for i in check.team],
            "items": [item.code for item in check.items],
            "device_queued_at_claimed": (
                device_queued_at.astimezone(UTC).isoformat() if device_queued_at else None
            ),
            "window_start": visit.window_start.isoformat(),
            "window_end": visit.window_end.isoformat(),
            "recheck_of": check.recheck_of.public_id if check.recheck_of else None,
            "findings": [f.rule for f in check.findings],
        },
    )
    for finding in check.findings:
        if finding.kind == FlagKind.too_few_valid_credentials:
            flags_service.raise_flag(
                session,
                finding=finding,
                dedupe_key=f"visit:{visit.id}",
                agency_id=visit.agency_id,
                now=now,
                actor_id=actor.id,
                enterprise_id=visit.enterprise_id,
                visit_id=visit.id,
            )
    first_answer = None
    if answer is not None:
        session.expire(visit, ["team", "items"])  # rows added above: load them as stored
        first_answer = answer(visit)
    if key is not None:
        idempotency.remember(
            session,
            user_id=actor.id,
            scope=IDEMPOTENCY_SCOPE,
            key=key,
            request_digest=request_digest,
            status_code=201,
            body={"public_id": visit.public_id, "answer": first_answer},
            now=now,
        )
    session.commit()
    session.refresh(visit)
    return Registered(visit, first_answer)


# --- reading --------------------------------------------------------------------------------


def _visit_query(public_id: str) -> Any:
    return (
        select(Visit)
        .where(Visit.public_id == public_id)
        .options(
            selectinload(Visit.team).selectinload(VisitInspector.inspector),
            selectinload(Visit.items),
        )
    )


def get_visit(session: Session, *, actor: User, public_id: str) -> Visit:
    """A visit the actor may see, or not_found() (someone else's looks like nothing)."""
    if not public_id or len(public_id) > 64:
        raise not_found("visit")
    visit: Visit | None = session.scalar(_visit_query(public_id))
    if visit is None:
        raise not_found("visit")
    if actor.role == Role.manager:
        # Only after the pass was scanned, and only their own enterprise's.
        if visit.enterprise_id == actor.enterprise_id and visit.status == VisitStatus.confirmed:
            return visit
        raise not_found("visit")
    agencies = visible_agency_ids(session, actor)
    # A joint visit is seen by every agency on it (and the supervisors above them).
    if agencies is None or agencies & _agency_ids(visit):
        return visit
    raise not_found("visit")


def is_team_member(visit: Visit, actor: User) -> bool:
    return (
        actor.role == Role.inspector
        and actor.inspector_id is not None
        and any(m.inspector_id == actor.inspector_id for m in visit.team)
    )


def item_agencies(visit: Visit) -> dict[int, int | None]:
    """item id -> the agency covering it in a joint visit (None: the visit's own agency)."""
    session = object_session(visit)
    if session is None or visit.id is None:
        return {}
    rows = session.execute(
        select(visit_items.c.item_id, visit_items.c.agency_id).where(
            visit_items.c.visit_id == visit.id
        )
    )
    return {item_id: agency_id for item_id, agency_id in rows}


# --- the card (also used by the enterprise's scan page) -------------------------------------


@dataclass(frozen=True)
class CardMember:
    inspector_id: int
    name: str
    photo_url: str | None
    credential_number: str | None
    credential_status: str | None
    valid_from: date | None
    valid_until: date | None
    valid: bool
    agency_name: str
    lead: bool
    agency_id: int = 0
    joined_at: datetime | None = None  # joined an already registered visit (joint visit)


@dataclass(frozen=True)
class CardItem:
    id: int
    code: str
    title: str
    legal_basis: str
    agency_id: int = 0  # the agency covering it
    agency_name: str = ""


@dataclass(frozen=True)
class CardGroup:
    """One agency's part of a (joint) visit: its inspectors and the items it covers."""

    agency_id: int
    agency_name: str
    members: list[CardMember]
    items: list[CardItem]
    host: bool  # the agency that registered the visit


@dataclass(frozen=True)
class VisitCard:
    public_id: str
    status: VisitStatus
    agency_id: int
    agency_name: str
    enterprise_id: int
    enterprise_name: str
    enterprise_uscc: str
    enterprise_address: str
    members: list[CardMember]
    items: list[CardItem]
    is_extra: bool
    plan_entry_id: int | None
    plan_month: str | None
    plan_title: str | None
    extra_reason: ExtraReason | None
    extra_reason_text: str
    approval: Approval
    window_start: datetime
    window_end: datetime
    window_state: str  # "upcoming", "open" or "over"
    registered_at: datetime
    confirmed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    findings: list[rules.Finding]
    groups: list[CardGroup] = field(default_factory=list)
    recheck_of_public_id: str | None = None
    recheck_of_day: date | None = None

    @property
    def valid_count(self) -> int:
        return sum(1 for m in self.members if m.valid)

    @property
    def is_joint(self) -> bool:
        return len(self.groups) > 1


def photo_data_url(inspector: Inspector | MemberRow) -> str | None:
    """The inspector's photo as a data: URI (only real image types)."""
    if not inspector.photo or inspector.photo_type not in PHOTO_TYPES:
        return None
    encoded = base64.b64encode(inspector.photo).decode("ascii")
    return f"data:{inspector.photo_type};base64,{encoded}"


def visit_row(visit: Visit, covering: dict[int, int | None] | None = None) -> VisitRow:
    """A loaded visit as the card and the rules read it; `covering` as `item_agencies`
    gives it (read when not given)."""
    return rows.of_visit(visit, item_agencies(visit) if covering is None else covering)


def visit_card(visit: Visit, *, now: datetime, settings: Settings | None = None) -> VisitCard:
    """`card_of` a loaded visit."""
    return card_of(visit_row(visit), now=now, settings=settings)


def _team_facts(visit: VisitRow, first_day: date, last_day: date) -> list[rules.TeamMember]:
    return [
        member_fact(m.inspector_id, m.name, m.agency_id, m.credentials, first_day, last_day)
        for m in visit.team
    ]


def card_of(visit: VisitRow, *, now: datetime, settings: Settings | None = None) -> VisitCard:
    """Everything shown about a visit at the gate: team with credentials, agency (in a joint
    visit: each agency with its inspectors and the items it covers), checklist with legal
    basis, plan entry or extra reason, window, status, warnings."""
    settings = settings or get_settings()
    first_day, last_day = window_days(visit.window_start, visit.window_end, now=now)
    members: list[CardMember] = []
    team = _team_facts(visit, first_day, last_day)
    agency_names: dict[int, str] = {visit.agency_id: visit.agency_name}
    for position, (inspector, member) in enumerate(zip(visit.team, team, strict=True)):
        agency_names.setdefault(inspector.agency_id, inspector.agency_name)
        members.append(
            CardMember(
                inspector_id=inspector.inspector_id,
                name=inspector.name,
                photo_url=photo_data_url(inspector),
                credential_number=member.credential_number,
                credential_status=member.credential_status.value
                if member.credential_status
                else None,
                valid_from=member.valid_from,
                valid_until=member.valid_until,
                valid=rules.credential_valid(member, first_day, last_day),
                agency_name=inspector.agency_name,
                lead=position == 0,
                agency_id=inspector.agency_id,
                joined_at=inspector.added_at,
            )
        )
    items: list[CardItem] = []
    facts: list[rules.ItemFact] = []
    for item in visit.items:
        agency_id = item.covering_agency_id or visit.agency_id
        items.append(
            CardItem(
                id=item.id,
                code=item.code,
                title=item.title,
                legal_basis=item.legal_basis,
                agency_id=agency_id,
                agency_name=agency_names.get(agency_id, ""),
            )
        )
        facts.append(item_fact(item, item.covering_agency_id))
    order = list(agency_names)  # the visit's own agency first, then as they joined
    groups = [
        CardGroup(
            agency_id=aid,
            agency_name=agency_names[aid],
            members=[m for m in members if m.agency_id == aid],
            items=[i for i in items if i.agency_id == aid],
            host=aid == visit.agency_id,
        )
        for aid in order
    ]
    warn_extra = (
        visit.is_extra
        and visit.status == VisitStatus.registered
        and visit.approval != Approval.approved
    )
    findings = rules.registration_findings(
        team=team,
        first_day=first_day,
        last_day=last_day,
        is_extra=warn_extra,
        gate=settings.extra_visit_approval,
        items=facts,
        host_agency_id=visit.agency_id,
    )
    if now < visit.window_start:
        window_state = "upcoming"
    elif now <= visit.window_end:
        window_state = "open"
    else:
        window_state = "over"
    original_start = visit.recheck_of_window_start
    return VisitCard(
        public_id=visit.public_id,
        status=visit.status,
        agency_id=visit.agency_id,
        agency_name=visit.agency_name,
        enterprise_id=visit.enterprise.id,
        enterprise_name=visit.enterprise.name,
        enterprise_uscc=visit.enterprise.uscc,
        enterprise_address=visit.enterprise.address,
        members=members,
        items=items,
        is_extra=visit.is_extra,
        plan_entry_id=visit.plan_entry_id,
        plan_month=visit.plan_month,
        plan_title=visit.plan_title,
        extra_reason=visit.extra_reason,
        extra_reason_text=visit.extra_reason_text,
        approval=visit.approval,
        window_start=visit.window_start,
        window_end=visit.window_end,
        window_state=window_state,
        registered_at=visit.registered_at,
        confirmed_at=visit.confirmed_at,
        cancelled_at=visit.cancelled_at,
        cancel_reason=visit.cancel_reason,
        findings=findings,
        groups=groups,
        recheck_of_public_id=visit.recheck_of_public_id,
        recheck_of_day=to_local(original_start).date() if original_start else None,
    )


def visit_warnings(
    session: Session, *, visit: Visit, now: datetime, settings: Settings
) -> list[rules.Finding]:
    """What a registered visit warns about: the card's findings and the rules over the
    enterprise's other visits (registered and confirmed ones count). None once the visit
    is confirmed or cancelled: from then on the rules speak as flags."""
    row = visit_row(visit)
    card = card_of(row, now=now, settings=settings)
    if visit.status != VisitStatus.registered:
        return card.findings
    own = visit.agency_id
    facts = enterprise_facts(
        session,
        enterprise=row.enterprise,
        window_start=visit.window_start,
        now=now,
        statuses=(VisitStatus.registered, VisitStatus.confirmed),
        exclude_visit_id=visit.id,
        own_agency_id=own,
    )
    fact = visit_fact(row, ancestors=facts.ancestors, now=now)
    items = [item_fact(item, item.covering_agency_id) for item in row.items]
    notice = rules.short_notice_at_registration(
        visit.registered_at, visit.window_start, settings.short_notice_minutes
    )
    return [*card.findings, *([notice] if notice else []), *history_findings(fact, items, facts)]


def confirmation_findings(
    session: Session, *, visit: VisitRow, now: datetime, settings: Settings
) -> list[rules.Finding]:
    """The rules that flag a visit at its confirming scan, over the visit and the
    enterprise's other confirmed visits: merge candidate (another team confirmed in the
    same month), over cap and item frequency (confirmed visits this year), a credential
    not covering an item's field, confirmed outside the window proper."""
    facts = enterprise_facts(
        session,
        enterprise=visit.enterprise,
        window_start=visit.window_start,
        now=now,
        statuses=(VisitStatus.confirmed,),
        exclude_visit_id=visit.id,
        own_agency_id=visit.agency_id,
        with_entries=False,
    )
    fact = visit_fact(visit, ancestors=facts.ancestors, now=now)
    items = [item_fact(item, item.covering_agency_id) for item in visit.items]
    first_day, last_day = window_days(visit.window_start, visit.window_end, now=now)
    team = _team_facts(visit, first_day, last_day)
    found = [
        rules.credential_fields(team, items, host_agency_id=visit.agency_id),
        rules.confirmed_outside_window(
            visit.window_start, visit.window_end, visit.confirmed_at or now
        ),
        *history_findings(fact, items, facts),
    ]
    return [f for f in found if f is not None]


# --- the pass -------------------------------------------------------------------------------


def awaiting_approval(visit: Visit, settings: Settings) -> str | None:
    """Under Settings.extra_visit_approval == "issue", the refusal code that keeps an extra
    visit's pass from being shown (approval_pending or approval_rejected); else None."""
    if settings.extra_visit_approval != rules.GATE_ISSUE:
        return None
    return rules.approval_refusal(visit.is_extra, visit.approval)


@dataclass(frozen=True)
class PassView:
    """The pass area of the card: the live pass, or why there is none."""

    public_id: str
    status: VisitStatus
    current: passes.CurrentPass | None
    svg: str  # inline SVG of the current pass URL ("" without a live pass)
    shown_to_actor: bool  # False: the actor is not on the team (supervisor, colleague)
    confirmed_at: datetime | None = None
    cancelled_at: datetime | None = None
    # approval_pending / approval_rejected: no pass until a supervisor approves ("issue").
    withheld: str | None = None
    # What the card needs to keep the pass rotating with no network (static/offline-card.js):
    # set only with a live pass, i.e. only for the visit's own team.
    offline: OfflinePass | None = None


@dataclass(frozen=True)
class OfflinePass:
    """The per-visit secret (base64url) and the fixed parts of the pass claims, so the team's
    phone can compute the same token and short code as passes.current_pass with no network."""

    secret_b64: str
    enterprise_id: int
    code_prefix: str
    step_seconds: int
    accepted_steps: int
    scan_url_prefix: str  # the pass URL up to the token


def _offline_pass(visit: Visit, settings: Settings) -> OfflinePass:
    return OfflinePass(
        secret_b64=base64.urlsafe_b64encode(visit.pass_secret).decode().rstrip("="),
        enterprise_id=visit.enterprise_id,
        code_prefix=visit.code_prefix,
        step_seconds=settings.pass_step_seconds,
        accepted_steps=settings.pass_accepted_steps,
        scan_url_prefix=passes.scan_url(settings, ""),
    )


def _qr_markup(url: str) -> str:
    # Our own generated SVG (a path of squares): give it the page's class.
    return passes.qr_svg(url).replace("<svg ", '<svg class="qr" aria-hidden="true" ', 1)


def pass_view(visit: Visit, *, actor: User, now: datetime, settings: Settings) -> PassView:
    shown = is_team_member(visit, actor)
    current = None
    withheld = (
        awaiting_approval(visit, settings) if visit.status == VisitStatus.registered else None
    )
    if visit.status == VisitStatus.registered and shown and withheld is None:
        current = passes.current_pass(visit, now=now, settings=settings)
    return PassView(
        public_id=visit.public_id,
        status=visit.status,
        current=current,
        svg=_qr_markup(current.url) if current else "",
        shown_to_actor=shown,
        confirmed_at=visit.confirmed_at,
        cancelled_at=visit.cancelled_at,
        withheld=withheld,
        offline=_offline_pass(visit, settings) if current else None,
    )


def visit_pass(
    session: Session, *, actor: User, public_id: str, now: datetime, settings: Settings
) -> PassView:
    """The pass area for the card page (refreshed every few seconds)."""
    visit = get_visit(session, actor=actor, public_id=public_id)
    return pass_view(visit, actor=actor, now=now, settings=settings)


def live_pass(
    session: Session, *, actor: User, public_id: str, now: datetime, settings: Settings
) -> passes.CurrentPass:
    """The current pass of a registered visit, for an inspector on its team."""
    visit = get_visit(session, actor=actor, public_id=public_id)
    if not is_team_member(visit, actor):
        raise DomainError(
            "forbidden", "Only the inspectors on this visit's team can show its pass."
        )
    if visit.status != VisitStatus.registered:
        raise DomainError(
            "no_live_pass",
            "This visit is %(visit_status)s: it has no live pass.",
            status=409,
            visit_status=visit.status.value,
        )
    withheld = awaiting_approval(visit, settings)
    if withheld == "approval_rejected":
        raise DomainError(
            "approval_rejected",
            "This extra visit's approval was rejected: it has no pass.",
            status=409,
        )
    if withheld is not None:
        raise DomainError(
            "approval_pending",
            "This extra visit is waiting for a supervisor's approval: its pass is issued "
            "once it is approved.",
            status=409,
        )
    return passes.current_pass(visit, now=now, settings=settings)


# --- the card page --------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagView:
    kind: FlagKind
    severity: str
    message: str
    params: dict[str, object]
    raised_at: datetime
    resolved: bool


@dataclass(frozen=True)
class VisitPage:
    visit: Visit
    card: VisitCard
    pass_: PassView
    flags: list[FlagView]
    can_cancel: bool
    # The card's warnings and those of the rules over the enterprise's other visits.
    warnings: list[rules.Finding] = field(default_factory=list)


def can_cancel(visit: Visit, actor: User) -> bool:
    return (
        actor.role == Role.inspector
        and actor.agency_id == visit.agency_id
        and visit.status == VisitStatus.registered
    )


def visit_page(
    session: Session, *, actor: User, public_id: str, now: datetime, settings: Settings
) -> VisitPage:
    """The card page: card, pass, flags raised on the visit (not for managers)."""
    visit = get_visit(session, actor=actor, public_id=public_id)
    flag_views: list[FlagView] = []
    if actor.role != Role.manager:
        rows = session.scalars(
            select(Flag)
            .where(Flag.visit_id == visit.id)
            .options(selectinload(Flag.resolutions))
            .order_by(Flag.raised_at, Flag.id)
        )
        for flag in rows:
            message, params = flags_service.flag_message(flag)
            flag_views.append(
                FlagView(
                    kind=flag.kind,
                    severity=flag.severity.value,
                    message=message,
                    params=params,
                    raised_at=flag.raised_at,
                    resolved=bool(flag.resolutions),
                )
            )
    card = visit_card(visit, now=now, settings=settings)
    warnings = card.findings
    if actor.role != Role.manager and visit.status == VisitStatus.registered:
        warnings = visit_warnings(session, visit=visit, now=now, settings=settings)
    return VisitPage(
        visit=visit,
        card=card,
        pass_=pass_view(visit, actor=actor, now=now, settings=settings),
        flags=flag_views,
        can_cancel=can_cancel(visit, actor),
        warnings=warnings,
    )


# --- the inspector's home -------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRow:
    entry: PlanEntry
    visit: Visit | None  # a live (not cancelled) visit already registered for it


@dataclass(frozen=True)
class InspectorHome:
    today: list[Visit]
    upcoming: list[Visit]
    recent: list[Visit]
    entries: list[EntryRow]
    month: str


def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz()).astimezone(UTC)


def inspector_home(session: Session, *, actor: User, now: datetime) -> InspectorHome:
    """The actor's visits today, upcoming and in the last 14 days, and this month's plan
    entries of their agency (each with the visit registered for it, if any)."""
    inspector = _require_inspector(actor)
    today = to_local(now).date()
    day_start = _local_midnight(today)
    day_end = _local_midnight(today + timedelta(days=1))
    base = (
        select(Visit)
        .join(VisitInspector, VisitInspector.visit_id == Visit.id)
        .where(VisitInspector.inspector_id == inspector.id)
        .options(selectinload(Visit.enterprise))
    )
    today_visits = list(
        session.scalars(
            base.where(Visit.window_start < day_end, Visit.window_end >= day_start).order_by(
                Visit.window_start, Visit.id
            )
        )
    )
    upcoming = list(
        session.scalars(
            base.where(Visit.window_start >= day_end, Visit.status == VisitStatus.registered)
            .order_by(Visit.window_start, Visit.id)
            .limit(50)
        )
    )
    recent = list(
        session.scalars(
            base.where(
                Visit.window_start >= day_start - timedelta(days=RECENT_DAYS),
                Visit.window_end < day_start,
            )
            .order_by(Visit.window_start.desc(), Visit.id.desc())
            .limit(50)
        )
    )
    month = to_local(now).strftime("%Y-%m")
    entries = list(
        session.scalars(
            select(PlanEntry)
            .join(Enterprise, Enterprise.id == PlanEntry.enterprise_id)
            .where(PlanEntry.agency_id == actor.agency_id, PlanEntry.month == month)
            .options(selectinload(PlanEntry.enterprise), selectinload(PlanEntry.items))
            .order_by(Enterprise.name, PlanEntry.id)
        )
    )
    registered: dict[int, Visit] = {}
    if entries:
        for visit in session.scalars(
            select(Visit)
            .where(
                Visit.plan_entry_id.in_([e.id for e in entries]),
                Visit.status != VisitStatus.cancelled,
            )
            .order_by(Visit.window_start)
        ):
            assert visit.plan_entry_id is not None
            registered.setdefault(visit.plan_entry_id, visit)
    return InspectorHome(
        today=today_visits,
        upcoming=upcoming,
        recent=recent,
        entries=[EntryRow(e, registered.get(e.id)) for e in entries],
        month=month,
    )


# --- the registration form ------------------------------------------------------------------


@dataclass(frozen=True)
class InspectorChoice:
    id: int
    name: str
    credential_number: str | None
    valid: bool
    valid_until: date | None


@dataclass(frozen=True)
class RegistrationForm:
    """What the registration form offers, given what has been entered so far."""

    data: RegistrationInput
    enterprise: Enterprise | None
    results: list[Enterprise]
    entries: list[PlanEntry]
    inspectors: list[InspectorChoice]
    items: list[InspectionItem]
    check: RegistrationCheck | None
    lead: InspectorChoice
    month: str  # the month whose plan entries are offered (the window's)
    recheck_of: Visit | None = None  # a re-check: the visit whose rectification it checks


def default_window(now: datetime) -> tuple[datetime, datetime]:
    """Today from the next full hour, for three hours."""
    local = to_local(now).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = local.astimezone(UTC)
    return start, start + timedelta(hours=3)


def own_co_inspectors(
    session: Session, *, actor: User, lead: Inspector, ids: list[int], field: str
) -> tuple[list[Inspector], list[FieldError]]:
    """The co-inspectors named (lead and repeats dropped, at most MAX_CO_INSPECTORS), those
    of the actor's agency only; the others are reported on `field`."""
    errors: list[FieldError] = []
    co_ids = [i for i in dict.fromkeys(ids) if i != lead.id]
    if len(co_ids) > MAX_CO_INSPECTORS:
        errors.append(
            FieldError(
                field,
                "At most %(max)s co-inspectors can be named on one visit.",
                max=MAX_CO_INSPECTORS,
            )
        )
        co_ids = co_ids[:MAX_CO_INSPECTORS]
    if not co_ids:
        return [], errors
    found = {
        i.id: i
        for i in session.scalars(
            select(Inspector)
            .where(Inspector.id.in_(co_ids))
            .options(selectinload(Inspector.credentials))
        )
    }
    strangers = [i for i in co_ids if i not in found or found[i].agency_id != actor.agency_id]
    if strangers:
        errors.append(
            FieldError(
                field,
                "Not an inspector of your agency: %(ids)s. Choose co-inspectors from the list.",
                ids=", ".join(str(i) for i in strangers),
            )
        )
    return [found[i] for i in co_ids if i not in strangers], errors


def inspector_choice(inspector: Inspector, first_day: date, last_day: date) -> InspectorChoice:
    """An inspector as a co-inspector choice, with the credential shown for the window."""
    member = team_member(inspector, first_day, last_day)
    return InspectorChoice(
        id=inspector.id,
        name=inspector.name,
        credential_number=member.credential_number,
        valid=rules.credential_valid(member, first_day, last_day),
        valid_until=member.valid_until,
    )


def _colleagues(session: Session, actor: User, lead: Inspector) -> list[Inspector]:
    """The other inspectors of the actor's agency, by name."""
    return list(
        session.scalars(
            select(Inspector)
            .where(Inspector.agency_id == actor.agency_id, Inspector.id != lead.id)
            .options(selectinload(Inspector.credentials))
            .order_by(Inspector.name, Inspector.id)
        )
    )


def registration_form(
    session: Session,
    *,
    actor: User,
    data: RegistrationInput,
    now: datetime,
    q: str = "",
    prefill_entry_id: int | None = None,
    prefill_recheck_of: str | None = None,
    run_check: bool = False,
    settings: Settings | None = None,
) -> RegistrationForm:
    """The registration form's choices: the chosen enterprise and search results, the
    enterprise's plan entries for the window's month, the agency's inspectors with their
    credential validity, the item list; prefilled from a plan entry, or for a re-check of
    a confirmed visit (its enterprise and items, the reason `recheck`), when asked; with
    the check's errors and warnings when `run_check`."""
    lead = _require_inspector(actor)
    if prefill_recheck_of is not None:
        original = get_visit(session, actor=actor, public_id=prefill_recheck_of)
        if original.status != VisitStatus.confirmed:
            raise not_found("visit")
        data.enterprise_id = original.enterprise_id
        data.plan_entry_id = None
        data.extra_reason = ExtraReason.recheck
        data.recheck_of = original.public_id
        data.item_ids = [item.id for item in original.items]
    recheck_of = None
    if data.recheck_of is not None:
        try:
            recheck_of = get_visit(session, actor=actor, public_id=data.recheck_of)
        except DomainError:
            recheck_of = None  # the check says why
    if prefill_entry_id is not None:
        entry = session.get(PlanEntry, prefill_entry_id)
        if entry is None or entry.agency_id != actor.agency_id:
            raise not_found("plan entry")
        data.enterprise_id = entry.enterprise_id
        data.plan_entry_id = entry.id
        data.extra_reason = None
        data.item_ids = [item.id for item in entry.items]
    if data.plan_entry_id is not None and not data.item_ids:
        entry = session.get(PlanEntry, data.plan_entry_id)
        if entry is not None and entry.agency_id == actor.agency_id:
            data.item_ids = [item.id for item in entry.items]

    enterprise = session.get(Enterprise, data.enterprise_id) if data.enterprise_id else None
    results: list[Enterprise] = []
    if q.strip():
        results = [
            e
            for e in enterprises_service.search_enterprises(session, actor=actor, q=q)
            if enterprise is None or e.id != enterprise.id
        ]

    month = to_local(data.window_start or now).strftime("%Y-%m")
    entries: list[PlanEntry] = []
    if enterprise is not None:
        entries = list(
            session.scalars(
                select(PlanEntry)
                .where(
                    PlanEntry.agency_id == actor.agency_id,
                    PlanEntry.enterprise_id == enterprise.id,
                    PlanEntry.month == month,
                )
                .options(selectinload(PlanEntry.items), selectinload(PlanEntry.plan))
                .order_by(PlanEntry.id)
            )
        )

    first_day, last_day = window_days(data.window_start, data.window_end, now=now)

    choices = [inspector_choice(c, first_day, last_day) for c in _colleagues(session, actor, lead)]
    check = (
        check_registration(session, actor=actor, data=data, now=now, settings=settings)
        if run_check
        else None
    )
    return RegistrationForm(
        data=data,
        enterprise=enterprise,
        results=results,
        entries=entries,
        inspectors=choices,
        items=items_service.list_items(session),
        check=check,
        lead=inspector_choice(lead, first_day, last_day),
        month=month,
        recheck_of=recheck_of,
    )


# --- joining another agency's visit (a joint visit, 联合执法) ----------------------------


@dataclass(frozen=True)
class JoinForm:
    """What the join page offers: the visit (as the merge warning showed it), the actor's
    colleagues with their credential validity on its date, the item list."""

    visit: Visit
    card: VisitCard
    lead: InspectorChoice
    inspectors: list[InspectorChoice]
    items: list[InspectionItem]
    taken_item_ids: set[int]  # already on the visit (covered by another agency)


def _joinable_visit(
    session: Session, *, actor: User, public_id: str, now: datetime, lock: bool = False
) -> Visit:
    """Another agency's visit that the actor's agency may still join, or a refusal with a
    stable code. The public id is the capability: the merge warning shows it only to the
    inspectors registering a visit at the same enterprise in the same month."""
    if not public_id or len(public_id) > 64:
        raise not_found("visit")
    query = _visit_query(public_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    visit: Visit | None = session.scalar(query)
    if visit is None:
        raise not_found("visit")
    if visit.agency_id == actor.agency_id:
        raise DomainError(
            "own_agency_visit",
            "This is your own agency's visit: name your colleagues at registration instead.",
            status=409,
        )
    if visit.status == VisitStatus.cancelled:
        raise DomainError(
            "visit_cancelled", "This visit was cancelled: it cannot be joined.", status=409
        )
    if visit.status == VisitStatus.confirmed:
        raise DomainError(
            "already_confirmed",
            "This visit was already confirmed by the enterprise: it can no longer be joined.",
            status=409,
        )
    if now > visit.window_end:
        raise DomainError(
            "window_over", "This visit's window is over: it can no longer be joined.", status=409
        )
    return visit


def join_form(session: Session, *, actor: User, public_id: str, now: datetime) -> JoinForm:
    """The join page: the visit and what the actor's agency can bring to it."""
    lead = _require_inspector(actor)
    visit = _joinable_visit(session, actor=actor, public_id=public_id, now=now)
    first_day, last_day = window_days(visit.window_start, visit.window_end, now=now)

    on_visit = {m.inspector_id for m in visit.team}
    return JoinForm(
        visit=visit,
        card=visit_card(visit, now=now),
        lead=inspector_choice(lead, first_day, last_day),
        inspectors=[
            inspector_choice(c, first_day, last_day)
            for c in _colleagues(session, actor, lead)
            if c.id not in on_visit
        ],
        items=items_service.list_items(session),
        taken_item_ids={item.id for item in visit.items},
    )


def _join_digest(public_id: str, inspector_ids: list[int], item_ids: list[int]) -> str:
    body = {
        "public_id": public_id,
        "inspector_ids": sorted(set(inspector_ids)),
        "item_ids": sorted(set(item_ids)),
    }
    return security.digest(json.dumps(body, sort_keys=True, separators=(",", ":")))


def join_visit(
    session: Session,
    *,
    actor: User,
    public_id: str,
    inspector_ids: list[int],
    item_ids: list[int],
    now: datetime,
    idempotency_key: str | None = None,
) -> Visit:
    """The actor's agency joins another agency's registered visit (联合执法): the actor and
    the co-inspectors named (`inspector_ids`, of the actor's agency) are added to its team,
    after the inspectors already on it, and the items named are added as covered by the
    actor's agency. The visit stays one visit: it counts once for the enterprise.

    Refused (stable codes): the visit is the actor's own agency's (`own_agency_visit`),
    cancelled (`visit_cancelled`), confirmed (`already_confirmed`) or its window is over
    (`window_over`); an inspector is already on it (`already_on_visit`); a joining
    inspector's credential is not valid on its date (`credential_not_valid`); bad input
    (`validation_error`: fewer than two joining inspectors, not of the actor's agency, no
    item, unknown items, items already on the visit). A retry with the same idempotency key
    returns the visit again and writes nothing."""
    lead = _require_inspector(actor)
    assert actor.agency_id is not None
    begin_write(session)
    key = idempotency.check_key(idempotency_key)
    request_digest = _join_digest(public_id, inspector_ids, item_ids)
    if key is not None:
        record = idempotency.replay(
            session,
            user_id=actor.id,
            scope=JOIN_IDEMPOTENCY_SCOPE,
            key=key,
            request_digest=request_digest,
        )
        if record is not None:
            earlier: Visit | None = session.scalar(
                _visit_query(json.loads(record.body)["public_id"])
            )
            session.commit()  # nothing written: end the write transaction
            if earlier is None:
                raise not_found("visit")
            return earlier

    visit = _joinable_visit(session, actor=actor, public_id=public_id, now=now, lock=True)

    errors: list[FieldError] = []
    co_inspectors, problems = own_co_inspectors(
        session, actor=actor, lead=lead, ids=inspector_ids, field="inspector_ids"
    )
    errors += problems
    joiners = [lead, *co_inspectors]
    # Too few only when none were refused (a refused one already says what to fix).
    if len(joiners) < rules.MIN_VALID_INSPECTORS and not problems:
        errors.append(
            FieldError(
                "inspector_ids",
                "At least 2 inspectors of your agency take part: add a co-inspector.",
            )
        )
    wanted = list(dict.fromkeys(item_ids))
    if len(wanted) > MAX_ITEMS:
        errors.append(FieldError("item_ids", "At most %(max)s items can be named.", max=MAX_ITEMS))
        wanted = wanted[:MAX_ITEMS]
    items, unknown = items_service.items_by_ids(session, wanted)
    if unknown:
        errors.append(
            FieldError(
                "item_ids",
                "Unknown item id(s): %(ids)s. Choose items from the item list.",
                ids=", ".join(str(i) for i in unknown),
            )
        )
    elif not wanted:
        errors.append(
            FieldError("item_ids", "Choose at least one item your agency checks on this visit.")
        )
    taken = [item.code for item in items if item.id in {i.id for i in visit.items}]
    if taken:
        errors.append(
            FieldError(
                "item_ids",
                "Already on this visit (checked by the agency that registered it or one that "
                "joined): %(codes)s.",
                codes=", ".join(taken),
            )
        )

    on_visit = {m.inspector_id for m in visit.team}
    already = [i.name for i in joiners if i.id in on_visit]
    if already:
        raise DomainError(
            "already_on_visit",
            "Already on this visit: %(names)s.",
            status=409,
            names=", ".join(already),
        )
    if errors:
        raise validation_error(errors)
    first_day, last_day = window_days(visit.window_start, visit.window_end, now=now)
    not_valid = [
        i.name
        for i in joiners
        if not rules.credential_valid(team_member(i, first_day, last_day), first_day, last_day)
    ]
    if not_valid:
        raise DomainError(
            "credential_not_valid",
            "No credential valid on the visit's date: %(names)s. Only inspectors with a valid "
            "credential can join.",
            status=422,
            names=", ".join(not_valid),
        )

    position = max((m.position for m in visit.team), default=-1) + 1
    for offset, inspector in enumerate(joiners):
        session.add(
            VisitInspector(
                visit_id=visit.id,
                inspector_id=inspector.id,
                position=position + offset,
                added_at=now,
            )
        )
    session.execute(
        insert(visit_items),
        [{"visit_id": visit.id, "item_id": i.id, "agency_id": actor.agency_id} for i in items],
    )
    session.flush()
    audit.record(
        session,
        actor_id=actor.id,
        action="visit.joined",
        object_type="visit",
        object_id=visit.id,
        visit_id=visit.id,
        now=now,
        data={
            "public_id": visit.public_id,
            "agency_id": actor.agency_id,
            "inspectors": [i.id for i in joiners],
            "items": [item.code for item in items],
        },
    )
    if key is not None:
        idempotency.remember(
            session,
            user_id=actor.id,
            scope=JOIN_IDEMPOTENCY_SCOPE,
            key=key,
            request_digest=request_digest,
            status_code=200,
            body={"public_id": visit.public_id},
            now=now,
        )
    session.commit()
    session.expire(visit)
    joined: Visit | None = session.scalar(
        _visit_query(visit.public_id).execution_options(populate_existing=True)
    )
    assert joined is not None
    return joined


# --- cancelling -----------------------------------------------------------------------------


def cancel_visit(
    session: Session, *, actor: User, public_id: str, reason: str, now: datetime
) -> Visit:
    """An inspector of the visit's agency cancels a registered (not yet confirmed) visit.
    The record stays, with when and why."""
    _require_inspector(actor)
    begin_write(session)
    visit = get_visit(session, actor=actor, public_id=public_id)
    if visit.status != VisitStatus.registered:
        raise DomainError(
            "not_cancellable",
            "Only a registered visit can be cancelled; this one is %(visit_status)s.",
            status=409,
            visit_status=visit.status.value,
        )
    reason = reason.strip()
    if len(reason) < 4:
        raise validation_error(
            [FieldError("reason", "Say why the visit is cancelled (at least 4 characters).")]
        )
    if len(reason) > MAX_REASON_TEXT:
        raise validation_error(
            [
                FieldError(
                    "reason",
                    "The reason can be at most %(max)s characters.",
                    max=MAX_REASON_TEXT,
                )
            ]
        )
    visit.status = VisitStatus.cancelled
    visit.cancelled_at = now
    visit.cancel_reason = reason
    audit.record(
        session,
        actor_id=actor.id,
        action="visit.cancelled",
        object_type="visit",
        object_id=visit.id,
        visit_id=visit.id,
        now=now,
        data={"public_id": visit.public_id, "reason": reason},
    )
    session.commit()
    return visit
