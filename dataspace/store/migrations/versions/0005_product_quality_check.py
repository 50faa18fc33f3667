"""When a product's quality was last checked, and where that check's report is.

``products.cadence`` and ``products.quality_score`` exist since 0001; the scheduled quality
check (dataspace.operations.quality) also records the time of the check and the object key of
its human-readable report, so ``product show`` can point at it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("products") as table:
        table.add_column(sa.Column("quality_checked_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("quality_report_key", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("products") as table:
        table.drop_column("quality_report_key")
        table.drop_column("quality_checked_at")
