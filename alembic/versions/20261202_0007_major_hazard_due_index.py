"""A partial index for the hazard sweep (webapp/findings/service.py sweep_overdue_hazards):
the major hazards by deadline, `item_findings (rectify_by, id, inspection_id, item_id) WHERE
outcome = 'major_hazard'`.

The sweep looks for major hazards whose deadline has passed; without this index it read every
finding (2.7 million at province size, about 3% of them major hazards) every sweep, in every
app worker. The index holds only the major hazards, in the order the sweep reads them, with
the columns it joins on, so the read is an index-only range (PostgreSQL, province data:
305 ms -> 16 ms for that part of the statement; see the commit for the whole statement).

Only CREATE INDEX / DROP INDEX: the table is not rebuilt, so the append-only trigger of 0003
on item_findings stays as it is.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_item_findings_major_hazard_due"
# Written out, not imported from the model: a migration keeps the schema of its day.
WHERE = "outcome = 'major_hazard'"


def upgrade() -> None:
    op.create_index(
        NAME,
        "item_findings",
        ["rectify_by", "id", "inspection_id", "item_id"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="item_findings")
