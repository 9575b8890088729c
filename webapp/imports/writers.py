"""Writing an import's added and changed rows, one kind each, a chunk at a time in the
caller's transaction: bulk INSERTs for what is new; for the changed rows, UPDATEs (one
executemany per set of changed columns) and an audit event each (old and new values),
appended to the chain together. A chunk costs a handful of statements, whatever its size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime
from itertools import chain, repeat
from typing import Any

from sqlalchemy import Table, bindparam, delete, insert, text, update
from sqlalchemy.orm import Session

from webapp.agencies.models import Credential, Inspector
from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.config import get_settings
from webapp.db import plain_reads
from webapp.enterprises.models import Enterprise
from webapp.enums import CredentialStatus, EnterpriseClass, ImportKind, PlanKind
from webapp.imports import hygiene
from webapp.imports.diff import AGENCY_CODES, holder_key, pairs, plan_key
from webapp.imports.kinds import Row, spec_for
from webapp.imports.models import ImportBatch
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry, VisitCap, plan_entry_items
from webapp.rules.plan import PlanSlot

Pair = tuple[Row, dict[str, Any]]


def table_of(model: type[Any]) -> Table:
    """A mapped class's table, for Core statements (no ORM bookkeeping per row)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT the rows (all with the same keys) in the session's transaction (see
    `insert_columns`)."""
    if rows:
        insert_columns(session, table, {key: [row[key] for row in rows] for key in rows[0]})


class _Unset:
    """No converted value memoised yet (None can be one)."""


_UNSET = _Unset()


def _converted(values: list[Any], process: Callable[[Any], Any]) -> list[Any]:
    """`process` (a column type's bind processor) applied to every value, once per
    distinct value: an import repeats a handful of classes, grades and its one timestamp
    on every row, and the processor is a pure function of the value, so each distinct
    value is still checked (an invalid enum or naive datetime raises, as before) and
    converted exactly as SQLAlchemy would. Keyed by (type, value): values of different
    types that compare equal (1 and 1.0) may convert differently."""
    memo: dict[Any, Any] = {}
    out: list[Any] = []
    append = out.append
    for value in values:
        key = (value.__class__, value)
        try:
            found = memo.get(key, _UNSET)
        except TypeError:  # unhashable (a list): converted each time
            append(process(value))
            continue
        if found is _UNSET:
            found = memo[key] = process(value)
        append(found)
    return out


def insert_columns(
    session: Session,
    table: Table,
    columns: dict[str, list[Any]],
    constants: dict[str, Any] | None = None,
) -> None:
    """INSERT rows given column by column (`columns`: equally long lists; `constants`: a
    value for every row) in the session's transaction, each value converted by its column
    type's own bind processor, as SQLAlchemy's INSERT would, but without its per-row
    bookkeeping: on PostgreSQL by COPY (one stream, a fraction of the server's work for
    row-by-row INSERTs), on SQLite by the driver's executemany."""
    constants = constants or {}
    lengths = {len(values) for values in columns.values()}
    assert len(lengths) <= 1, "columns of different lengths"
    count = lengths.pop() if lengths else 0
    if not count:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name not in ("postgresql", "sqlite"):
        keys = [*columns, *constants]
        session.execute(
            insert(table),
            [
                dict(zip(keys, (*values, *constants.values()), strict=True))
                for values in zip(*columns.values(), strict=True)
            ],
        )
        return
    keys = [*columns, *constants]
    converted: list[Iterable[Any]] = []
    for key in keys:
        process = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
        if key in constants:
            value = constants[key]
            converted.append(repeat(value if process is None else process(value), count))
        else:
            values = columns[key]
            converted.append(values if process is None else _converted(values, process))
    params = zip(*converted, strict=True)  # one tuple per row, built in C
    names = ", ".join(dialect.identifier_preparer.quote(table.c[key].name) for key in keys)
    quoted_table = dialect.identifier_preparer.format_table(table)
    driver: Any = connection.connection.driver_connection
    if dialect.name == "sqlite":
        marks = ", ".join("?" * len(keys))
        cursor = driver.cursor()
        try:
            cursor.executemany(f"INSERT INTO {quoted_table} ({names}) VALUES ({marks})", params)  # noqa: S608 (names from the schema)
        finally:
            cursor.close()
        return
    copy_sql = f"COPY {quoted_table} ({names}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for value_row in params:
            copy.write_row(value_row)


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
        self.agencies = pairs(session, AGENCY_CODES)
        self._updates: dict[tuple[type[Any], tuple[str, ...]], list[tuple[int, dict[str, Any]]]]
        self._updates = {}
        self._updated: set[tuple[type[Any], int]] = set()
        self._events: list[audit.NewEvent] = []

    def write(self, work: list[Pair]) -> None:
        added = [row for row, d in work if d["a"] == "added"]
        if added:
            self.add(added, [d for _, d in work if d["a"] == "added"])
        for row, d in work:
            if d["a"] == "changed":
                self.change(row, d)
        self._flush_changes()

    def _update(self, model: type[Any], ident: int, values: dict[str, Any]) -> None:
        """UPDATE one row (by id), sent with the chunk's others in `_flush_changes`."""
        if (model, ident) in self._updated:
            # The same row again (two credentials of one inspector): keep the file's order.
            self._flush_updates()
        self._updated.add((model, ident))
        self._updates.setdefault((model, tuple(sorted(values))), []).append((ident, values))

    def _flush_changes(self) -> None:
        """The chunk's UPDATEs (one executemany per table and set of columns), then its
        audit events (one chained append)."""
        self._flush_updates()
        audit.record_many(self.session, actor_id=self.actor_id, now=self.now, events=self._events)
        self._events = []

    def _flush_updates(self) -> None:
        for (model, columns), targets in self._updates.items():
            table = table_of(model)
            stmt = (
                update(table)
                .where(table.c.id == bindparam("t_id"))
                .values({c: bindparam(f"v_{c}") for c in columns})
            )
            self.session.execute(
                stmt,
                [{"t_id": i, **{f"v_{c}": v for c, v in vals.items()}} for i, vals in targets],
            )
        self._updates.clear()
        self._updated.clear()

    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def add_columns(self, columns: dict[str, list[Any]]) -> None:
        """Added rows given by column (the kinds of `service.KEY_COLUMNS`)."""
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
        self._events.append(
            audit.NewEvent(
                action,
                object_type,
                object_id,
                {
                    **extra,
                    "import_batch_id": self.batch_id,
                    "changes": {f: [before.get(f), row.get(f)] for f, _, _ in d["f"]},
                },
            )
        )


class _EnterpriseWriter(Writer):
    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        columns = {
            key: [row[key] for row in rows]
            for key in ("uscc", "name", "enterprise_class", "risk_grade", "agency_code")
        }
        columns["address"] = [row.get("address", "") for row in rows]
        columns["industry"] = [row.get("industry", "") for row in rows]
        self.add_columns(columns)

    def add_columns(self, columns: dict[str, list[Any]]) -> None:
        """New enterprises given by column (the rows' keys; address and industry may be
        absent: then empty), all of them added rows."""
        count = len(columns["uscc"])
        insert_columns(
            self.session,
            table_of(Enterprise),
            {
                "name": columns["name"],
                "uscc": columns["uscc"],
                "address": columns.get("address") or [""] * count,
                "industry": columns.get("industry") or [""] * count,
                # The value as stored: the column's processor checks it is one of the
                # enum's values (validate_strings), once per distinct value.
                "enterprise_class": columns["enterprise_class"],
                "risk_grade": columns["risk_grade"],
                "agency_id": list(map(self.agencies.__getitem__, columns["agency_code"])),
            },
            {"created_at": self.now},
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
        self._update(Enterprise, before["id"], values)
        self._audit(
            "enterprise.updated", "enterprise", before["id"], before, row, d, uscc=row["uscc"]
        )


class _ItemWriter(Writer):
    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        insert_rows(
            self.session,
            table_of(InspectionItem),
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
        self._update(InspectionItem, before["id"], values)
        self._audit(
            "item.updated", "inspection_item", before["id"], before, row, d, code=row["code"]
        )


class _CapWriter(Writer):
    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        insert_rows(
            self.session,
            table_of(VisitCap),
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
        self._update(
            VisitCap,
            before["id"],
            {
                "max_per_year": row["max_per_year"],
                "updated_at": self.now,
                "updated_by_id": self.actor_id,
            },
        )
        self._events.append(
            audit.NewEvent(
                "visit_cap.changed",
                "visit_cap",
                before["id"],
                {
                    "enterprise_class": row["enterprise_class"],
                    "risk_grade": row["risk_grade"],
                    "from": before["max_per_year"],
                    "to": row["max_per_year"],
                    "import_batch_id": self.batch_id,
                },
            )
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
        insert_rows(
            self.session,
            table_of(Credential),
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
            self._update(Inspector, before["inspector_id"], person)
        if credential:
            self._update(Credential, before["id"], credential)
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


# Fixed text: compiled at once (see `diff.AGENCY_CODES`).
_LAST_ENTRY_ID = text("SELECT max(id) FROM plan_entries")


class _PlanWriter(Writer):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        kind = spec_for(self.kind).plan_kind
        assert kind is not None
        assert self.batch_agency_id is not None
        self.plan_kind = kind
        self.agency_id = self.batch_agency_id
        self.months: set[str] = set()
        self.relink: dict[int, list[str]] = {}  # entry id -> its new item codes
        self._next_entry_id: int | None = None  # SQLite: the id the next new entry takes
        # SQLite: the entries of each (enterprise, month) of the months counted so far,
        # the database's (read before this apply writes into a month) and the new ones, so
        # that `finish` reads no month whole to find the pairs planned twice. Counted here
        # only under SQLite's write lock (held since `begin_write`): nobody else writes.
        self._slots: Counter[PlanSlot] | None = None
        if self.session.get_bind().dialect.name == "sqlite":
            self._slots = Counter()
        self._counted: set[str] = set()

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

    def _new_entry_ids(self, n: int) -> list[int]:
        """`n` ids for new plan entries, ascending (the file's order is the entries' order,
        which pairs a key's n-th row with its n-th entry at the next import)."""
        if self.session.get_bind().dialect.name == "postgresql":
            ids = self.session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('plan_entries', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": n},
            ).all()
            return sorted(ids)
        # SQLite: this transaction holds the database's only write lock since its first
        # read (begin_write), so the ids after the largest are free, as an INSERT takes them.
        # The largest is read once (not once a chunk, each an ORM statement with its
        # autoflush): the next chunks take the ids after the previous chunk's.
        if self._next_entry_id is None:
            top = plain_reads(self.session).execute(_LAST_ENTRY_ID).scalar()  # flushed first
            self._next_entry_id = int(top or 0) + 1
        first = self._next_entry_id
        self._next_entry_id = first + n
        return list(range(first, first + n))

    def add(self, rows: list[Row], diffs: list[dict[str, Any]]) -> None:
        self.add_columns(
            {
                "uscc": [row["uscc"] for row in rows],
                "month": [row["month"] for row in rows],
                "items": [row["items"] for row in rows],
                "note": [row.get("note", "") for row in rows],
            }
        )

    def add_columns(self, columns: dict[str, list[Any]]) -> None:
        """New entries given by column (credit codes, months, item lists, notes if the
        file has them), each with its items, in the file's order; no step per row in
        Python but the lookups (C loops: map, chain)."""
        snap = self.snap
        codes, months = columns["uscc"], columns["month"]
        items: list[list[str]] = columns["items"]
        count = len(months)
        plan_ids = {month: self._plan_id(month) for month in dict.fromkeys(months)}
        ids = self._new_entry_ids(count)
        # The ids the check stored, or the ones the snapshot read ("ent:" + credit code),
        # looked up by C loops. The same either way: the snapshot's hash, compared before
        # any write, covers every "ent:" id, so a batch whose stored ids no longer hold is
        # refused as stale before it gets here.
        enterprise_ids: list[int] = columns.get("enterprise_id") or list(
            map(snap.__getitem__, map("ent:{}".format, codes))
        )
        if self._slots is not None:
            fresh = [month for month in plan_ids if month not in self._counted]
            if fresh:  # before the first entry goes into them
                self._slots.update(hygiene.slot_counts(self.session, fresh))
                self._counted.update(fresh)
            self._slots.update(zip(enterprise_ids, months, strict=True))
        # With their ids: no INSERT .. RETURNING (a huge statement per page of rows).
        insert_columns(
            self.session,
            table_of(PlanEntry),
            {
                "plan_id": list(map(plan_ids.__getitem__, months)),
                "enterprise_id": enterprise_ids,
                "month": months,
                "note": columns.get("note") or [""] * count,
                "id": ids,
            },
            {"agency_id": self.agency_id, "created_at": self.now},
        )
        # Each entry's id once per item it lists, beside the items' ids.
        entry_ids = list(chain.from_iterable(map(repeat, ids, map(len, items))))
        # Each distinct item's id once (a plan lists a few items on every row).
        item_of = {code: snap[f"item:{code}"] for code in set(chain.from_iterable(items))}
        item_ids = list(map(item_of.__getitem__, chain.from_iterable(items)))
        insert_columns(
            self.session, plan_entry_items, {"plan_entry_id": entry_ids, "item_id": item_ids}
        )
        self.months.update(plan_ids)

    def change(self, row: Row, d: dict[str, Any]) -> None:
        target = int(d["target"])
        before = next(e for e in self.snap[f"{row['uscc']}|{row['month']}"] if e["id"] == target)
        changed = {f for f, _, _ in d["f"]}
        if "note" in changed:
            self._update(PlanEntry, target, {"note": row["note"]})
        if "items" in changed:
            self.relink[target] = row["items"]
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

    def _flush_changes(self) -> None:
        """Entries whose items changed: their links replaced in two statements."""
        if self.relink:
            targets = sorted(self.relink)
            self.session.execute(
                delete(plan_entry_items).where(plan_entry_items.c.plan_entry_id.in_(targets))
            )
            self.session.execute(
                insert(plan_entry_items),
                [link for t in targets for link in self._items(t, self.relink[t])],
            )
            self.relink = {}
        super()._flush_changes()

    def finish(self) -> None:
        slots = self._slots
        if slots is not None:
            # The months of changed entries only: nothing was added to them (a change keeps
            # its entry's enterprise and month), so they are counted as they are.
            slots.update(hygiene.slot_counts(self.session, self.months - self._counted))
        hygiene.raise_plan_flags(
            self.session, months=self.months, now=self.now, actor_id=self.actor_id, slots=slots
        )


WRITERS: dict[ImportKind, type[Writer]] = {
    ImportKind.enterprises: _EnterpriseWriter,
    ImportKind.items: _ItemWriter,
    ImportKind.caps: _CapWriter,
    ImportKind.inspectors: _InspectorWriter,
    ImportKind.annual_plan: _PlanWriter,
    ImportKind.monthly_plan: _PlanWriter,
}
