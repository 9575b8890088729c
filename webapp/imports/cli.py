"""The command line's `import` and `import-template` (wired into `python -m webapp`):
check a file, print every bad row or the diff, ask before applying (or `--yes`), and show
progress on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session

from webapp.enums import ImportKind, ImportStatus
from webapp.errors import DomainError
from webapp.imports import service as imports_service
from webapp.imports import templates
from webapp.imports.kinds import PLAN_KINDS
from webapp.imports.models import ImportBatch

EXIT_BAD_FILE = 1
EXIT_NOT_APPLIED = 3
SHOWN = 20


def add_commands(sub: Any) -> None:
    """Add the two subcommands to `python -m webapp`'s argument parser."""
    kinds = [k.value for k in ImportKind]
    imp = sub.add_parser(
        "import", help="import a spreadsheet (.xlsx or .csv): check, show the diff, apply"
    )
    imp.add_argument("kind", choices=kinds)
    imp.add_argument("file")
    imp.add_argument("--agency", metavar="CODE", help="the agency whose plan it is (plans)")
    imp.add_argument(
        "--year", type=int, help="the year of months written as 1-12 (plans; default this year)"
    )
    imp.add_argument("--yes", action="store_true", help="apply without asking")
    tpl = sub.add_parser("import-template", help="write a template to fill in")
    tpl.add_argument("kind", choices=kinds)
    tpl.add_argument("--format", choices=sorted(templates.FORMATS), default="xlsx")
    tpl.add_argument("-o", "--output", required=True, metavar="FILE")


def _text(message: str, params: dict[str, Any]) -> str:
    return message % params if params else message


def write_template(args: argparse.Namespace) -> int:
    data, _, _ = templates.template_for(ImportKind(args.kind), args.format)
    Path(args.output).write_bytes(data)
    print(f"template written to {args.output}")
    return 0


def run_import(
    session: Session,
    args: argparse.Namespace,
    *,
    now: datetime,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    ask: Callable[[str], str] = input,
) -> int:
    """0 applied (or nothing to change), 1 the file has problems, 3 not applied (no
    confirmation)."""
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    err = err or sys.stderr
    kind = ImportKind(args.kind)
    agency_id = None
    if kind in PLAN_KINDS:
        if not args.agency:
            print("a plan import needs --agency CODE (the agency whose plan it is)", file=err)
            return 2
        agency_id = imports_service.find_agency_id(session, args.agency)
        if agency_id is None:
            print(f"no agency with code {args.agency!r}", file=err)
            return 2
    path = Path(args.file)
    try:
        data = path.read_bytes()
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=err)
        return EXIT_BAD_FILE
    print(f"checking {path.name} ...", file=err)
    try:
        batch = imports_service.check_file(
            session,
            actor=None,
            kind=kind,
            filename=path.name,
            data=data,
            now=now,
            agency_id=agency_id,
            year=args.year,
        )
    except DomainError as exc:
        print(f"{path.name}: {_text(exc.message, exc.params)}", file=err)
        for problem in exc.errors:
            print(f"  {problem.field}: {_text(problem.message, problem.params)}", file=err)
        return EXIT_BAD_FILE
    found = imports_service.report(session, batch)
    if batch.status == ImportStatus.failed:
        print(f"{found.error_count} problem(s); nothing was imported:", file=err)
        for e in found.errors:
            column = f", column {e.column}" if e.column else ""
            print(f"  line {e.line}{column}: {_text(e.message, e.params)}", file=err)
        if found.error_count > len(found.errors):
            print(f"  ... and {found.error_count - len(found.errors)} more", file=err)
        return EXIT_BAD_FILE
    _print_diff(batch, found, out)
    if batch.added == 0 and batch.changed == 0:
        print("nothing to change: the database already holds this file", file=out)
        imports_service.discard_batch(session, actor=None, batch_id=batch.id, now=now)
        return 0
    if not args.yes:
        if not stdin.isatty():
            print(
                f"not applied: re-run with --yes to apply (or confirm import #{batch.id} on "
                f"the page /admin/imports/{batch.id})",
                file=err,
            )
            return EXIT_NOT_APPLIED
        answer = ask(f"apply: add {batch.added}, change {batch.changed}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes", "是"):
            imports_service.discard_batch(session, actor=None, batch_id=batch.id, now=now)
            print("not applied", file=err)
            return EXIT_NOT_APPLIED

    def progress(done: int, total: int) -> None:
        print(f"applied {done}/{total}", file=err, flush=True)

    try:
        imports_service.apply_batch(
            session, actor=None, batch_id=batch.id, now=now, progress=progress
        )
    except DomainError as exc:
        print(f"not applied: {_text(exc.message, exc.params)}", file=err)
        return EXIT_BAD_FILE
    print(f"import #{batch.id} applied: {batch.added} added, {batch.changed} changed", file=out)
    return 0


def _print_diff(batch: ImportBatch, found: imports_service.BatchReport, out: TextIO) -> None:
    print(
        f"{batch.kind.value}: {batch.total_rows} rows: {batch.added} to add, "
        f"{batch.changed} to change, {batch.unchanged} unchanged",
        file=out,
    )
    for plan in found.plans:
        state = "existing" if plan["exists"] else "new"
        print(f"  plan {plan['period']} ({state}): {plan['rows']} rows", file=out)
    if found.changed:
        print("changed:", file=out)
        for s in found.changed[:SHOWN]:
            changes = "; ".join(f"{f}: {old!r} -> {new!r}" for f, old, new in s.fields)
            print(f"  line {s.line} {s.key} {s.label}: {changes}", file=out)
    if found.added:
        print("added:", file=out)
        for s in found.added[:SHOWN]:
            print(f"  line {s.line} {s.key} {s.label}", file=out)
        if batch.added > SHOWN:
            print(f"  ... and {batch.added - SHOWN} more", file=out)
    for message, params in found.warnings:
        print(f"warning: {_text(message, params)}", file=out)
