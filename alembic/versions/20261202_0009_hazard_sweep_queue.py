"""The hazard sweep's queue: `hazard_sweep_queue (id, visit_id, item_id, due)`, filled by
triggers on the evidence, emptied by the sweep (webapp/findings/service.py
sweep_overdue_hazards).

The sweep used to read every major hazard past its deadline on every run (77,000 on the
province bench data), and for the half rectified on time (never to be flagged) it looked up
the latest rectification again each time: seconds per sweep, in every app worker. A major
hazard's verdict changes only with new evidence (a finding recorded or corrected, a
rectification recorded) or when its deadline passes. So:

- AFTER INSERT ON item_findings, for a major hazard with a deadline: a row (its visit, item,
  due = the deadline);
- AFTER INSERT ON rectifications, any: a row for the rectified hazard (due NULL: the sweep
  looks at it next time; if the current deadline has not passed yet it sets `due` to it).

The sweep reads the rows due (`due IS NULL OR due < today`: by the index on `due`), judges
those hazards by the evidence exactly as before, and deletes the rows it judged for good.
Derived, not evidence: no append-only guard. The triggers fire for every writer (the app,
bulk COPY loaders).

The backfill queues every current major hazard with a deadline EXCEPT those already flagged
for that deadline and those whose latest rectification is "rectified" and was recorded
before the deadline's day began in UTC (rectified on time in any time zone, so never to be
flagged for that deadline; the ones recorded on the deadline day itself are queued and the
sweep judges them by the local day). Queuing too much is safe (the sweep judges and drops);
leaving out one it would flag is not, hence the conservative test.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:10:00
"""

# ruff: noqa: S608  (the SQL here is built from this file's constants only)
from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "hazard_sweep_queue"
INDEX = "ix_hazard_sweep_queue_due"
# Written out, not imported from the model: a migration keeps the schema of its day.
MAJOR = "'major_hazard'"

PG_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION queue_major_hazard_finding() RETURNS trigger AS $$
BEGIN
    INSERT INTO {TABLE} (visit_id, item_id, due)
    SELECT i.visit_id, NEW.item_id, NEW.rectify_by FROM inspections i
    WHERE i.id = NEW.inspection_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE OR REPLACE FUNCTION queue_rectified_hazard() RETURNS trigger AS $$
BEGIN
    INSERT INTO {TABLE} (visit_id, item_id, due)
    SELECT i.visit_id, f.item_id, NULL FROM item_findings f
    JOIN inspections i ON i.id = f.inspection_id
    WHERE f.id = NEW.item_finding_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

FINDING_WHEN = f"NEW.outcome = {MAJOR} AND NEW.rectify_by IS NOT NULL"

# Every current-version major hazard with a deadline, not yet flagged for that deadline and
# not rectified (latest verdict) before the deadline's day began in UTC.
BACKFILL = f"""
INSERT INTO {TABLE} (visit_id, item_id, due)
SELECT i.visit_id, f.item_id, f.rectify_by
FROM item_findings f JOIN inspections i ON i.id = f.inspection_id
WHERE f.outcome = {MAJOR} AND f.rectify_by IS NOT NULL
  AND i.version = (SELECT max(i2.version) FROM inspections i2 WHERE i2.visit_id = i.visit_id)
  AND NOT EXISTS (
    SELECT 1 FROM flags g
    WHERE g.visit_id = i.visit_id AND g.kind = 'major_hazard_overdue'
      AND g.dedupe_key = 'hazard:' || CAST(i.visit_id AS VARCHAR) || ':'
          || CAST(f.item_id AS VARCHAR) || ':' || CAST(f.rectify_by AS VARCHAR))
  AND NOT EXISTS (
    SELECT 1 FROM (
      SELECT r.outcome, r.recorded_at FROM rectifications r
      JOIN item_findings f3 ON f3.id = r.item_finding_id
      JOIN inspections i3 ON i3.id = f3.inspection_id
      WHERE i3.visit_id = i.visit_id AND f3.item_id = f.item_id
      ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1
    ) latest
    WHERE latest.outcome = 'rectified' AND latest.recorded_at < {{day_start}})
"""


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["item_id"], ["inspection_items.id"]),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(INDEX, TABLE, ["due"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTIONS)
        op.execute(
            f"CREATE TRIGGER item_findings_queue_major_hazard AFTER INSERT ON item_findings "
            f"FOR EACH ROW WHEN ({FINDING_WHEN}) EXECUTE FUNCTION queue_major_hazard_finding()"
        )
        op.execute(
            "CREATE TRIGGER rectifications_queue_hazard AFTER INSERT ON rectifications "
            "FOR EACH ROW EXECUTE FUNCTION queue_rectified_hazard()"
        )
        # Midnight UTC of the deadline's day.
        day_start = "CAST(f.rectify_by AS timestamp) AT TIME ZONE 'UTC'"
    else:
        op.execute(
            f"CREATE TRIGGER item_findings_queue_major_hazard AFTER INSERT ON item_findings "
            f"FOR EACH ROW WHEN {FINDING_WHEN} BEGIN "
            f"INSERT INTO {TABLE} (visit_id, item_id, due) "
            "SELECT visit_id, NEW.item_id, NEW.rectify_by FROM inspections "
            "WHERE id = NEW.inspection_id; END"
        )
        op.execute(
            "CREATE TRIGGER rectifications_queue_hazard AFTER INSERT ON rectifications "
            f"FOR EACH ROW BEGIN INSERT INTO {TABLE} (visit_id, item_id, due) "
            "SELECT i.visit_id, f.item_id, NULL FROM item_findings f "
            "JOIN inspections i ON i.id = f.inspection_id WHERE f.id = NEW.item_finding_id; END"
        )
        # UTC stored as 'YYYY-MM-DD HH:MM:SS...': before the day's date string is before
        # that day began.
        day_start = "f.rectify_by"
    op.execute(BACKFILL.format(day_start=day_start))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS item_findings_queue_major_hazard ON item_findings")
        op.execute("DROP TRIGGER IF EXISTS rectifications_queue_hazard ON rectifications")
        op.execute("DROP FUNCTION IF EXISTS queue_major_hazard_finding()")
        op.execute("DROP FUNCTION IF EXISTS queue_rectified_hazard()")
    else:
        op.execute("DROP TRIGGER IF EXISTS item_findings_queue_major_hazard")
        op.execute("DROP TRIGGER IF EXISTS rectifications_queue_hazard")
    op.drop_index(INDEX, table_name=TABLE)
    op.drop_table(TABLE)
