"""The diff of an import: what the database holds now for every key of a file (the
"before", in the file's own terms: codes, not ids) and, per row, added / changed (column:
old -> new) / unchanged. The same snapshot taken again at apply time tells a stale batch."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import chain
from typing import Any, NamedTuple, TypeVarTuple

import orjson
from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    Table,
    TextClause,
    and_,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy import Row as Row_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from webapp.agencies.models import Agency, Credential, Inspector
from webapp.db import among, among_param, plain_reads
from webapp.enterprises.models import Enterprise
from webapp.enums import ImportKind, PlanKind
from webapp.imports.kinds import Context, KindSpec, Row
from webapp.items.models import InspectionItem
from webapp.plans.models import Plan, PlanEntry, VisitCap, plan_entry_items

IN_SIZE = 500  # values per IN (...) query

_Ts = TypeVarTuple("_Ts")


def chunks(values: Iterable[Any], size: int = IN_SIZE) -> Iterable[list[Any]]:
    if isinstance(values, list):  # slices: no Python step per value
        for start in range(0, len(values), size):
            yield values[start : start + size]
        return
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def batches(session: Session, values: Iterable[Any]) -> Iterable[list[Any]]:
    """The values in as few lists as one query takes: all at once on PostgreSQL (one array
    parameter, see `webapp.db.among`), IN_SIZE at a time elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        listed = list(values)
        return [listed] if listed else []
    return chunks(values)


def select_among(
    session: Session,
    stmt: Select[*_Ts],
    column: Any,
    values: Iterable[Any],
    *,
    joined: bool = True,
) -> list[Row_[*_Ts]]:
    """The rows of `stmt` whose `column` is among `values`, as `among` and `batches` query
    them, but with the list as one parameter (an array on PostgreSQL; one JSON text for
    SQLite's json_each when the values are plain text or whole numbers, else an expanding
    IN per chunk), not a bound value per element to coerce, executed on the session's
    connection (Core rows fetched all at once, no ORM bookkeeping per row). `joined=False`
    for a statement with an indexed condition of its own: SQLite's json_each as
    `IN (SELECT value ..)`, which SQLite looks up per row, where a joined json_each may be
    scanned whole for each row the other index gives."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        listed = list(values)
        if not listed:
            return []
        chosen = among_param(column, "among_values", "postgresql")
        return list(connection.execute(stmt.where(chosen), {"among_values": listed}).all())
    if connection.dialect.name == "sqlite":
        listed = list(values)
        if listed and _as_json(column, connection, listed):
            # One JSON text parameter unpacked by SQLite's json_each: the statement is
            # compiled once, where an expanding IN is rendered again for every chunk
            # (a lookup of 10,000 codes: 3.6 against 9.5 ms). Joined, not `IN (SELECT
            # value FROM json_each(..))`: SQLite builds a temporary index of an IN list
            # before probing (4.6 ms for 10,000 codes, even against an empty table) but
            # walks a joined json_each probing the column's index (0.7 ms). The values
            # are made distinct first, so each row matches one of them: the rows of IN.
            each = (
                func.json_each(bindparam("among_json", type_=String))
                .table_valued("value")
                .alias("among_each")
            )
            distinct = list(dict.fromkeys(listed))
            chosen_stmt = (
                stmt.join(each, column == each.c.value)
                if joined
                else stmt.where(column.in_(select(each.c.value)))
            )
            return list(connection.execute(chosen_stmt, {"among_json": _json_text(distinct)}).all())
        values = listed
    query = stmt.where(among_param(column, "among_values", connection.dialect.name))
    found: list[Row_[*_Ts]] = []
    for batch in chunks(values):
        found += connection.execute(query, {"among_values": batch}).all()
    return found


def _json_text(values: list[Any]) -> str:
    """A list of text or whole numbers as JSON: by orjson (a tenth of the standard
    library's time for 5,500 codes), by `json` for what orjson refuses (an integer beyond
    64 bits, a lone surrogate); SQLite reads the same values from either."""
    try:
        return orjson.dumps(values).decode()
    except orjson.JSONEncodeError:
        return json.dumps(values)


def _as_json(column: Any, connection: Connection, values: list[Any]) -> bool:
    """Whether `values` go to SQLite as JSON unchanged: plain text or whole numbers, for a
    column whose type stores them as given (no conversion on the way in)."""
    if column.type.dialect_impl(connection.dialect).bind_processor(connection.dialect):
        return False
    kinds = {type(v) for v in values}
    return kinds <= {str} or kinds <= {int}


# Statements of fixed text, compiled at once: an engine compiles a Core or ORM statement on
# its first run (0.1-0.4 ms each: a fresh process's import compiled some 20, 4 ms).
AGENCY_CODES = text("SELECT code, id FROM agencies")
ITEM_CODES = text("SELECT code, id FROM inspection_items")
# SQLite: the enterprises of a JSON list of credit codes as one JSON text, an array of
# [code, id, name] (each row's three together by construction).
_ENTERPRISES_JSON = text(
    "SELECT json_group_array(json_array(e.uscc, e.id, e.name)) "
    "FROM enterprises AS e JOIN json_each(:among_json) AS among_each "
    "ON e.uscc = among_each.value"
)
_ANY_ENTRY = text("SELECT 1 FROM plan_entries WHERE month IN :months LIMIT 1").bindparams(
    bindparam("months", expanding=True)
)
_AGENCY_REF = text("SELECT id, name FROM agencies WHERE id = :agency_id")


class AgencyRef(NamedTuple):
    """What a plan's check uses of its agency."""

    id: int
    name: str


def agency_ref(session: Session, agency_id: int) -> AgencyRef | None:
    """The agency's id and name (None: no such agency), pending changes flushed first (as
    the session's `get`, which compiled an ORM statement on a fresh engine's first check)."""
    found = plain_reads(session).execute(_AGENCY_REF, {"agency_id": agency_id}).first()
    return None if found is None else AgencyRef(found[0], found[1])


def enterprises_by_code(session: Session, codes: list[str]) -> dict[str, tuple[int, str]]:
    """Credit code -> (id, name) of the enterprises with these (distinct) codes. SQLite
    gives them as one JSON text that orjson parses: 5,500 rows fetched one by one through
    the driver and SQLAlchemy's rows took 6.8 ms, the JSON text less (the same values: ids
    are whole numbers, names text)."""
    connection = session.connection()
    if connection.dialect.name != "sqlite" or not codes:
        rows = select_among(
            session, select(Enterprise.uscc, Enterprise.id, Enterprise.name), Enterprise.uscc, codes
        )
        return {code: (ident, name) for code, ident, name in rows}
    found = connection.execute(_ENTERPRISES_JSON, {"among_json": _json_text(codes)}).scalar_one()
    return {code: (ident, name) for code, ident, name in orjson.loads(found)}


def months_planned(session: Session, months: Iterable[str]) -> bool:
    """Whether any agency has a plan entry in one of `months` (pending changes flushed)."""
    listed = sorted(set(months))
    if not listed:
        return False
    return plain_reads(session).execute(_ANY_ENTRY, {"months": listed}).first() is not None


def pairs(session: Session, stmt: Select[str, int] | TextClause) -> dict[str, int]:
    """code -> id from a two-column query (`AGENCY_CODES`, `ITEM_CODES`), pending changes
    flushed first (as the session's own execution would)."""
    return {code: ident for code, ident in plain_reads(session).execute(stmt)}


# --- what the database holds now (the "before" of the diff) ------------------------------------


def holder_key(row: Row) -> str:
    return f"{row['agency_code']}|{row['name']}"


def known_numbers(session: Session, numbers: list[str]) -> set[str]:
    found: set[str] = set()
    for batch in batches(session, numbers):
        found.update(
            session.scalars(
                select(Credential.number).where(
                    among(Credential.number, batch, session.get_bind().dialect.name)
                )
            )
        )
    return found


def holders(session: Session, rows: list[Row]) -> dict[str, list[int]]:
    """(agency code, name) -> ids of the inspectors of that agency with that name."""
    names = sorted({r["name"] for r in rows})
    found: dict[str, list[int]] = {}
    for batch in batches(session, names):
        for code, name, inspector_id in session.execute(
            select(Agency.code, Inspector.name, Inspector.id)
            .join(Agency, Agency.id == Inspector.agency_id)
            .where(among(Inspector.name, batch, session.get_bind().dialect.name))
            .order_by(Inspector.id)
        ):
            found.setdefault(f"{code}|{name}", []).append(inspector_id)
    return found


def snapshot(
    session: Session,
    spec: KindSpec,
    rows: list[Row],
    *,
    agency_id: int | None,
    context: Context | None = None,
    keys: list[str] | None = None,
    columns: dict[str, list[Any]] | None = None,
    held: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The database's current values for every key in the file, in the file's own terms
    (codes, not ids), plus the ids the apply will write to. Computed at check and again at
    apply: if the two differ, the batch is stale. `context`: what the check read of the
    enterprises and items in the same transaction (their ids are not read again). `keys`:
    the rows' keys when the caller has them (rows kept by column: enterprises only).
    `columns`: a plan's rows by column (its credit codes, months and item lists), instead
    of `rows`; `held`: the ids of a plan's enterprises as the check read them (see
    `_plan_snapshot`)."""
    if keys is None:
        # The keys of the kinds that look their rows up by key (plans: by month).
        keys = [spec.key(r) for r in rows] if spec.plan_kind is None else []
    snap: dict[str, Any] = {}
    if spec.kind == ImportKind.enterprises:
        # Columns, not entities: no ORM object per row of a large file.
        query = select(
            Enterprise.id,
            Enterprise.uscc,
            Enterprise.name,
            Enterprise.address,
            Enterprise.industry,
            Enterprise.enterprise_class,
            Enterprise.risk_grade,
            Agency.code,
        ).join(Agency, Agency.id == Enterprise.agency_id)
        # No enterprise yet (a first import): nothing to look the codes up in. The largest
        # id is read from the primary key's index (one step) where the lookup of 10,000
        # codes probes the credit-code index 10,000 times (3-4 ms, at check and at apply).
        found = (
            select_among(session, query, Enterprise.uscc, keys)
            if keys and session.scalar(select(func.max(Enterprise.id))) is not None
            else []
        )
        for ident, code, name, address, industry, klass, grade, agency_code in found:
            snap[code] = {
                "id": ident,
                "name": name,
                "address": address,
                "industry": industry,
                "enterprise_class": klass.value,
                "risk_grade": grade,
                "agency_code": agency_code,
            }
    elif spec.kind == ImportKind.items:
        for batch in batches(session, keys):
            for item in session.scalars(
                select(InspectionItem).where(
                    among(InspectionItem.code, batch, session.get_bind().dialect.name)
                )
            ):
                snap[item.code] = {
                    "id": item.id,
                    "title": item.title,
                    "legal_basis": item.legal_basis,
                    "description": item.description,
                    "max_per_year": item.max_per_year,
                    "field": item.field,
                }
    elif spec.kind == ImportKind.caps:
        for cap in session.scalars(select(VisitCap)):
            snap[f"{cap.enterprise_class}|{cap.risk_grade}"] = {
                "id": cap.id,
                "max_per_year": cap.max_per_year,
            }
    elif spec.kind == ImportKind.inspectors:
        holder_agency = aliased(Agency)
        issuer = aliased(Agency)
        for batch in batches(session, keys):
            for cred, inspector, holder_code, issuer_code in session.execute(
                select(Credential, Inspector, holder_agency.code, issuer.code)
                .join(Inspector, Inspector.id == Credential.inspector_id)
                .join(holder_agency, holder_agency.id == Inspector.agency_id)
                .join(issuer, issuer.id == Credential.issuing_agency_id)
                .where(among(Credential.number, batch, session.get_bind().dialect.name))
            ):
                snap[cred.number] = {
                    "id": cred.id,
                    "inspector_id": inspector.id,
                    "name": inspector.name,
                    "agency_code": holder_code,
                    "issuing_agency_code": issuer_code,
                    "valid_from": cred.valid_from.isoformat(),
                    "valid_until": cred.valid_until.isoformat(),
                    "status": cred.status.value,
                    "fields": cred.fields,
                }
        new_rows = [r for r in rows if r["number"] not in snap]
        for holder, ids in holders(session, new_rows).items():
            snap[f"holder:{holder}"] = ids
    else:
        assert agency_id is not None
        assert spec.plan_kind is not None
        if columns is None:
            columns = {
                "uscc": [r["uscc"] for r in rows],
                "month": [r["month"] for r in rows],
                "items": [r["items"] for r in rows],
            }
        snap.update(_plan_snapshot(session, spec.plan_kind, agency_id, columns, context, held))
    return snap


def plan_key(kind: PlanKind, month: str) -> str:
    return month[:4] if kind == PlanKind.annual else month


def holds_enterprises(session: Session, ids: dict[str, int]) -> bool:
    """Whether the database holds exactly these enterprises (credit code -> id): counted in
    one statement, no row read back (credit codes are unique, so the count of enterprises
    matching a (code, id) pair is the number of pairs only if every pair holds). False on
    a database this cannot ask (the caller then reads the enterprises)."""
    if not ids:
        return True
    connection = session.connection()
    table = Enterprise.__table__
    assert isinstance(table, Table)
    if connection.dialect.name == "sqlite":
        # One JSON object {code: id} unpacked by json_each (key, value): no row fetched,
        # no value decoded in Python. Each pair looked up by its id (the table's rowid:
        # "+" keeps SQLite from probing the credit-code index instead, 2.2 against 1 ms
        # for 5,500 pairs), then its code compared.
        quoted = connection.dialect.identifier_preparer.format_table(table)
        held = text(
            f"SELECT count(*) FROM json_each(:held_json) AS held_each "  # noqa: S608 (the schema's names)
            f"JOIN {quoted} ON {quoted}.id = held_each.value AND +{quoted}.uscc = held_each.key"
        )
        found = connection.execute(held, {"held_json": orjson.dumps(ids).decode()}).scalar_one()
        return bool(found == len(ids))
    if connection.dialect.name == "postgresql":
        each = (
            func.unnest(
                bindparam("held_codes", type_=ARRAY(String)),
                bindparam("held_ids", type_=ARRAY(Integer)),
            )
            .table_valued("code", "id")
            .render_derived()
            .alias("held_each")
        )
        condition = and_(table.c.uscc == each.c.code, table.c.id == each.c.id)
        params: dict[str, Any] = {"held_codes": list(ids), "held_ids": list(ids.values())}
    else:
        return False
    stmt = select(func.count()).select_from(each).join(table, condition)
    return bool(connection.execute(stmt, params).scalar_one() == len(ids))


_AGENCY_PLANS = text(
    "SELECT id, year, month, title FROM plans WHERE agency_id = :agency_id AND kind = :kind"
)


def agency_plans(session: Session, agency_id: int, kind: PlanKind) -> list[tuple[str, int, str]]:
    """(period, id, title) of the agency's plans of this kind, the period as `plan_key`
    gives it ("2026", "2026-12"); pending changes flushed, as the session's query would."""
    found = plain_reads(session).execute(
        _AGENCY_PLANS, {"agency_id": agency_id, "kind": kind.value}
    )
    return [
        (f"{year:04d}" if kind == PlanKind.annual else f"{year:04d}-{month:02d}", plan_id, title)
        for plan_id, year, month, title in found
    ]


def _plan_snapshot(
    session: Session,
    kind: PlanKind,
    agency_id: int,
    columns: dict[str, list[Any]],
    context: Context | None,
    held: dict[str, int] | None = None,
) -> dict[str, Any]:
    """`snapshot` of a plan's rows, given by column (credit codes, months, item lists).
    `held`: the enterprises' ids the check read (credit code -> id, every code of the
    rows), used when the database still holds exactly those (`holds_enterprises`): the
    same entries as reading them again; else they are read."""
    snap: dict[str, Any] = {}
    codes = set(columns["uscc"])
    item_codes = set(chain.from_iterable(columns["items"]))
    if context is not None:
        # The check's own reads, in this transaction: the same ids as reading them again.
        found = context.enterprises
        snap.update((f"ent:{code}", found[code][0]) for code in codes if code in found)
        for code in item_codes:
            if code in context.items:
                snap[f"item:{code}"] = context.items[code]
    else:
        if held is not None and held.keys() == codes and holds_enterprises(session, held):
            snap.update(zip(map("ent:{}".format, held), held.values(), strict=True))
        else:
            for code, ent_id in select_among(
                session, select(Enterprise.uscc, Enterprise.id), Enterprise.uscc, sorted(codes)
            ):
                snap[f"ent:{code}"] = ent_id
        # The whole item list (the statement the check ran: compiled already; a list of
        # tens to hundreds), the rows' codes kept: as looking only those up.
        item_ids = pairs(session, ITEM_CODES)
        for code in item_codes:
            if code in item_ids:
                snap[f"item:{code}"] = item_ids[code]
    for period, plan_id, _ in agency_plans(session, agency_id, kind):
        snap[f"plan:{period}"] = plan_id
    months = sorted(set(columns["month"]))
    wanted = codes
    entries: dict[int, dict[str, Any]] = {}
    # A month nobody planned yet (the usual monthly plan) has none of the agency's entries:
    # one probe instead of the join (and its compiling).
    for batch in batches(session, months) if months_planned(session, months) else []:
        for entry_id, code, month, note in session.execute(
            select(PlanEntry.id, Enterprise.uscc, PlanEntry.month, PlanEntry.note)
            .join(Plan, Plan.id == PlanEntry.plan_id)
            .join(Enterprise, Enterprise.id == PlanEntry.enterprise_id)
            .where(
                Plan.agency_id == agency_id,
                Plan.kind == kind,
                among(PlanEntry.month, batch, session.get_bind().dialect.name),
            )
            .order_by(PlanEntry.id)
        ):
            if code in wanted:
                entries[entry_id] = {"id": entry_id, "key": f"{code}|{month}", "note": note}
    items: dict[int, list[str]] = {}
    for entry_id, code in select_among(
        session,
        select(plan_entry_items.c.plan_entry_id, InspectionItem.code).join(
            InspectionItem, InspectionItem.id == plan_entry_items.c.item_id
        ),
        plan_entry_items.c.plan_entry_id,
        sorted(entries),
    ):
        items.setdefault(entry_id, []).append(code)
    for entry_id in sorted(entries):
        entry = entries[entry_id]
        snap.setdefault(entry["key"], []).append(
            {"id": entry_id, "items": sorted(items.get(entry_id, [])), "note": entry["note"]}
        )
    return snap


# --- the diff -------------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def diff_rows(spec: KindSpec, rows: list[Row], snap: dict[str, Any]) -> list[dict[str, Any] | None]:
    """Per row: None (unchanged), {"a": "added"} or {"a": "changed", "f": [[column, old,
    new], ...]}. Only the columns the file has are compared: a column left out of the file
    leaves that field alone."""
    if spec.plan_kind is not None:
        return _plan_diff(rows, snap)
    out: list[dict[str, Any] | None] = []
    for row in rows:
        before = snap.get(spec.key(row))
        if before is None:
            added: dict[str, Any] = {"a": "added"}
            if spec.kind == ImportKind.inspectors:
                ids = snap.get(f"holder:{holder_key(row)}", [])
                added["holder"] = ids[0] if ids else None
            out.append(added)
            continue
        changes = [
            [f, _shown(before[f]), _shown(row[f])]
            for f in spec.fields
            if f in row and before[f] != row[f]
        ]
        out.append({"a": "changed", "f": changes} if changes else None)
    return out


def _plan_diff(rows: list[Row], snap: dict[str, Any]) -> list[dict[str, Any] | None]:
    """Plan rows pair with the plan's entries of the same (enterprise, month) in order: the
    n-th row of a key with its n-th entry; rows beyond the entries are added. Entries the
    file does not mention are kept (an import never deletes)."""
    out: list[dict[str, Any] | None] = []
    seen: dict[str, int] = {}
    for row in rows:
        key = f"{row['uscc']}|{row['month']}"
        n = seen.get(key, 0)
        seen[key] = n + 1
        before = snap.get(key, [])
        if n >= len(before):
            out.append({"a": "added"})
            continue
        old = before[n]
        changes = []
        if old["items"] != row["items"]:
            changes.append(["items", _shown(old["items"]), _shown(row["items"])])
        if "note" in row and old["note"] != row["note"]:
            changes.append(["note", old["note"], row["note"]])
        out.append({"a": "changed", "f": changes, "target": old["id"]} if changes else None)
    return out
