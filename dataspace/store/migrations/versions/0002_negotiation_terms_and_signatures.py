"""Negotiation terms, approvals and staged signatures; the purpose of an agreement;
auto-accept chains of a product.

A negotiation now carries what it is about (purpose, requested validity and delivery count),
the operator's approvals, and the agreement document with each party's signature while it
travels AGREED -> VERIFIED -> FINALIZED, so that a remote party's signature can arrive in a
request of its own.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("negotiations") as table:
        table.add_column(sa.Column("purpose", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("max_deliveries", sa.Integer(), nullable=True))
        table.add_column(
            sa.Column("operator_approved", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(
            sa.Column("export_approved", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column("document", sa.JSON(none_as_null=True), nullable=True))
        table.add_column(sa.Column("provider_signature", sa.Text(), nullable=True))
        table.add_column(sa.Column("consumer_signature", sa.Text(), nullable=True))
    with op.batch_alter_table("agreements") as table:
        table.add_column(sa.Column("purpose", sa.String(length=64), nullable=True))
    with op.batch_alter_table("products") as table:
        table.add_column(
            sa.Column(
                "auto_accept_chains", sa.JSON(), nullable=False, server_default=sa.text("'[]'")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("products") as table:
        table.drop_column("auto_accept_chains")
    with op.batch_alter_table("agreements") as table:
        table.drop_column("purpose")
    with op.batch_alter_table("negotiations") as table:
        for column in (
            "consumer_signature",
            "provider_signature",
            "document",
            "export_approved",
            "operator_approved",
            "max_deliveries",
            "valid_until",
            "purpose",
        ):
            table.drop_column(column)
