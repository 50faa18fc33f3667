"""Scenario applications for public data (公共数据授权运营) and quality incidents.

An authorized operator applies for one usage scenario of a public-data product (purpose,
term, tier); the public-data authority approves it (which concludes the agreement that
licenses the operator) or rejects it. A quality incident is opened for the provider when a
release is quarantined, once per quarantined release.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "scenario_applications",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("applicant_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("term_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("term_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("agreement_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected')",
            name=op.f("ck_scenario_applications_status_allowed"),
        ),
        sa.CheckConstraint(
            "tier IN ('general', 'important', 'core')",
            name=op.f("ck_scenario_applications_tier_allowed"),
        ),
        sa.CheckConstraint(
            "term_end > term_start", name=op.f("ck_scenario_applications_term_positive")
        ),
        sa.ForeignKeyConstraint(
            ["applicant_id"],
            ["participants.id"],
            name=op.f("fk_scenario_applications_applicant_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_scenario_applications_product_id_products"),
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name=op.f("fk_scenario_applications_agreement_id_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario_applications")),
        sa.UniqueConstraint(
            "applicant_id",
            "product_id",
            "scenario",
            name=op.f("uq_scenario_applications_applicant_id_product_id_scenario"),
        ),
        sa.UniqueConstraint("agreement_id", name=op.f("uq_scenario_applications_agreement_id")),
    )
    op.create_index(
        op.f("ix_scenario_applications_product_id"),
        "scenario_applications",
        ["product_id"],
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failed_checks", sa.JSON(), nullable=False),
        sa.Column("source_event_id", sa.String(length=64), nullable=False),
        sa.Column("notified", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'resolved')", name=op.f("ck_incidents_status_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_incidents_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["participants.id"], name=op.f("fk_incidents_provider_id_participants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("product_id", "version", name=op.f("uq_incidents_product_id_version")),
    )


def downgrade() -> None:
    op.drop_table("incidents")
    op.drop_index(op.f("ix_scenario_applications_product_id"), "scenario_applications")
    op.drop_table("scenario_applications")
