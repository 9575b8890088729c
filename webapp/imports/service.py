"""Spreadsheet import: check a file (every row, then the diff against the database), keep
the normalised rows in an ImportBatch, and on confirmation apply exactly those rows, once,
all or none.

check_file -> ImportBatch `validated` (or `failed`, with every bad row listed)
apply_batch = start_apply (validated -> applying, committed at once: a batch is applied
once) + run_apply (one transaction: re-reads what the diff was computed against and refuses
with `import_stale` if it moved, writes in chunks, -> applied, or -> failed)
discard_batch: validated -> discarded.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import zstandard
from sqlalchemy import select, update
from sqlalchemy.orm import Session, defer

from webapp.agencies.models import Agency
from webapp.audit import service as audit
from webapp.auth.models import User
from webapp.config import get_settings
from webapp.db import begin_write
from webapp.enterprises import uscc as uscc_codes
from webapp.enums import (
    ImportKind,
    ImportStatus,
    PlanKind,
    Role,
)
from webapp.errors import DomainError, FieldError, forbidden, not_found, validation_error
from webapp.imports import hygiene, readers
from webapp.imports.diff import (
    AGENCY_CODES,
    ITEM_CODES,
    AgencyRef,
    agency_plans,
    agency_ref,
    diff_rows,
    enterprises_by_code,
    holder_key,
    holders,
    known_numbers,
    months_planned,
    pairs,
    plan_key,
    snapshot,
)
from webapp.imports.kinds import (
    PLAN_KINDS,
    Column,
    Context,
    KindSpec,
    Packed,
    Row,
    example_row,
    match_header,
    spec_for,
)
from webapp.imports.models import ImportBatch
from webapp.imports.writers import WRITERS
from webapp.rules.plan import PlannedEntry, plan_duplicates, shared_slots, slot

CHUNK = 500  # rows written between two progress reports
BACKGROUND_ROWS = 2000  # the page applies larger files in a background thread
MAX_STORED_ERRORS = 1000
SAMPLES = 50
PUBLISH_SECONDS = 0.5  # at most this often, the progress is written for other processes

# In-process progress of the batches being applied here: SQLite lets no other transaction
# write while the import holds the write lock, so the page polls this (PostgreSQL also gets
# `processed_rows` written in its own short transaction).
_progress: dict[int, int] = {}

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RowError:
    """A bad cell: the line (as the spreadsheet numbers it), the column as the file names
    it, and what is wrong (an English msgid with its parameters)."""

    line: int
    column: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    line: int
    key: str
    label: str
    fields: list[tuple[str, str, str]]  # (column key, old, new)
    note: str = ""


@dataclass
class BatchReport:
    """What the check page shows of a batch."""

    errors: list[RowError]
    error_count: int
    added: list[Sample]
    changed: list[Sample]
    warnings: list[tuple[str, dict[str, Any]]]  # message, params
    plans: list[dict[str, Any]]
    skipped_example: int
    failure: tuple[str, str, dict[str, Any]] | None  # code, message, params
    same_file_applied: ImportBatch | None = None


def _require_admin(actor: User | None) -> None:
    """`None` is the command line: whoever runs it holds the database already."""
    if actor is not None and actor.role != Role.admin:
        raise forbidden()


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _hash(data: Any) -> str:
    """The SHA-256 of `_canonical(data)` (of a snapshot: text keys; text, whole numbers,
    None, lists and dicts), the text written by orjson, which gives the same text as
    `_canonical` for such data several times faster (tested: a batch checked before
    still applies)."""
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()


# A payload this long (in UTF-8 bytes) or longer is stored compressed (Zstandard, then
# base64 for the text column): SQLite rewrites a row whole when one of its columns changes,
# and a batch's row is updated twice as it is applied (validated -> applying -> applied).
# 10,000 enterprises' three commits take 1.5 µs a row compressed, 3.7-4.3 without. Level 1
# of Zstandard against zlib's level 1 (which batches checked before 2026-12-02 used, still
# read): a third smaller, compressed 5x and decompressed 4x faster (1.2 MB of JSON: 0.09
# against 0.45 µs a row, 0.04 against 0.15).
COMPRESS_FROM = 64 * 1024
# A checked batch's payload: 3 stores its rows by column when they share their keys, else
# packed (`pack_rows`); 2 always packed them; 1 stored a dict per row. All three load.
PAYLOAD_VERSION = 3
_ZSTD = "zstd:"
_ZLIB = "zlib:"
_ZSTD_LEVEL = 1


def store_payload(data: dict[str, Any]) -> str:
    """A payload as the text stored in `ImportBatch.payload`: compact JSON, keys in their
    own order, by orjson (a batch's 10,000 rows and diff: several times faster to write and
    to read back than with the standard library's json; it is stored, never hashed)."""
    encoded = orjson.dumps(data)
    if len(encoded) < COMPRESS_FROM:
        return encoded.decode()
    compressed = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(encoded)
    return _ZSTD + base64.b64encode(compressed).decode("ascii")


def load_payload(stored: str) -> dict[str, Any]:
    """The payload stored by `store_payload` (or an older batch's: zlib, or plain JSON)."""
    raw: bytes | str
    if stored.startswith(_ZSTD):
        # The frame records its size: decompressed in one allocation.
        raw = zstandard.ZstdDecompressor().decompress(base64.b64decode(stored[len(_ZSTD) :]))
    elif stored.startswith(_ZLIB):
        raw = zlib.decompress(base64.b64decode(stored[len(_ZLIB) :]))
    else:
        raw = stored or "{}"
    loaded: dict[str, Any] = orjson.loads(raw)
    return loaded


def pack_rows(rows: list[Row]) -> dict[str, Any]:
    """A batch's normalised rows for its payload, without a dict per row repeating every
    key: rows that all have the same keys (nearly every file: its columns) as one list per
    key (`keys`, `columns`: the least text to write and parse, built and read back by C
    loops); rows of several shapes (an inspector file's optional cells) each as a list of
    its values followed by the index of its keys in `shapes`."""
    shape = tuple(rows[0]) if rows else ()
    if all(len(row) == len(shape) and tuple(row) == shape for row in rows):
        # Equal key tuples, in order: every row's values line up with `shape`.
        columns = zip(*map(dict.values, rows), strict=True)
        return {"keys": list(shape), "columns": [list(column) for column in columns]}
    shapes: dict[tuple[str, ...], int] = {}
    packed: list[list[Any]] = []
    for row in rows:
        keys = tuple(row)
        index = shapes.get(keys)
        if index is None:
            index = shapes[keys] = len(shapes)
        values = list(row.values())
        values.append(index)
        packed.append(values)
    return {"shapes": [list(keys) for keys in shapes], "packed": packed}


def unpack_rows(payload: dict[str, Any]) -> list[Row]:
    """The rows of a payload, as dicts (by column or packed, or format 1's dicts). By its
    "keys": every payload also has "columns", the file's own (overwritten by the rows'
    columns when they are stored by column)."""
    if "keys" in payload:
        keys = payload["keys"]
        rows = zip(*payload["columns"], strict=True)
        return [dict(zip(keys, values, strict=True)) for values in rows]
    if "packed" not in payload:
        return list(payload.get("rows", []))
    shapes = payload["shapes"]
    # zip stops at the keys: the trailing shape index is left out.
    return [dict(zip(shapes[values[-1]], values, strict=False)) for values in payload["packed"]]


def local_year(now: datetime) -> int:
    return now.astimezone(ZoneInfo(get_settings().timezone)).year


# --- checking a file ----------------------------------------------------------------------------


def find_agency_id(session: Session, code: str) -> int | None:
    """The id of the agency with this code (for the command line's --agency)."""
    return session.scalar(select(Agency.id).where(Agency.code == code.strip()))


def _map_headers(spec: KindSpec, headers: list[str]) -> tuple[dict[int, Column], list[RowError]]:
    """Which column each header cell names; unknown, repeated and missing columns are
    errors on line 1 that name them."""
    mapped: dict[int, Column] = {}
    seen: dict[str, int] = {}
    errors: list[RowError] = []
    expected = "; ".join(c.header for c in spec.columns)
    for index, text in enumerate(headers):
        if not text:
            continue
        column = match_header(text, spec.columns)
        if column is None:
            errors.append(
                RowError(
                    1,
                    text,
                    message="Unknown column '%(name)s'. The columns of this kind of file are: "
                    "%(expected)s.",
                    params={"name": text, "expected": expected},
                )
            )
        elif column.key in seen:
            errors.append(
                RowError(
                    1,
                    text,
                    message="Column '%(name)s' appears twice (also as '%(first)s'): keep one.",
                    params={"name": text, "first": headers[seen[column.key]]},
                )
            )
        else:
            seen[column.key] = index
            mapped[index] = column
    for column in spec.columns:
        if column.required and column.key not in seen:
            errors.append(
                RowError(
                    1,
                    column.header,
                    message="Missing column %(name)s: add it to the header row.",
                    params={"name": column.header},
                )
            )
    return mapped, errors


def _context(session: Session, spec: KindSpec, raw_codes: Iterable[str], year: int) -> Context:
    """What the rows are checked against (`raw_codes`: the file's credit code cells)."""
    ctx = Context(year=year)
    ctx.agencies = pairs(session, AGENCY_CODES)
    if spec.kind in PLAN_KINDS:
        ctx.items = pairs(session, ITEM_CODES)
        raw = list(raw_codes)
        valid = uscc_codes.valid_column(raw)  # every code good: normalised in one pass
        if valid is None:
            codes = sorted(set(map(uscc_codes.normalize, set(raw))) - {""})
        else:
            ctx.codes = valid  # not checked again by `plan_columns`
            # In the file's order: a plan usually lists its enterprises in the order they
            # were registered, so the lookups walk the table in order (10,000 enterprises,
            # 5,500 codes: 7 against 9-14 ms sorted by code).
            codes = list(dict.fromkeys(valid))
        ctx.enterprises = enterprises_by_code(session, codes)
    return ctx


def _example_cells(spec: KindSpec, mapped: dict[int, Column]) -> dict[str, str | None]:
    """The template's example row, in the file's columns: a row equal to it is skipped."""
    examples = dict(zip([c.key for c in spec.columns], example_row(spec), strict=True))
    return {col.key: examples.get(col.key) for col in mapped.values()}


def _cells_of(
    rows: list[tuple[int, list[str]]], mapped: dict[int, Column]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row's cells by column key ("" for a cell the row is too short to have)."""
    keys = [col.key for col in mapped.values()]
    indexes = list(mapped)
    if not indexes:
        for line, _ in rows:
            yield line, {}
        return
    width = max(indexes) + 1
    pick = itemgetter(*indexes)
    for line, values in rows:
        if len(values) >= width:
            picked = pick(values)
            yield line, dict(zip(keys, picked if len(keys) > 1 else (picked,), strict=True))
        else:
            yield (
                line,
                {
                    key: (values[i] if i < len(values) else "")
                    for key, i in zip(keys, indexes, strict=True)
                },
            )


def _columns(
    rows: list[tuple[int, list[str]]],
    mapped: dict[int, Column],
    example: dict[str, str | None],
) -> tuple[list[int], dict[str, list[str]]] | None:
    """The line numbers and the cells by column key (each a list in the file's order) when
    every row has all the mapped cells and none is the template's example row; else None
    (`_cells_of` pads short rows and the loop skips the example, row by row)."""
    if not rows or not mapped:
        return None
    lines, values = zip(*rows, strict=True)
    if min(map(len, values)) <= max(mapped):
        return None
    grid = list(zip(*values, strict=False))  # the columns, as far as every row has them
    cells = {col.key: list(grid[index]) for index, col in mapped.items()}
    first = next(iter(cells))
    if example[first] in cells[first]:  # rare: compared whole only then
        shown = tuple(example[key] for key in cells)
        if shown in zip(*cells.values(), strict=True):
            return None
    return list(lines), cells


def _column_rows(
    session: Session,
    spec: KindSpec,
    sheet: readers.Sheet,
    mapped: dict[int, Column],
    example: dict[str, str | None],
    year: int,
) -> tuple[Packed, Context] | None:
    """The file's rows checked a column at a time (`KindSpec.parse_columns`), by column:
    the same rows as row by row when every cell is good, else None (the row-by-row check
    then names every bad cell)."""
    if spec.parse_columns is None:
        return None
    found = _columns(sheet.rows, mapped, example)
    if found is None:
        return None
    lines, cells = found
    ctx = _context(session, spec, cells.get("uscc", ()), year)
    packed = spec.parse_columns(cells, lines, ctx)
    return None if packed is None else (packed, ctx)


# The kinds whose checked rows stay by column from the check to the INSERT (no dict per
# row), with the column that is their key (`KindSpec.key` of a row is its value).
KEY_COLUMNS = {ImportKind.enterprises: "uscc"}


def _diff_by_column(
    spec: KindSpec, packed: Packed, keys: list[str], snap: dict[str, Any]
) -> list[dict[str, Any] | None]:
    """`diff_rows` of rows kept by column: a row whose key the database does not hold is
    added; a dict is built (and compared by `diff_rows`) only for the others."""
    names, columns = packed
    out: list[dict[str, Any] | None] = [{"a": "added"} for _ in keys]
    held = [index for index, key in enumerate(keys) if key in snap]
    if held:
        rows = [dict(zip(names, [c[i] for c in columns], strict=True)) for i in held]
        for index, found in zip(held, diff_rows(spec, rows, snap), strict=True):
            out[index] = found
    return out


def _plan_diff_by_column(
    spec: KindSpec, packed: Packed, columns: dict[str, list[Any]], snap: dict[str, Any]
) -> list[dict[str, Any] | None]:
    """`diff_rows` of a plan's rows kept by column: every row added when the snapshot
    holds none of their (enterprise, month) keys (a month not planned yet), else the rows'
    dicts compared by `diff_rows`."""
    # As `spec.key` (the cells are text): "|".join a third of format's time.
    keys = list(map("|".join, zip(columns["uscc"], columns["month"], strict=True)))
    if not any(map(snap.__contains__, keys)):
        return [{"a": "added"} for _ in keys]
    rows = unpack_rows({"keys": packed[0], "columns": packed[1]})
    return diff_rows(spec, rows, snap)


def _store_failure(
    session: Session,
    batch: ImportBatch,
    errors: list[RowError],
    *,
    total_rows: int,
    skipped_example: int = 0,
) -> ImportBatch:
    batch.status = ImportStatus.failed
    batch.total_rows = total_rows
    batch.payload = _canonical(
        {
            "version": 1,
            "errors": [[e.line, e.column, e.message, e.params] for e in errors[:MAX_STORED_ERRORS]],
            "error_count": len(errors),
            "skipped_example": skipped_example,
        }
    )
    batch.error = f"{len(errors)} error(s)"
    session.add(batch)
    session.commit()
    return batch


@contextmanager
def _bulk() -> Iterator[None]:
    """The cyclic garbage collector paused: checking or applying a file allocates hundreds
    of thousands of small objects that live until it ends, and every collection would
    walk them all again (a third of a large file's time). Reference counting still frees
    everything else; the collector resumes (if it ran before) when the work ends."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_file(
    session: Session,
    *,
    actor: User | None,
    kind: ImportKind,
    filename: str,
    data: bytes,
    now: datetime,
    agency_id: int | None = None,
    year: int | None = None,
) -> ImportBatch:
    """Read and check every row of a file; nothing but the batch is written. A file that
    cannot be read at all (type, size, encoding) raises a DomainError and stores nothing;
    bad columns or rows give a `failed` batch listing each (line, column, what is wrong);
    a good file gives a `validated` batch with the diff against the database."""
    with _bulk():
        return _check_file(
            session,
            actor=actor,
            kind=kind,
            filename=filename,
            data=data,
            now=now,
            agency_id=agency_id,
            year=year,
        )


def _check_file(
    session: Session,
    *,
    actor: User | None,
    kind: ImportKind,
    filename: str,
    data: bytes,
    now: datetime,
    agency_id: int | None,
    year: int | None,
) -> ImportBatch:
    _require_admin(actor)
    spec = spec_for(kind)
    plan_kind = spec.plan_kind
    if plan_kind is not None and agency_id is None:
        raise validation_error([FieldError("agency_id", "Choose the agency whose plan this is.")])
    year = year or local_year(now)
    if not 2000 <= year <= 2100:
        raise validation_error(
            [FieldError("year", "The year must be between 2000 and 2100, not %(year)s.", year=year)]
        )
    sheet = readers.read_sheet(data, filename)
    begin_write(session)
    agency = agency_ref(session, agency_id) if agency_id is not None else None
    if plan_kind is not None and agency is None:
        session.rollback()
        raise validation_error([FieldError("agency_id", "Choose the agency whose plan this is.")])
    batch = ImportBatch(
        kind=kind,
        status=ImportStatus.validated,
        filename=(filename or "upload")[-200:],
        sha256=hashlib.sha256(data).hexdigest(),
        agency_id=agency.id if agency else None,
        created_at=now,
        created_by_id=actor.id if actor else None,
    )
    mapped, errors = _map_headers(spec, sheet.headers)
    if errors:
        return _store_failure(session, batch, errors, total_rows=len(sheet.rows))

    example = _example_cells(spec, mapped)
    by_column = _column_rows(session, spec, sheet, mapped, example, year)
    if by_column is not None:
        packed, ctx = by_column
        return _store_checked(session, batch, spec, sheet, mapped, [], ctx, year, 0, agency, packed)
    raw_rows: list[tuple[int, dict[str, str]]] = []
    skipped = 0
    for line, cells in _cells_of(sheet.rows, mapped):
        if cells and cells == example:
            skipped += 1
            continue
        raw_rows.append((line, cells))
    if not raw_rows:
        empty = RowError(
            2,
            "",
            message="Only the template's example row is filled in (it is never imported): add "
            "your rows below it, or in its place."
            if skipped
            else "The file has a header row but no data rows.",
        )
        return _store_failure(session, batch, [empty], total_rows=0, skipped_example=skipped)

    ctx = _context(session, spec, (cells.get("uscc", "") for _, cells in raw_rows), year)
    headers = {col.key: sheet.headers[i] for i, col in mapped.items()}
    rows: list[Row] = []
    first_line: dict[str, tuple[int, Row]] = {}
    key_header = headers[spec.columns[0].key]
    for line, cells in raw_rows:
        row, problems = spec.parse(cells, ctx)
        for problem in problems:
            errors.append(
                RowError(line, headers.get(problem.field, ""), problem.message, problem.params)
            )
        if row is None:
            continue
        key = spec.key(row)
        earlier = first_line.get(key)
        if earlier is not None and (plan_kind is None or earlier[1] == row):
            errors.append(
                RowError(
                    line,
                    key_header,
                    message="This row repeats line %(line)s exactly: delete one of the two."
                    if plan_kind is not None
                    else "%(key)s is already on line %(line)s of this file: each may appear "
                    "only once.",
                    params={"line": earlier[0], "key": key},
                )
            )
            continue
        first_line.setdefault(key, (line, row))
        if plan_kind is None:
            row["line"] = line  # only plan rows are compared again (without their line)
            rows.append(row)
        else:
            rows.append({**row, "line": line})
    if not errors and kind == ImportKind.inspectors:
        errors += _ambiguous_holders(session, rows, headers)
    if errors:
        return _store_failure(
            session, batch, errors, total_rows=len(raw_rows), skipped_example=skipped
        )
    return _store_checked(session, batch, spec, sheet, mapped, rows, ctx, year, skipped, agency)


def _store_checked(
    session: Session,
    batch: ImportBatch,
    spec: KindSpec,
    sheet: readers.Sheet,
    mapped: dict[int, Column],
    rows: list[Row],
    ctx: Context,
    year: int,
    skipped: int,
    agency: AgencyRef | None,
    packed: Packed | None = None,
) -> ImportBatch:
    """A good file's batch: the diff against the database and the rows (`packed`: kept by
    column, an enterprise or plan file; else `rows`), `validated`."""
    plan_kind = spec.plan_kind
    if packed is not None and plan_kind is not None:
        # A plan by column: its rows' dicts are built only if the database holds one of
        # its (enterprise, month) keys already (`_plan_diff` pairs them in order).
        columns = dict(zip(*packed, strict=True))
        before = snapshot(
            session, spec, [], agency_id=batch.agency_id, context=ctx, columns=columns
        )
        diff = _plan_diff_by_column(spec, packed, columns, before)
    elif packed is not None:
        keys = packed[1][packed[0].index(KEY_COLUMNS[spec.kind])]
        before = snapshot(session, spec, [], agency_id=batch.agency_id, context=ctx, keys=keys)
        diff = _diff_by_column(spec, packed, keys, before)
    else:
        before = snapshot(session, spec, rows, agency_id=batch.agency_id, context=ctx)
        diff = diff_rows(spec, rows, before)
    payload: dict[str, Any] = {
        "version": PAYLOAD_VERSION,
        "format": sheet.format,
        "encoding": sheet.encoding,
        "year": year,
        "columns": [col.key for col in mapped.values()],
        "diff": diff,
        "before_hash": _hash(before),
        "skipped_example": skipped,
    }
    if plan_kind is not None and agency is not None:
        if packed is not None:
            columns = dict(zip(*packed, strict=True))
            codes, months, lines = columns["uscc"], columns["month"], columns["line"]
        else:
            codes = [row["uscc"] for row in rows]
            months = [row["month"] for row in rows]
            lines = [row["line"] for row in rows]
        found = list(map(ctx.enterprises.__getitem__, codes))  # (id, name) of each row
        names = list(map(itemgetter(1), found))
        # Each row's enterprise id as read here: the apply counts whether the database
        # still holds exactly these (`diff.holds_enterprises`) instead of reading them.
        ids = list(map(itemgetter(0), found))
        if packed is not None:  # the columns a row's dict gets last, as below
            packed = ([*packed[0], "enterprise_name", "enterprise_id"], [*packed[1], names, ids])
        else:
            for row, name, ent_id in zip(rows, names, ids, strict=True):
                row["enterprise_name"] = name
                row["enterprise_id"] = ent_id
        payload["plans"] = _plans_touched(session, agency.id, plan_kind, months)
        preview = _hygiene_preview(session, agency, plan_kind, found, months, lines)
        payload["warnings"] = [[f.message, f.params] for f in preview]
    batch.total_rows = len(diff)
    actions = [d["a"] for d in diff if d]  # one pass for both counts
    batch.added = actions.count("added")
    batch.changed = actions.count("changed")
    batch.unchanged = len(diff) - batch.added - batch.changed
    if packed is not None:
        payload.update({"keys": packed[0], "columns": packed[1]})  # what pack_rows gives
    else:
        payload.update(pack_rows(rows))
    batch.payload = store_payload(payload)
    session.add(batch)
    session.commit()
    return batch


def _ambiguous_holders(
    session: Session, rows: list[Row], headers: dict[str, str]
) -> list[RowError]:
    """A new credential is given to the inspector of that agency with that name; when the
    agency has several people of that name, the file cannot say which one."""
    people = holders(session, rows)
    known = known_numbers(session, [r["number"] for r in rows])
    errors = []
    for row in rows:
        if row["number"] in known:
            continue
        if len(people.get(holder_key(row), [])) > 1:
            errors.append(
                RowError(
                    row["line"],
                    headers["name"],
                    message="Several inspectors named %(name)s work at agency %(code)s: add "
                    "this credential on the right inspector's page instead.",
                    params={"name": row["name"], "code": row["agency_code"]},
                )
            )
    return errors


def _plans_touched(
    session: Session, agency_id: int, kind: PlanKind, months: list[str]
) -> list[dict[str, Any]]:
    """The plans the rows (their `months`) go into ("2026" or "2026-12"), whether each
    exists already, and how many rows go into it."""
    existing = {period: title for period, _, title in agency_plans(session, agency_id, kind)}
    counts: dict[str, int] = {}
    for month, n in Counter(months).items():  # a few distinct months
        key = plan_key(kind, month)
        counts[key] = counts.get(key, 0) + n
    return [
        {"period": key, "title": existing.get(key, ""), "exists": key in existing, "rows": n}
        for key, n in sorted(counts.items())
    ]


def _hygiene_preview(
    session: Session,
    agency: AgencyRef,
    kind: PlanKind,
    enterprises: list[tuple[int, str]],
    months: list[str],
    lines: list[int],
) -> list[Any]:
    """The plan-hygiene findings the file would cause, before anything is written: the
    database's entries of those months (minus the ones the file replaces) with the file's
    rows (given by column: each row's enterprise (id, name), month and line). Only findings
    that involve a row of the file are returned."""
    ids = list(map(itemgetter(0), enterprises))
    planned = set(months)
    found: list[PlannedEntry] = []
    # Months nobody planned yet (the usual monthly plan) hold no entry of the file's
    # enterprises: one probe instead of sending them all.
    if months_planned(session, planned):
        found = hygiene.entry_facts(session, months=planned, enterprise_ids=set(ids))
    slots = list(zip(ids, months, strict=True))
    file_keys = set(slots)
    facts = [
        f
        for f in found
        if not (
            f.agency_id == agency.id
            and f.plan_kind == kind
            and (f.enterprise_id, f.month) in file_keys
        )
    ]
    if not facts and len(file_keys) == len(slots):
        return []  # each row a pair of its own and no entry of the database beside it
    # Only the entries whose (enterprise, month) another shares can be in a finding
    # (`shared_slots`): the others (most of a plan: an enterprise is planned once a month)
    # are left out, and the file's are not even built.
    shared = shared_slots(chain(map(slot, facts), slots))
    facts = [f for f in facts if slot(f) in shared]
    for (ent_id, name), month, line in zip(enterprises, months, lines, strict=True):
        if (ent_id, month) in shared:
            facts.append(
                PlannedEntry(
                    agency_id=agency.id,
                    agency_name=agency.name,
                    plan_kind=kind,
                    enterprise_id=ent_id,
                    enterprise_name=name,
                    month=month,
                    line=line,
                )
            )
    return [f for f in plan_duplicates(facts) if f.params["line_numbers"]]


# --- applying a batch ---------------------------------------------------------------------------


def _not_pending(state: str) -> DomainError:
    return DomainError(
        "import_not_pending",
        "This import cannot be applied or discarded: it is %(state)s. Upload the file again "
        "to import it.",
        status=409,
        state=state,
    )


def start_apply(
    session: Session, *, actor: User | None, batch_id: int, now: datetime
) -> ImportBatch:
    """validated -> applying, committed at once: a second confirmation (a double click,
    another administrator) is refused with `import_not_pending`."""
    _require_admin(actor)
    begin_write(session)
    batch = session.get(ImportBatch, batch_id, options=[defer(ImportBatch.payload)])
    if batch is None:
        session.rollback()
        raise not_found("import")
    if batch.status != ImportStatus.validated:
        state = batch.status.value
        session.rollback()
        raise _not_pending(state)
    batch.status = ImportStatus.applying
    batch.processed_rows = 0
    session.commit()
    _progress[batch_id] = 0
    return batch


def run_apply(
    session: Session,
    *,
    actor: User | None,
    batch_id: int,
    now: datetime,
    progress: Progress | None = None,
) -> ImportBatch:
    """Apply a batch that `start_apply` marked `applying`: one transaction, all rows or
    none. Refused with `import_stale` (and the batch marked failed) when the database no
    longer holds what the diff was computed against."""
    _require_admin(actor)
    begin_write(session)
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        session.rollback()
        raise not_found("import")
    if batch.status != ImportStatus.applying:
        state = batch.status.value
        session.rollback()
        raise _not_pending(state)
    try:
        with _bulk():
            _apply(session, batch, actor=actor, now=now, progress=progress)
    except Exception as exc:
        session.rollback()
        _mark_failed(session, batch_id, exc)
        raise
    finally:
        _progress.pop(batch_id, None)
    return batch


def apply_batch(
    session: Session,
    *,
    actor: User | None,
    batch_id: int,
    now: datetime,
    progress: Progress | None = None,
) -> ImportBatch:
    """Confirm and apply a checked batch (start_apply, then run_apply)."""
    start_apply(session, actor=actor, batch_id=batch_id, now=now)
    return run_apply(session, actor=actor, batch_id=batch_id, now=now, progress=progress)


def _mark_failed(session: Session, batch_id: int, exc: Exception) -> None:
    if isinstance(exc, DomainError):
        error = {"code": exc.code, "message": exc.message, "params": exc.params}
    else:
        error = {
            "code": "internal_error",
            "message": "Something went wrong on our side; nothing was saved. Quote the request id.",
            "params": {},
        }
    begin_write(session)
    batch = session.get(ImportBatch, batch_id, options=[defer(ImportBatch.payload)])
    if batch is not None:
        batch.status = ImportStatus.failed
        batch.error = _canonical(error)
    session.commit()


def _publish(session: Session, batch_id: int, done: int) -> None:
    """Write the progress in its own short transaction where the database allows a second
    writer (PostgreSQL: other app processes read it); SQLite holds one writer at a time, so
    there the progress stays in this process (`_progress`)."""
    engine = session.connection().engine
    if engine.dialect.name == "sqlite":
        return
    with engine.begin() as conn:
        conn.execute(
            update(ImportBatch).where(ImportBatch.id == batch_id).values(processed_rows=done)
        )


# What the diff records for an added row (kinds other than inspectors): a chunk of nothing
# else is new rows only, written column by column.
_ADDED = {"a": "added"}


def _apply(
    session: Session,
    batch: ImportBatch,
    *,
    actor: User | None,
    now: datetime,
    progress: Progress | None,
) -> None:
    spec = spec_for(batch.kind)
    payload = load_payload(batch.payload)
    if int(payload.get("version", 1)) > PAYLOAD_VERSION:
        # Checked by a newer release (then rolled back): its rows may be stored otherwise.
        raise DomainError(
            "import_stale",
            "This file was checked by a newer version of the application. Nothing was "
            "written: check the file again, then apply.",
            status=409,
        )
    diff: list[dict[str, Any] | None] = payload["diff"]
    names: list[str]
    columns: list[list[Any]]
    rows: list[Row]
    # See unpack_rows. Plans: every format-3 batch (their rows always share their keys).
    by_column = (batch.kind in KEY_COLUMNS or spec.plan_kind is not None) and "keys" in payload
    if by_column and spec.plan_kind is not None:
        names, columns = payload["keys"], payload["columns"]
        rows = []
        by_name = dict(zip(names, columns, strict=True))
        held = None
        if "enterprise_id" in by_name:  # the check's ids (batches checked since 2026-12-02)
            held = dict(zip(by_name["uscc"], by_name["enterprise_id"], strict=True))
        before = snapshot(
            session, spec, rows, agency_id=batch.agency_id, columns=by_name, held=held
        )
    elif by_column:
        # Kept by column: a chunk of added rows goes to the INSERT as it is; dicts are
        # built only for a chunk with a changed row.
        names = payload["keys"]
        columns = payload["columns"]
        rows = []
        keys = columns[names.index(KEY_COLUMNS[batch.kind])]
        before = snapshot(session, spec, rows, agency_id=batch.agency_id, keys=keys)
    else:
        rows = unpack_rows(payload)
        before = snapshot(session, spec, rows, agency_id=batch.agency_id)
    if _hash(before) != payload["before_hash"]:
        raise DomainError(
            "import_stale",
            "The data changed after this file was checked (another import or an edit), so "
            "what was shown is no longer what would happen. Nothing was written: check the "
            "file again, then apply.",
            status=409,
        )
    writer = WRITERS[batch.kind](session, batch, before, actor, now)
    total = len(diff)
    published = time.monotonic()
    for start in range(0, total, CHUNK):
        stop = min(start + CHUNK, total)
        if by_column:
            changes = diff[start:stop]
            if changes.count(_ADDED) == len(changes):  # new rows only: columns as they are
                writer.add_columns({n: c[start:stop] for n, c in zip(names, columns, strict=True)})
            else:
                chunk = zip(*(column[start:stop] for column in columns), strict=True)
                writer.write(
                    [
                        (dict(zip(names, values, strict=True)), d)
                        for values, d in zip(chunk, changes, strict=True)
                        if d is not None
                    ]
                )
        else:
            writer.write([(rows[i], d) for i in range(start, stop) if (d := diff[i]) is not None])
        _progress[batch.id] = stop
        if time.monotonic() - published >= PUBLISH_SECONDS:
            # A transaction of its own each time: often enough for the page's poll, not
            # after every chunk of a fast apply.
            _publish(session, batch.id, stop)
            published = time.monotonic()
        if progress is not None:
            progress(stop, total)
    writer.finish()
    batch.status = ImportStatus.applied
    batch.processed_rows = total
    batch.applied_at = now
    audit.record(
        session,
        actor_id=actor.id if actor else None,
        action="import.applied",
        object_type="import_batch",
        object_id=batch.id,
        now=now,
        data={
            "kind": batch.kind.value,
            "filename": batch.filename,
            "sha256": batch.sha256,
            "agency_id": batch.agency_id,
            "rows": total,
            "added": batch.added,
            "changed": batch.changed,
            "unchanged": batch.unchanged,
        },
    )
    session.commit()


# --- discarding, reading -------------------------------------------------------------------------


def discard_batch(
    session: Session, *, actor: User | None, batch_id: int, now: datetime
) -> ImportBatch:
    """validated -> discarded (the file is not applied; the batch stays on the list)."""
    _require_admin(actor)
    begin_write(session)
    batch = session.get(ImportBatch, batch_id, options=[defer(ImportBatch.payload)])
    if batch is None:
        session.rollback()
        raise not_found("import")
    if batch.status != ImportStatus.validated:
        state = batch.status.value
        session.rollback()
        raise _not_pending(state)
    batch.status = ImportStatus.discarded
    session.commit()
    return batch


def get_batch(session: Session, *, actor: User | None, batch_id: int) -> ImportBatch:
    _require_admin(actor)
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise not_found("import")
    return batch


def list_batches(session: Session, *, actor: User | None, limit: int = 50) -> list[ImportBatch]:
    """The latest batches, newest first (without their payloads)."""
    _require_admin(actor)
    return list(
        session.scalars(
            select(ImportBatch)
            .options(defer(ImportBatch.payload))
            .order_by(ImportBatch.id.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class ProgressState:
    status: ImportStatus
    processed: int
    total: int


def batch_progress(session: Session, *, actor: User | None, batch_id: int) -> ProgressState:
    """How far the application of a batch is (rows of the file processed)."""
    _require_admin(actor)
    batch = session.get(ImportBatch, batch_id, options=[defer(ImportBatch.payload)])
    if batch is None:
        raise not_found("import")
    session.refresh(batch, ["status", "processed_rows"])
    processed = max(batch.processed_rows, _progress.get(batch_id, 0))
    return ProgressState(batch.status, processed, batch.total_rows)


def _label(row: Row) -> str:
    return str(row.get("name") or row.get("title") or row.get("enterprise_name") or "")


def report(session: Session, batch: ImportBatch) -> BatchReport:
    """What the check page shows: the errors, or samples of the diff and the warnings."""
    payload = load_payload(batch.payload or "{}")
    spec = spec_for(batch.kind)
    errors = [
        RowError(line, col, msg, params) for line, col, msg, params in payload.get("errors", [])
    ]
    added: list[Sample] = []
    changed: list[Sample] = []
    for row, d in zip(unpack_rows(payload), payload.get("diff", []), strict=True):
        if d is None:
            continue
        bucket = added if d["a"] == "added" else changed
        if len(bucket) >= SAMPLES:
            continue
        note = ""
        if batch.kind == ImportKind.inspectors and d["a"] == "added":
            note = "existing_inspector" if d.get("holder") else "new_inspector"
        bucket.append(
            Sample(
                line=row["line"],
                key=row["uscc"] if spec.plan_kind else spec.key(row),
                label=_label(row),
                fields=[(f, old, new) for f, old, new in d.get("f", [])],
                note=note,
            )
        )
    failure = None
    if batch.status == ImportStatus.failed and batch.error.startswith("{"):
        err = json.loads(batch.error)
        failure = (err["code"], err["message"], err.get("params", {}))
    same = session.scalar(
        select(ImportBatch)
        .options(defer(ImportBatch.payload))
        .where(
            ImportBatch.sha256 == batch.sha256,
            ImportBatch.kind == batch.kind,
            ImportBatch.status == ImportStatus.applied,
            ImportBatch.id != batch.id,
        )
        .order_by(ImportBatch.id.desc())
        .limit(1)
    )
    return BatchReport(
        errors=errors,
        error_count=int(payload.get("error_count", len(errors))),
        added=added,
        changed=changed,
        warnings=[(msg, params) for msg, params in payload.get("warnings", [])],
        plans=list(payload.get("plans", [])),
        skipped_example=int(payload.get("skipped_example", 0)),
        failure=failure,
        same_file_applied=same,
    )
