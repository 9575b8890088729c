"""Partial indexes for plan coverage (webapp/supervision/reports.py), one per part of its
statement. Measured by hand on the province bench data (a month: 23,000 plan entries,
28,000 visits), EXPLAIN ANALYZE of the whole statement: ~225 ms before (with "merged" as an
EXISTS over visits, team and items), ~36 ms with "merged" read from the summary and these
three indexes.

- `ix_report_visit_units_merge`, `report_visit_units (month, agency_id, enterprise_id)
  WHERE NOT tree AND inspection = 1`: "merged" — a confirmed visit at the entry's
  enterprise, in its month, in which the entry's agency took part — is a summary row of the
  agency's own work with `inspection` 1. PostgreSQL hashes the month's ~25,000 rows from
  this index alone (~2.4 ms, 27 MB; the report's tree rows and unconfirmed visits are not in
  it; without it, the whole table was read: ~120 ms).
- `ix_visits_confirmed_plan_entry`, `visits (plan_entry_id) WHERE status = 'confirmed'`:
  "done" looks each entry up (23,000 times): from this index alone, not the visit rows
  through `ix_visits_plan_entry_id` (~25 -> ~15 ms).
- `ix_visits_extra_window`, `visits (window_start, agency_id, approval) WHERE plan_entry_id
  IS NULL AND status <> 'cancelled'`: the month's extra visits by approval from the index
  alone (30 pages), not the month's every visit from the table (28,000 pages; ~15 -> ~1 ms).

Both visits indexes take a visit's row when it is registered or confirmed, as its other
indexes do (a status change rewrites every index entry of the row): measured on a copy of
50,000 visits, the UPDATE confirming them all took ~6 % longer (~1 µs a visit).

Only CREATE INDEX / DROP INDEX.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported from the models: a migration keeps the schema of its day.
# (name, table, columns, PostgreSQL predicate, SQLite predicate): each engine's spelling of
# the test the query makes (SQLite stores a boolean as 0 or 1 and uses a partial index only
# for terms the query writes the same way: `tree = 0`).
INDEXES = (
    (
        "ix_report_visit_units_merge",
        "report_visit_units",
        ["month", "agency_id", "enterprise_id"],
        "NOT tree AND inspection = 1",
        "tree = 0 AND inspection = 1",
    ),
    (
        "ix_visits_confirmed_plan_entry",
        "visits",
        ["plan_entry_id"],
        "status = 'confirmed'",
        "status = 'confirmed'",
    ),
    (
        "ix_visits_extra_window",
        "visits",
        ["window_start", "agency_id", "approval"],
        "plan_entry_id IS NULL AND status <> 'cancelled'",
        "plan_entry_id IS NULL AND status <> 'cancelled'",
    ),
)


def upgrade() -> None:
    for name, table, columns, pg_where, sqlite_where in INDEXES:
        op.create_index(
            name,
            table,
            columns,
            postgresql_where=sa.text(pg_where),
            sqlite_where=sa.text(sqlite_where),
        )


def downgrade() -> None:
    for name, table, *_ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
