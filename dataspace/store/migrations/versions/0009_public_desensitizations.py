"""Public-data desensitizations: the report of each one and the file it authorizes.

- ``public_desensitizations``: one row per desensitization made by the authorized-operation
  path (``public_releases.record_desensitization``); a release of a public-data product
  names one, and ``release_version`` records which release used it (once per product).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "public_desensitizations"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("authority", sa.String(length=64), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("desensitized_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("release_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authority"], ["participants.id"], name=op.f(f"fk_{TABLE}_authority_participants")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f(f"fk_{TABLE}_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint(
            "product_id", "release_version", name=op.f(f"uq_{TABLE}_product_id_release_version")
        ),
    )
    op.create_index(op.f(f"ix_{TABLE}_application_id"), TABLE, ["application_id"])
    op.create_index(op.f(f"ix_{TABLE}_product_id"), TABLE, ["product_id"])


def downgrade() -> None:
    op.drop_index(op.f(f"ix_{TABLE}_product_id"), table_name=TABLE)
    op.drop_index(op.f(f"ix_{TABLE}_application_id"), table_name=TABLE)
    op.drop_table(TABLE)
