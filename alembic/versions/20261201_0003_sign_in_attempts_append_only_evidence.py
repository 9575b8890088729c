"""Sign-in attempts (the throttle's memory) and append-only evidence enforced by the database.

Evidence tables refuse UPDATE and DELETE with a trigger, whoever connects: the app has no path
that changes them, and this makes the database itself refuse a quiet edit. A later migration
that rebuilds one of these tables (SQLite batch mode copies it into a new table) must create
its triggers again: call `create_evidence_triggers` for it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 16:29:01.958050
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVIDENCE_TABLES = (
    "audit_events",
    "scans",
    "unregistered_reports",
    "visit_decisions",
    "flags",
    "flag_resolutions",
    "inspections",
    "item_findings",
    "finding_photos",
    "notice_acknowledgements",
    "rectifications",
    "sign_in_attempts",
)

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_evidence_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'evidence is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def create_evidence_triggers(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_evidence_change()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'evidence is append-only: {event} on {table} "
            "refused'); END"
        )


def drop_evidence_triggers(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        return
    for event in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")


def upgrade() -> None:
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_attempts")),
    )
    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_sign_in_attempts_address_at", ["address", "at"], unique=False)
        batch_op.create_index("ix_sign_in_attempts_username_at", ["username", "at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
    for table in EVIDENCE_TABLES:
        create_evidence_triggers(table)


def downgrade() -> None:
    for table in EVIDENCE_TABLES:
        drop_evidence_triggers(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS refuse_evidence_change()")
    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_attempts_username_at")
        batch_op.drop_index("ix_sign_in_attempts_address_at")
    op.drop_table("sign_in_attempts")
