"""Indexes for province scale, chosen from EXPLAIN (ANALYZE, BUFFERS) on the generated
province data set (100,000 enterprises, 1,000,000 visits; bench/bench_lists.py):

- visit_items.agency_id: the monthly report finds the visits an agency took part in by
  covering an item; without it every row of visit_items was read for one month.
- visits (enterprise_id, window_start): an enterprise's visits in a period (its history and
  caps at registration, plan coverage's merged entries): one index range, not all of the
  enterprise's visits then a filter.
- flags (kind, raised_at): the flag list filtered by kind, newest first.
- visits (status, window_start): a period's confirmed visits. Without it SQLite (no
  statistics) read every confirmed visit by the status index and filtered on the window:
  the city-year report's slow month.

The other half of that slow month was the on-time check looking a hazard's item up among
every finding of that item (SQLite, by ix_item_findings_item_id); the query now goes by the
visit's inspections instead (webapp/supervision/reports.py `_on_time`): no index needed.

Only CREATE INDEX / DROP INDEX: no table is rebuilt, so the append-only triggers of 0003 on
the evidence tables (flags among them) stay as they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_visit_items_agency_id", "visit_items", ["agency_id"]),
    ("ix_visits_enterprise_window", "visits", ["enterprise_id", "window_start"]),
    ("ix_flags_kind_raised", "flags", ["kind", "raised_at"]),
    ("ix_visits_status_window", "visits", ["status", "window_start"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
