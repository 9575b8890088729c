"""Command line: serve, migrate, demo, sweep, audit verify, create-admin, import,
import-template."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def migrate(database_url: str | None = None, revision: str = "head") -> None:
    """Apply Alembic migrations: the only way the schema changes."""
    from alembic.config import Config

    from alembic import command
    from webapp.config import get_settings

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url or get_settings().database_url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, revision)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webapp")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the web app (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    sub.add_parser("migrate", help="apply database migrations")
    demo = sub.add_parser("demo", help="load the demo data set")
    demo.add_argument("--if-empty", action="store_true", help="only into an empty database")
    sweep = sub.add_parser(
        "sweep", help="flag visits whose window passed unconfirmed, and overdue major hazards"
    )
    sweep.add_argument(
        "--requeue",
        action="store_true",
        help="first rebuild the hazard sweep's queue (derived) from the findings",
    )
    audit = sub.add_parser("audit", help="the audit log")
    audit.add_argument("action", choices=["verify"])
    audit.add_argument(
        "--export", metavar="FILE", help="write the dated head (JSON) to FILE, to keep elsewhere"
    )
    audit.add_argument(
        "--against", metavar="FILE", help="also check the chain still passes a kept head"
    )
    backup = sub.add_parser("backup", help="copy the SQLite database while the app runs")
    backup.add_argument("file", help="the new backup file (must not exist)")
    restore = sub.add_parser("restore", help="replace the SQLite database with a backup")
    restore.add_argument("file", help="a backup made by the backup command")
    restore.add_argument(
        "--yes", action="store_true", help="confirm: the app is stopped; replace the database"
    )
    admin = sub.add_parser("create-admin", help="create an administrator account")
    admin.add_argument("username")
    summaries = sub.add_parser("reports", help="the monthly report's summary tables")
    summaries.add_argument("action", choices=["rebuild", "check"])
    from webapp.imports import cli as import_cli

    import_cli.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "import-template":
        return import_cli.write_template(args)

    from webapp.config import get_settings

    try:
        settings = get_settings()
    except Exception as exc:  # pydantic's ValidationError: say what to set, not a trace
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    if args.command == "migrate":
        migrate()
        return 0
    if args.command == "serve":
        import uvicorn

        uvicorn.run(
            "webapp.asgi:app",
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=True,
            log_level="info",
        )
        return 0

    from webapp.clock import SystemClock
    from webapp.db import make_engine, make_sessionmaker

    if args.command in ("backup", "restore"):
        from webapp import backup as backups

        try:
            if args.command == "backup":
                done = backups.backup(settings.database_url, Path(args.file))
                print(
                    f"backup written to {done.path} ({done.size} bytes, "
                    f"{done.audit_events} audit events, head {done.head})"
                )
                return 0
            if not args.yes:
                print(
                    "restore replaces the database: stop the app, then re-run with --yes "
                    "(the current database is kept beside it, renamed)",
                    file=sys.stderr,
                )
                return 3
            done = backups.restore(Path(args.file), settings.database_url, now=SystemClock().now())
            print(f"restored {done.audit_events} audit events, head {done.head}")
            return 0
        except backups.BackupError as exc:
            print(f"{args.command} failed: {exc}", file=sys.stderr)
            return 1

    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    now = SystemClock().now()
    with factory() as session:
        if args.command == "import":
            return import_cli.run_import(session, args, now=now)
        if args.command == "demo":
            from webapp import demo as demo_data

            if args.if_empty and not demo_data.is_empty(session):
                print("database already has data; demo not loaded")
                return 0
            demo_data.load(session, now=now, settings=settings)
            print("demo data loaded")
            return 0
        if args.command == "sweep":
            from webapp.findings import service as findings_service
            from webapp.supervision import service as supervision_service

            if args.requeue:
                queued = findings_service.requeue_major_hazards(session)
                print(f"{queued} major hazard(s) queued for the sweep")
            count = supervision_service.sweep_unconfirmed(session, now=now)
            hazards = findings_service.sweep_overdue_hazards(session, now=now)
            print(f"{count} flag(s) raised")
            print(f"{hazards} overdue major hazard flag(s) raised")
            return 0
        if args.command == "audit":
            from webapp.audit import service as audit_service

            kept = None
            if args.against:
                try:
                    kept = audit_service.parse_kept_head(Path(args.against).read_text())
                except (OSError, ValueError) as exc:
                    print(f"cannot read the kept head {args.against}: {exc}", file=sys.stderr)
                    return 2
            report = audit_service.verify_chain(session, kept=kept)
            if report.ok:
                print(f"audit chain verifies: {report.count} events, head {report.head}")
                if args.export:
                    record = audit_service.head_record(report, now=now)
                    Path(args.export).write_text(json.dumps(record, indent=2) + "\n")
                    print(f"head written to {args.export}: keep it where this server cannot")
                return 0
            print(
                f"audit chain BROKEN at event {report.first_bad_id}: {report.problem} "
                f"({report.count} events verified before it)",
                file=sys.stderr,
            )
            return 1
        if args.command == "reports":
            from webapp.supervision import summary

            return summary.run_command(session, args.action)
        if args.command == "create-admin":
            from webapp.bootstrap import create_first_admin

            password = getpass.getpass("password (at least 10 characters): ")
            create_first_admin(session, username=args.username, password=password, now=now)
            print(f"administrator {args.username} created")
            return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
