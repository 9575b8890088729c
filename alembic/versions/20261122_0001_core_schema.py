"""Core schema: agencies, inspectors, enterprises, items, plans, visits, scans, flags, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:25:44.183492
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "province",
                "city",
                "county",
                "town",
                name="agency_level",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["agencies.id"], name=op.f("fk_agencies_parent_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agencies")),
        sa.UniqueConstraint("code", name=op.f("uq_agencies_code")),
    )
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agencies_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "inspection_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("max_per_year", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_items")),
        sa.UniqueConstraint("code", name=op.f("uq_inspection_items_code")),
    )
    op.create_table(
        "enterprises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("industry", sa.String(length=100), nullable=False),
        sa.Column(
            "enterprise_class",
            sa.Enum(
                "hazchem_metallurgy",
                "other",
                "coal_mine",
                name="enterprise_class",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("risk_grade", sa.String(length=16), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_enterprises_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint("uscc", name=op.f("uq_enterprises_uscc")),
    )
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_enterprises_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_enterprises_name"), ["name"], unique=False)

    op.create_table(
        "inspectors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("photo_type", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_inspectors_agency_id_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspectors")),
    )
    with op.batch_alter_table("inspectors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspectors_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("inspector_id", sa.Integer(), nullable=False),
        sa.Column("issuing_agency_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "valid",
                "suspended",
                "revoked",
                name="credential_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["inspectors.id"], name=op.f("fk_credentials_inspector_id_inspectors")
        ),
        sa.ForeignKeyConstraint(
            ["issuing_agency_id"],
            ["agencies.id"],
            name=op.f("fk_credentials_issuing_agency_id_agencies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("number", name=op.f("uq_credentials_number")),
    )
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_credentials_inspector_id"), ["inspector_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "inspector",
                "manager",
                "supervisor",
                "admin",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("inspector_id", sa.Integer(), nullable=True),
        sa.Column("agency_id", sa.Integer(), nullable=True),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_users_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_users_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["inspector_id"], ["inspectors.id"], name=op.f("fk_users_inspector_id_inspectors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("inspector_id", name=op.f("uq_users_inspector_id")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_enterprise_id"), ["enterprise_id"], unique=False)

    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_records_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint(
            "user_id", "scope", "key", name=op.f("uq_idempotency_records_user_id_scope_key")
        ),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "annual",
                "monthly",
                name="plan_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("month", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_plans_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_plans_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint(
            "agency_id", "kind", "year", "month", name=op.f("uq_plans_agency_id_kind_year_month")
        ),
    )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plans_agency_id"), ["agency_id"], unique=False)

    op.create_table(
        "unregistered_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("reported_by_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("who", sa.Text(), nullable=False),
        sa.Column("what_they_said", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_unregistered_reports_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["reported_by_id"],
            ["users.id"],
            name=op.f("fk_unregistered_reports_reported_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unregistered_reports")),
    )
    with op.batch_alter_table("unregistered_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_unregistered_reports_enterprise_id"), ["enterprise_id"], unique=False
        )

    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "plan_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("note", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_plan_entries_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_plan_entries_enterprise_id_enterprises"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_entries_plan_id_plans")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_entries")),
    )
    with op.batch_alter_table("plan_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_entries_enterprise_id"), ["enterprise_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_plan_entries_month"), ["month"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_entries_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "plan_entry_items",
        sa.Column("plan_entry_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["inspection_items.id"],
            name=op.f("fk_plan_entry_items_item_id_inspection_items"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_entry_id"],
            ["plan_entries.id"],
            name=op.f("fk_plan_entry_items_plan_entry_id_plan_entries"),
        ),
        sa.PrimaryKeyConstraint("plan_entry_id", "item_id", name=op.f("pk_plan_entry_items")),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("plan_entry_id", sa.Integer(), nullable=True),
        sa.Column(
            "extra_reason",
            sa.Enum(
                "complaint",
                "referral",
                "accident",
                "remote_clue",
                "recheck",
                "enterprise_request",
                "special_campaign",
                name="extra_reason",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("extra_reason_text", sa.Text(), nullable=False),
        sa.Column(
            "approval",
            sa.Enum(
                "not_required",
                "pending",
                "approved",
                "rejected",
                name="approval",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "registered",
                "confirmed",
                "cancelled",
                name="visit_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by_id", sa.Integer(), nullable=False),
        sa.Column("pass_secret", sa.LargeBinary(length=32), nullable=False),
        sa.Column("code_prefix", sa.String(length=8), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_visits_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"], ["users.id"], name=op.f("fk_visits_confirmed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_visits_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["plan_entry_id"],
            ["plan_entries.id"],
            name=op.f("fk_visits_plan_entry_id_plan_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["registered_by_id"], ["users.id"], name=op.f("fk_visits_registered_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
        sa.UniqueConstraint("code_prefix", name=op.f("uq_visits_code_prefix")),
        sa.UniqueConstraint("public_id", name=op.f("uq_visits_public_id")),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visits_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_visits_enterprise_id"), ["enterprise_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_visits_plan_entry_id"), ["plan_entry_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_visits_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_visits_window_end"), ["window_end"], unique=False)
        batch_op.create_index(batch_op.f("ix_visits_window_start"), ["window_start"], unique=False)

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("object_type", sa.String(length=40), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_audit_events_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_audit_events_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_object", ["object_type", "object_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "confirmed",
                "refused",
                name="scan_outcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("presented_as", sa.String(length=8), nullable=False),
        sa.Column("presented_digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_scans_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_scans_user_id_users")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_scans_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scans_enterprise_id"), ["enterprise_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_scanned_at"), ["scanned_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_scans_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "visit_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column(
            "decision",
            sa.Enum(
                "not_required",
                "pending",
                "approved",
                "rejected",
                name="decision",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_visit_decisions_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_visit_decisions_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_decisions")),
    )
    with op.batch_alter_table("visit_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_decisions_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "visit_inspectors",
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("inspector_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspector_id"],
            ["inspectors.id"],
            name=op.f("fk_visit_inspectors_inspector_id_inspectors"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_visit_inspectors_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("visit_id", "inspector_id", name=op.f("pk_visit_inspectors")),
    )
    op.create_table(
        "visit_items",
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["inspection_items.id"],
            name=op.f("fk_visit_items_item_id_inspection_items"),
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["visits.id"], name=op.f("fk_visit_items_visit_id_visits")
        ),
        sa.PrimaryKeyConstraint("visit_id", "item_id", name=op.f("pk_visit_items")),
    )
    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "extra_unapproved",
                "unregistered_report",
                "window_passed_unconfirmed",
                "refused_scan",
                "too_few_valid_credentials",
                "short_notice",
                name="flag_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum(
                "info",
                "warning",
                "serious",
                name="severity",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=80), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("scan_id", sa.Integer(), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_flags_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"], ["enterprises.id"], name=op.f("fk_flags_enterprise_id_enterprises")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["unregistered_reports.id"],
            name=op.f("fk_flags_report_id_unregistered_reports"),
        ),
        sa.ForeignKeyConstraint(["scan_id"], ["scans.id"], name=op.f("fk_flags_scan_id_scans")),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"], name=op.f("fk_flags_visit_id_visits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
        sa.UniqueConstraint("kind", "dedupe_key", name=op.f("uq_flags_kind_dedupe_key")),
    )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.create_index("ix_flags_agency_raised", ["agency_id", "raised_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_raised_at"), ["raised_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_visit_id"), ["visit_id"], unique=False)

    op.create_table(
        "flag_resolutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("resolved_by_id", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["flag_id"], ["flags.id"], name=op.f("fk_flag_resolutions_flag_id_flags")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["users.id"], name=op.f("fk_flag_resolutions_resolved_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flag_resolutions")),
    )
    with op.batch_alter_table("flag_resolutions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flag_resolutions_flag_id"), ["flag_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flag_resolutions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flag_resolutions_flag_id"))

    op.drop_table("flag_resolutions")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flags_visit_id"))
        batch_op.drop_index(batch_op.f("ix_flags_raised_at"))
        batch_op.drop_index(batch_op.f("ix_flags_kind"))
        batch_op.drop_index("ix_flags_agency_raised")

    op.drop_table("flags")
    op.drop_table("visit_items")
    op.drop_table("visit_inspectors")
    with op.batch_alter_table("visit_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_decisions_visit_id"))

    op.drop_table("visit_decisions")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scans_visit_id"))
        batch_op.drop_index(batch_op.f("ix_scans_scanned_at"))
        batch_op.drop_index(batch_op.f("ix_scans_enterprise_id"))

    op.drop_table("scans")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_visit_id"))
        batch_op.drop_index("ix_audit_events_object")

    op.drop_table("audit_events")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visits_window_start"))
        batch_op.drop_index(batch_op.f("ix_visits_window_end"))
        batch_op.drop_index(batch_op.f("ix_visits_status"))
        batch_op.drop_index(batch_op.f("ix_visits_plan_entry_id"))
        batch_op.drop_index(batch_op.f("ix_visits_enterprise_id"))
        batch_op.drop_index(batch_op.f("ix_visits_agency_id"))

    op.drop_table("visits")
    op.drop_table("plan_entry_items")
    with op.batch_alter_table("plan_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_entries_plan_id"))
        batch_op.drop_index(batch_op.f("ix_plan_entries_month"))
        batch_op.drop_index(batch_op.f("ix_plan_entries_enterprise_id"))

    op.drop_table("plan_entries")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))

    op.drop_table("user_sessions")
    with op.batch_alter_table("unregistered_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unregistered_reports_enterprise_id"))

    op.drop_table("unregistered_reports")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plans_agency_id"))

    op.drop_table("plans")
    op.drop_table("idempotency_records")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_enterprise_id"))

    op.drop_table("users")
    with op.batch_alter_table("credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credentials_inspector_id"))

    op.drop_table("credentials")
    with op.batch_alter_table("inspectors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspectors_agency_id"))

    op.drop_table("inspectors")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enterprises_name"))
        batch_op.drop_index(batch_op.f("ix_enterprises_agency_id"))

    op.drop_table("enterprises")
    op.drop_table("inspection_items")
    with op.batch_alter_table("agencies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agencies_parent_id"))

    op.drop_table("agencies")
