"""The report summary's queue: `report_summary_queue (id, visit_id)`.

A write used to recompute the summary rows of each visit it touched in its own transaction
(a DELETE and an INSERT ... SELECT over the visit's team, items and inspection records): on
a confirmation, the busiest write, that was a quarter of its database work. Now the write
queues the visit ids and the recompute runs before the summary is next read
(`summary.catch_up`: the report pages, `reports check`) and in the background sweep,
several visits per statement. Derived, not evidence: rows are deleted once applied.

The upgrade queues nothing: the summary was current at the upgrade (every write refreshed
it). The downgrade applies what is queued first, so no change is lost with the table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_summary_queue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_summary_queue")),
    )


def downgrade() -> None:
    # Before 0011 every write refreshed the summary itself: apply what is still queued.
    from sqlalchemy.orm import Session

    from webapp.supervision import summary

    bind = op.get_bind()
    queued = [r[0] for r in bind.execute(sa.text("SELECT visit_id FROM report_summary_queue"))]
    if queued:
        with Session(bind=bind) as session:
            summary.refresh_visits(session, queued)
            session.flush()
    op.drop_table("report_summary_queue")
