"""Writing an import's added and changed rows, one kind each, a chunk at a time in the
caller's transaction: bulk INSERTs for what is new, an UPDATE and an audit event (old and
new values) for each changed row."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from webapp.agencies.models import Agency, Credential, Inspector
from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.config import get_settings
from webapp.enterprises.models import Enterprise
from webapp.enums import CredentialStatus, EnterpriseClass, ImportKind, PlanKind
from webapp.imports import hygiene
from webapp.imports.diff import holder_key, pairs, plan_key
from webapp.imports.kinds import Row, spec_for
from webapp.imports.models import ImportBatch
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry, VisitCap, plan_entry_items

Pair = tuple[Row, dict[str, Any]]


class Writer:
    """Writes one kind's added and changed rows, a chunk at a time, in the caller's
    transaction; every changed row is an audit event with its old and new values."""

    def __init__(
        self,
        session: Session,
        batch: ImportBatch,
        snap: dict[str, Any],
        actor: User | None,
        now: datetime,
    ) -> None:
        self.session = session
        self.batch_id = batch.id
        self.batch_agency_id = batch.agency_id
        self.kind = batch.kind
        self.snap = snap
        self.actor_id = actor.id if actor else None
        self.now = now
        self.agencies = pairs(session, select(Agency.code, Agency.id))

    def write(self, work: list[Pair]) -> None:
        added = [row for row, d in work if d["a"] == "added"]
        if added:
            self.add(added, [d for _, d in work if d["a"] == "added"])
        for row, d in work:
            if d["a"] == "changed":
                self.change(row, d)

    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def change(self, row: Row, d: dict[str, Any]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """After the last chunk (plans: raise the plan-hygiene flags)."""

    def _audit(
        self,
        action: str,
        object_type: str,
        object_id: int,
        before: dict[str, Any],
        row: Row,
        d: dict[str, Any],
        **extra: Any,
    ) -> None:
        audit.record(
            self.session,
            actor_id=self.actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            now=self.now,
            data={
                **extra,
                "import_batch_id": self.batch_id,
                "changes": {f: [before.get(f), row.get(f)] for f, _, _ in d["f"]},
            },
        )


class _EnterpriseWriter(Writer):
    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        self.session.execute(
            insert(Enterprise),
            [
                {
                    "name": row["name"],
                    "uscc": row["uscc"],
                    "address": row.get("address", ""),
                    "industry": row.get("industry", ""),
                    "enterprise_class": EnterpriseClass(row["enterprise_class"]),
                    "risk_grade": row["risk_grade"],
                    "agency_id": self.agencies[row["agency_code"]],
                    "created_at": self.now,
                }
                for row in rows
            ],
        )

    def change(self, row: Row, d: dict[str, Any]) -> None:
        before = self.snap[row["uscc"]]
        values: dict[str, Any] = {}
        for f, _, _ in d["f"]:
            if f == "agency_code":
                values["agency_id"] = self.agencies[row[f]]
            elif f == "enterprise_class":
                values[f] = EnterpriseClass(row[f])
            else:
                values[f] = row[f]
        self.session.execute(
            update(Enterprise).where(Enterprise.id == before["id"]).values(**values)
        )
        self._audit(
            "enterprise.updated", "enterprise", before["id"], before, row, d, uscc=row["uscc"]
        )


class _ItemWriter(Writer):
    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        self.session.execute(
            insert(InspectionItem),
            [
                {
                    "code": row["code"],
                    "title": row["title"],
                    "legal_basis": row["legal_basis"],
                    "description": row.get("description", ""),
                    "max_per_year": row.get("max_per_year"),
                    "field": row.get("field", ""),
                    "created_at": self.now,
                }
                for row in rows
            ],
        )

    def change(self, row: Row, d: dict[str, Any]) -> None:
        before = self.snap[row["code"]]
        values = {f: row[f] for f, _, _ in d["f"]}
        self.session.execute(
            update(InspectionItem).where(InspectionItem.id == before["id"]).values(**values)
        )
        self._audit(
            "item.updated", "inspection_item", before["id"], before, row, d, code=row["code"]
        )


class _CapWriter(Writer):
    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        self.session.execute(
            insert(VisitCap),
            [
                {
                    "enterprise_class": row["enterprise_class"],
                    "risk_grade": row["risk_grade"],
                    "max_per_year": row["max_per_year"],
                    "updated_at": self.now,
                    "updated_by_id": self.actor_id,
                }
                for row in rows
            ],
        )

    def change(self, row: Row, d: dict[str, Any]) -> None:
        before = self.snap[f"{row['enterprise_class']}|{row['risk_grade']}"]
        self.session.execute(
            update(VisitCap)
            .where(VisitCap.id == before["id"])
            .values(
                max_per_year=row["max_per_year"],
                updated_at=self.now,
                updated_by_id=self.actor_id,
            )
        )
        audit.record(
            self.session,
            actor_id=self.actor_id,
            action="visit_cap.changed",
            object_type="visit_cap",
            object_id=before["id"],
            now=self.now,
            data={
                "enterprise_class": row["enterprise_class"],
                "risk_grade": row["risk_grade"],
                "from": before["max_per_year"],
                "to": row["max_per_year"],
                "import_batch_id": self.batch_id,
            },
        )


class _InspectorWriter(Writer):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.new_holders: dict[str, int] = {}  # (agency code|name) -> inspector created here

    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        missing = [
            row
            for row, d in zip(rows, diffs, strict=True)
            if d.get("holder") is None and holder_key(row) not in self.new_holders
        ]
        people = list({holder_key(r): r for r in missing}.values())
        if people:
            ids = self.session.scalars(
                insert(Inspector).returning(Inspector.id, sort_by_parameter_order=True),
                [
                    {
                        "name": r["name"],
                        "agency_id": self.agencies[r["agency_code"]],
                        "created_at": self.now,
                    }
                    for r in people
                ],
            ).all()
            for person, inspector_id in zip(people, ids, strict=True):
                self.new_holders[holder_key(person)] = inspector_id
        self.session.execute(
            insert(Credential),
            [
                {
                    "number": row["number"],
                    "inspector_id": d.get("holder") or self.new_holders[holder_key(row)],
                    "issuing_agency_id": self.agencies[
                        row.get("issuing_agency_code") or row["agency_code"]
                    ],
                    "valid_from": date.fromisoformat(row["valid_from"]),
                    "valid_until": date.fromisoformat(row["valid_until"]),
                    "status": CredentialStatus(row["status"]),
                    "fields": row.get("fields", ""),
                    "created_at": self.now,
                }
                for row, d in zip(rows, diffs, strict=True)
            ],
        )

    def change(self, row: Row, d: dict[str, Any]) -> None:
        before = self.snap[row["number"]]
        person: dict[str, Any] = {}
        credential: dict[str, Any] = {}
        for f, _, _ in d["f"]:
            if f == "name":
                person["name"] = row[f]
            elif f == "agency_code":
                person["agency_id"] = self.agencies[row[f]]
            elif f == "issuing_agency_code":
                credential["issuing_agency_id"] = self.agencies[row[f]]
            elif f in ("valid_from", "valid_until"):
                credential[f] = date.fromisoformat(row[f])
            elif f == "status":
                credential[f] = CredentialStatus(row[f])
            else:
                credential[f] = row[f]
        if person:
            self.session.execute(
                update(Inspector).where(Inspector.id == before["inspector_id"]).values(**person)
            )
        if credential:
            self.session.execute(
                update(Credential).where(Credential.id == before["id"]).values(**credential)
            )
        self._audit(
            "credential.updated",
            "credential",
            before["id"],
            before,
            row,
            d,
            number=row["number"],
            inspector_id=before["inspector_id"],
        )


def plan_title(kind: PlanKind, period: str) -> str:
    """The title of a plan an import creates, in the installation's language."""
    from webapp.web import translate

    lang = get_settings().default_locale
    if kind == PlanKind.annual:
        return translate(lang, "%(year)s annual inspection plan", {"year": period})
    return translate(lang, "%(month)s monthly enforcement plan", {"month": period})


class _PlanWriter(Writer):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        kind = spec_for(self.kind).plan_kind
        assert kind is not None
        assert self.batch_agency_id is not None
        self.plan_kind = kind
        self.agency_id = self.batch_agency_id
        self.months: set[str] = set()

    def _plan_id(self, month: str) -> int:
        period = plan_key(self.plan_kind, month)
        known = self.snap.get(f"plan:{period}")
        if known is not None:
            return int(known)
        year = int(period[:4])
        number = None if self.plan_kind == PlanKind.annual else int(period[5:7])
        title = plan_title(self.plan_kind, period)
        plan = Plan(
            agency_id=self.agency_id,
            kind=self.plan_kind,
            year=year,
            month=number,
            title=title,
            created_at=self.now,
            created_by_id=self.actor_id,
        )
        self.session.add(plan)
        self.session.flush()
        audit.record(
            self.session,
            actor_id=self.actor_id,
            action="plan.created",
            object_type="plan",
            object_id=plan.id,
            now=self.now,
            data={
                "agency_id": self.agency_id,
                "kind": self.plan_kind.value,
                "year": year,
                "month": number,
                "title": title,
                "import_batch_id": self.batch_id,
            },
        )
        self.snap[f"plan:{period}"] = plan.id
        return plan.id

    def _items(self, entry_id: int, codes: list[str]) -> list[dict[str, int]]:
        return [{"plan_entry_id": entry_id, "item_id": self.snap[f"item:{c}"]} for c in codes]

    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        values = [
            {
                "plan_id": self._plan_id(row["month"]),
                "agency_id": self.agency_id,
                "enterprise_id": self.snap[f"ent:{row['uscc']}"],
                "month": row["month"],
                "note": row.get("note", ""),
                "created_at": self.now,
            }
            for row in rows
        ]
        ids = self.session.scalars(
            insert(PlanEntry).returning(PlanEntry.id, sort_by_parameter_order=True), values
        ).all()
        links = [
            link for row, i in zip(rows, ids, strict=True) for link in self._items(i, row["items"])
        ]
        self.session.execute(insert(plan_entry_items), links)
        self.months.update(row["month"] for row in rows)

    def change(self, row: Row, d: dict[str, Any]) -> None:
        target = int(d["target"])
        before = next(e for e in self.snap[f"{row['uscc']}|{row['month']}"] if e["id"] == target)
        changed = {f for f, _, _ in d["f"]}
        if "note" in changed:
            self.session.execute(
                update(PlanEntry).where(PlanEntry.id == target).values(note=row["note"])
            )
        if "items" in changed:
            self.session.execute(
                delete(plan_entry_items).where(plan_entry_items.c.plan_entry_id == target)
            )
            self.session.execute(insert(plan_entry_items), self._items(target, row["items"]))
        self._audit(
            "plan_entry.changed",
            "plan_entry",
            target,
            before,
            row,
            d,
            uscc=row["uscc"],
            month=row["month"],
        )
        self.months.add(row["month"])

    def finish(self) -> None:
        hygiene.raise_plan_flags(
            self.session, months=self.months, now=self.now, actor_id=self.actor_id
        )


WRITERS: dict[ImportKind, type[Writer]] = {
    ImportKind.enterprises: _EnterpriseWriter,
    ImportKind.items: _ItemWriter,
    ImportKind.caps: _CapWriter,
    ImportKind.inspectors: _InspectorWriter,
    ImportKind.annual_plan: _PlanWriter,
    ImportKind.monthly_plan: _PlanWriter,
}
