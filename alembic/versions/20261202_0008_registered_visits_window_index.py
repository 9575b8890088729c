"""A partial index for the monthly report's unconfirmed counts: the registered visits by
window, `visits (window_start, window_end, agency_id) WHERE status = 'registered'`.

The report counts, for its rows and the chart's 12 months, the visits still registered whose
window has ended (webapp/supervision/reports.py). Registered visits are a few percent of all
visits once a year has passed; with `ix_visits_status_window` PostgreSQL fetched each of them
from the table (province data, 27,000 visits of the chart's year: ~46 ms of heap reads);
from this index, which holds the columns the count reads, it reads the index alone (~15 ms,
measured by hand on the province bench data; 3 MB). Visits leave it when confirmed or
cancelled.

Only CREATE INDEX / DROP INDEX.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_visits_registered_window"
# Written out, not imported from the model: a migration keeps the schema of its day.
WHERE = "status = 'registered'"


def upgrade() -> None:
    op.create_index(
        NAME,
        "visits",
        ["window_start", "window_end", "agency_id"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="visits")
