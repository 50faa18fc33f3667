"""Participants' own connectors: acts recorded by the hub, custody and connector endpoints.

- ``ledger_entries.sealer``, ``attestation`` and ``act_body``: when the hub records a
  participant's act, it seals the entry and keeps the participant's signed request with it
  (dataspace.ledger.attestation); all three are NULL for entries sealed by their actor.
- ``used_acts``: the ids of acts the hub has carried out, until they expire, so that a
  request sent twice is refused the second time (a replay).
- ``participants.custody`` (who holds the participant's key: its own connector, a hosting
  service, or this node in single-process development mode) and ``participants.endpoint``
  (the base URL of its connector, for grants).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_entries") as table:
        table.add_column(sa.Column("sealer", sa.String(length=64), nullable=True))
        table.add_column(sa.Column("attestation", sa.Text(), nullable=True))
        table.add_column(sa.Column("act_body", sa.Text(), nullable=True))
    with op.batch_alter_table("participants") as table:
        table.add_column(
            sa.Column("custody", sa.String(length=200), nullable=False, server_default="node")
        )
        table.add_column(sa.Column("endpoint", sa.String(length=1024), nullable=True))
    op.create_table(
        "used_acts",
        sa.Column("token_id", sa.String(length=128), primary_key=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("used_acts")
    with op.batch_alter_table("participants") as table:
        table.drop_column("endpoint")
        table.drop_column("custody")
    with op.batch_alter_table("ledger_entries") as table:
        table.drop_column("act_body")
        table.drop_column("attestation")
        table.drop_column("sealer")
