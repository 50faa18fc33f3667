"""Scenario applications with a history: ``attempt`` numbers an operator's applications for
one scenario of a product (issue 21).

A rejected operator may apply again, and an operator whose approved term has ended may apply
for a new one; each is a new row with the next attempt number and the earlier rows stay as they
were. Existing rows are attempt 1, whose id keeps its derivation. The unique constraint moves
from (applicant, product, scenario) to (applicant, product, scenario, attempt); its name is
given, because the convention's would pass PostgreSQL's 63-character limit.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

TABLE = "scenario_applications"
OLD_UNIQUE = "uq_scenario_applications_applicant_id_product_id_scenario"
NEW_UNIQUE = "uq_scenario_applications_attempt"


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as table:
        table.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        table.drop_constraint(OLD_UNIQUE, type_="unique")
        table.create_unique_constraint(
            NEW_UNIQUE, ["applicant_id", "product_id", "scenario", "attempt"]
        )
        table.create_check_constraint(
            op.f("ck_scenario_applications_attempt_positive"), "attempt >= 1"
        )


def downgrade() -> None:
    """Keeps only the first attempts: later ones cannot exist under the old constraint."""
    op.execute(sa.text(f"DELETE FROM {TABLE} WHERE attempt > 1"))  # noqa: S608 (constants)
    with op.batch_alter_table(TABLE) as table:
        table.drop_constraint(op.f("ck_scenario_applications_attempt_positive"), type_="check")
        table.drop_constraint(NEW_UNIQUE, type_="unique")
        table.create_unique_constraint(OLD_UNIQUE, ["applicant_id", "product_id", "scenario"])
        table.drop_column("attempt")
