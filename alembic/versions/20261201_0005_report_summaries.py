"""The monthly report's summary tables (webapp/supervision/summary.py): `agency_closure`
and `report_visit_units`, with their backfill.

Derived, NOT evidence: no append-only triggers; `python -m webapp reports rebuild`
recomputes them. The backfill is the same set-based INSERT ... SELECT the rebuild runs
(one statement over every visit), with the months of Settings.timezone.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 22:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agency_closure",
        sa.Column("ancestor_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("ancestor_id", "agency_id", name=op.f("pk_agency_closure")),
    )
    op.create_index(
        op.f("ix_agency_closure_agency_id"), "agency_closure", ["agency_id"], unique=False
    )
    op.create_table(
        "report_visit_units",
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("tree", sa.Boolean(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("inspection", sa.Integer(), nullable=False),
        sa.Column("extra", sa.Integer(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("fines_fen", sa.BigInteger(), nullable=False),
        sa.Column("hazards", sa.Integer(), nullable=False),
        sa.Column("major_hazards", sa.Integer(), nullable=False),
        sa.Column("rectified_on_time", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "agency_id", "tree", "month", "visit_id", name=op.f("pk_report_visit_units")
        ),
    )
    op.create_index(
        op.f("ix_report_visit_units_visit_id"), "report_visit_units", ["visit_id"], unique=False
    )
    from webapp.supervision import summary

    session = Session(bind=op.get_bind())
    summary.rebuild(session, chart_cache=False)
    session.flush()


def downgrade() -> None:
    op.drop_index(op.f("ix_report_visit_units_visit_id"), table_name="report_visit_units")
    op.drop_table("report_visit_units")
    op.drop_index(op.f("ix_agency_closure_agency_id"), table_name="agency_closure")
    op.drop_table("agency_closure")
