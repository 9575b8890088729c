"""The monthly report's chart cache (webapp/supervision/summary.py, reports.py):
`report_month_versions` and `report_chart_cache`.

Derived, NOT evidence: both start empty (an empty cache is a valid cache; the next read of
a chart fills it); `python -m webapp reports rebuild` clears them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_month_versions",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_report_month_versions")),
    )
    op.create_table(
        "report_chart_cache",
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("inspections", sa.Integer(), nullable=False),
        sa.Column("extra", sa.Integer(), nullable=False),
        sa.Column("enterprises", sa.Integer(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("fines_fen", sa.BigInteger(), nullable=False),
        sa.Column("hazards", sa.Integer(), nullable=False),
        sa.Column("major_hazards", sa.Integer(), nullable=False),
        sa.Column("rectified_on_time", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "scope", "version", name=op.f("pk_report_chart_cache")),
    )


def downgrade() -> None:
    op.drop_table("report_chart_cache")
    op.drop_table("report_month_versions")
