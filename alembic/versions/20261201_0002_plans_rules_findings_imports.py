"""Plans and rules as bureaus run them: caps, fields, joint visits, findings, imports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 16:24:25.214524
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAG_KINDS_0001 = (
    "extra_unapproved",
    "unregistered_report",
    "window_passed_unconfirmed",
    "refused_scan",
    "too_few_valid_credentials",
    "short_notice",
)
FLAG_KINDS = (
    *FLAG_KINDS_0001,
    "merge_candidate",
    "over_cap",
    "item_frequency",
    "credential_field",
    "confirmed_outside_window",
    "plan_duplicate",
    "major_hazard_overdue",
)
EXTRA_REASONS_0001 = (
    "complaint",
    "referral",
    "accident",
    "remote_clue",
    "recheck",
    "enterprise_request",
    "special_campaign",
)
EXTRA_REASONS = (*EXTRA_REASONS_0001, "licensing_check")

# The published example caps (DOMAIN.md): class, grade, visits per year.
DEFAULT_CAPS = [
    *(("hazchem_metallurgy", g, n) for g, n in (("1", 2), ("2", 4), ("3", 8), ("none", 12))),
    *(("other", g, n) for g, n in (("1", 1), ("2", 2), ("3", 4), ("none", 6))),
    *(("coal_mine", g, n) for g, n in (("A", 2), ("B", 4), ("C", 6), ("D", 4))),
    ("supervisory", "*", 3),
]


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _retype(table: str, column: str, old: sa.Enum, new: sa.Enum, nullable: bool) -> None:
    """Non-native enums are VARCHAR + a named CHECK: change the CHECK's list of values."""
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a constraint: batch mode rebuilds the table with the new one.
        with op.batch_alter_table(table, recreate="always") as batch_op:
            batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=nullable)
        return
    name = op.f(f"ck_{table}_{new.name}")
    values = ", ".join(f"'{v}'" for v in new.enums)
    op.drop_constraint(name, table, type_="check")
    op.create_check_constraint(name, table, sa.text(f"{column} IN ({values})"))


def upgrade() -> None:
    op.create_table(
        "import_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "enterprises",
                "inspectors",
                "items",
                "annual_plan",
                "monthly_plan",
                "caps",
                name="import_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "validated",
                "applying",
                "applied",
                "failed",
                "discarded",
                name="import_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("processed_rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_import_batches_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_import_batches_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_batches")),
    )
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_import_batches_sha256"), ["sha256"], unique=False)

    op.create_table(
        "visit_caps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_class", sa.String(length=32), nullable=False),
        sa.Column("risk_grade", sa.String(length=16), nullable=False),
        sa.Column("max_per_year", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_visit_caps_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_caps")),
        sa.UniqueConstraint(
            "enterprise_class", "risk_grade", name=op.f("uq_visit_caps_enterprise_class_risk_grade")
        ),
    )
    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("case_opened", sa.Boolean(), nullable=False),
        sa.Column("case_number", sa.String(length=64), nullable=False),
        sa.Column("fine_fen", sa.Integer(), nullable=False),
        sa.Column("correction_reason", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_inspections_recorded_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_inspections_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint("visit_id", "version", name=op.f("uq_inspections_visit_id_version")),
    )
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inspections_recorded_at"), ["recorded_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_inspections_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "item_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "compliant",
                "hazard",
                "major_hazard",
                name="finding_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("rectify_by", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_item_findings_inspection_id_inspections"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["inspection_items.id"],
            name=op.f("fk_item_findings_item_id_inspection_items"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_findings")),
    )
    with op.batch_alter_table("item_findings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_item_findings_inspection_id"), ["inspection_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_item_findings_item_id"), ["item_id"], unique=False)

    op.create_table(
        "notice_acknowledgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"],
            ["users.id"],
            name=op.f("fk_notice_acknowledgements_acknowledged_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_notice_acknowledgements_inspection_id_inspections"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_acknowledgements")),
    )
    with op.batch_alter_table("notice_acknowledgements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notice_acknowledgements_inspection_id"), ["inspection_id"], unique=False
        )

    op.create_table(
        "finding_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_finding_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_finding_id"],
            ["item_findings.id"],
            name=op.f("fk_finding_photos_item_finding_id_item_findings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding_photos")),
    )
    with op.batch_alter_table("finding_photos", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_finding_photos_item_finding_id"), ["item_finding_id"], unique=False
        )

    op.create_table(
        "rectifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_finding_id", sa.Integer(), nullable=False),
        sa.Column("recheck_visit_id", sa.Integer(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "rectified",
                "not_rectified",
                name="rectification_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_finding_id"],
            ["item_findings.id"],
            name=op.f("fk_rectifications_item_finding_id_item_findings"),
        ),
        sa.ForeignKeyConstraint(
            ["recheck_visit_id"],
            ["visits.id"],
            name=op.f("fk_rectifications_recheck_visit_id_visits"),
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_rectifications_recorded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rectifications")),
    )
    with op.batch_alter_table("rectifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rectifications_item_finding_id"), ["item_finding_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rectifications_recheck_visit_id"), ["recheck_visit_id"], unique=False
        )

    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("fields", sa.String(length=200), server_default="", nullable=False)
        )

    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_entry_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_flags_plan_entry_id_plan_entries"),
            "plan_entries",
            ["plan_entry_id"],
            ["id"],
        )

    with op.batch_alter_table("inspection_items", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("field", sa.String(length=32), server_default="", nullable=False)
        )

    with op.batch_alter_table("visit_inspectors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("added_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("visit_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("agency_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_visit_items_agency_id_agencies"), "agencies", ["agency_id"], ["id"]
        )

    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recheck_of_visit_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_visits_recheck_of_visit_id"), ["recheck_of_visit_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_visits_recheck_of_visit_id_visits"),
            "visits",
            ["recheck_of_visit_id"],
            ["id"],
        )

    _retype(
        "flags", "kind", _enum(FLAG_KINDS_0001, "flag_kind"), _enum(FLAG_KINDS, "flag_kind"), False
    )
    _retype(
        "visits",
        "extra_reason",
        _enum(EXTRA_REASONS_0001, "extra_reason"),
        _enum(EXTRA_REASONS, "extra_reason"),
        True,
    )
    caps = sa.table(
        "visit_caps",
        sa.column("enterprise_class", sa.String),
        sa.column("risk_grade", sa.String),
        sa.column("max_per_year", sa.Integer),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    seeded = datetime(2026, 1, 1, tzinfo=UTC)
    op.bulk_insert(
        caps,
        [
            {"enterprise_class": c, "risk_grade": g, "max_per_year": n, "updated_at": seeded}
            for c, g, n in DEFAULT_CAPS
        ],
    )


def downgrade() -> None:
    # Rows using the new values cannot go back to 0001's vocabulary; refuse rather than lose.
    bind = op.get_bind()
    new_kinds = [k for k in FLAG_KINDS if k not in FLAG_KINDS_0001]
    used = bind.execute(
        sa.text("SELECT count(*) FROM flags WHERE kind IN :kinds").bindparams(
            sa.bindparam("kinds", expanding=True)
        ),
        {"kinds": new_kinds},
    ).scalar_one()
    licensing = bind.execute(
        sa.text("SELECT count(*) FROM visits WHERE extra_reason = 'licensing_check'")
    ).scalar_one()
    if used or licensing:
        raise RuntimeError(
            f"Cannot downgrade below 0002: {used} flag(s) and {licensing} visit(s) use values "
            "that 0001 does not know. Records are evidence and are not deleted to downgrade."
        )
    _retype(
        "visits",
        "extra_reason",
        _enum(EXTRA_REASONS, "extra_reason"),
        _enum(EXTRA_REASONS_0001, "extra_reason"),
        True,
    )
    _retype(
        "flags", "kind", _enum(FLAG_KINDS, "flag_kind"), _enum(FLAG_KINDS_0001, "flag_kind"), False
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_visits_recheck_of_visit_id_visits"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_visits_recheck_of_visit_id"))
        batch_op.drop_column("recheck_of_visit_id")

    with op.batch_alter_table("visit_items", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_visit_items_agency_id_agencies"), type_="foreignkey"
        )
        batch_op.drop_column("agency_id")

    with op.batch_alter_table("visit_inspectors", schema=None) as batch_op:
        batch_op.drop_column("added_at")

    with op.batch_alter_table("inspection_items", schema=None) as batch_op:
        batch_op.drop_column("field")

    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_flags_plan_entry_id_plan_entries"), type_="foreignkey"
        )
        batch_op.drop_column("plan_entry_id")

    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_column("fields")

    with op.batch_alter_table("rectifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rectifications_recheck_visit_id"))
        batch_op.drop_index(batch_op.f("ix_rectifications_item_finding_id"))

    op.drop_table("rectifications")
    with op.batch_alter_table("finding_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_finding_photos_item_finding_id"))

    op.drop_table("finding_photos")
    with op.batch_alter_table("notice_acknowledgements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_acknowledgements_inspection_id"))

    op.drop_table("notice_acknowledgements")
    with op.batch_alter_table("item_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_item_findings_item_id"))
        batch_op.drop_index(batch_op.f("ix_item_findings_inspection_id"))

    op.drop_table("item_findings")
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspections_visit_id"))
        batch_op.drop_index(batch_op.f("ix_inspections_recorded_at"))

    op.drop_table("inspections")
    op.drop_table("visit_caps")
    with op.batch_alter_table("import_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_import_batches_sha256"))

    op.drop_table("import_batches")
    # ### end Alembic commands ###
