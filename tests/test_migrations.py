"""Migrations are the only way the schema changes: every revision goes up and down one step at
a time and up again, on the engine under test (SQLite, or PostgreSQL with TEST_DATABASE_URL),
and the models hold nothing the migrations do not create."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import webapp.models  # noqa: F401
from alembic import command
from tests.dbs import Databases, triggers
from webapp.db import Base, make_engine, make_sessionmaker

ROOT = Path(__file__).resolve().parent.parent


def _config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


def _revisions(cfg: Config) -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(cfg)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _schema(url: str) -> dict[str, list[str]]:
    """Per table: its columns, indexes and triggers (what a revision may change)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        found = inspect(conn)
        schema = {
            table: sorted(
                [f"column {c['name']}" for c in found.get_columns(table)]
                + [f"index {i['name']}" for i in found.get_indexes(table)]
            )
            for table in found.get_table_names()
            if table != "alembic_version"
        }
    engine.dispose()
    with make_sessionmaker(engine)() as session:
        for name, table in triggers(session):
            # Sorted: PostgreSQL lists a table's triggers in no fixed order (0009 adds a
            # second trigger to item_findings and rectifications).
            schema[table] = sorted([*schema[table], f"trigger {name}"])
    engine.dispose()
    return schema


def test_every_revision_goes_up_and_down_and_up(databases: Databases, tmp_path: Path) -> None:
    url = databases.empty(tmp_path)
    cfg = _config(url)
    revisions = _revisions(cfg)
    assert len(revisions) >= 3
    schemas = [_schema(url)]
    for revision in revisions:
        command.upgrade(cfg, revision)
        schemas.append(_schema(url))
        assert schemas[-1] != schemas[-2], f"{revision} changed nothing"
    for index in range(len(revisions) - 1, -1, -1):
        command.downgrade(cfg, "-1")
        assert _schema(url) == schemas[index], f"down from {revisions[index]} is not the way up"
    assert _schema(url) == {}
    command.upgrade(cfg, "head")
    assert _schema(url) == schemas[-1]
    databases.drop(url)


def test_models_hold_nothing_the_migrations_do_not_create(db_url: str) -> None:
    engine = make_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
