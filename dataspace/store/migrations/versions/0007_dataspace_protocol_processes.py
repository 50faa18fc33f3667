"""A connector's Dataspace Protocol processes: its side of each negotiation and transfer.

- ``dsp_negotiations``: one row per contract negotiation this connector takes part in over
  the protocol, as provider or consumer, with the message it still owes the other side;
- ``dsp_transfers``: the same for transfer processes, with the data address a consumer
  received and (provider side) the hash of a pull transfer's short-lived token.

The hub's database gets the tables too (one schema for every node); they stay empty there.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

NEGOTIATION_STATES = (
    "'REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED', 'VERIFIED', 'FINALIZED', 'TERMINATED'"
)
TRANSFER_STATES = "'REQUESTED', 'STARTED', 'SUSPENDED', 'COMPLETED', 'TERMINATED'"


def _process_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("pid", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("peer", sa.String(length=64), nullable=False),
        sa.Column("peer_pid", sa.String(length=128), nullable=True),
        sa.Column("peer_address", sa.String(length=1024), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
    ]


def _bookkeeping_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("outbox", sa.JSON(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=True),
    ]


def _times() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _constraints(table: str, states: str) -> list[sa.Constraint]:
    return [
        sa.CheckConstraint(
            "role IN ('provider', 'consumer')", name=op.f(f"ck_{table}_role_allowed")
        ),
        sa.CheckConstraint(f"state IN ({states})", name=op.f(f"ck_{table}_state_allowed")),
        sa.PrimaryKeyConstraint("pid", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint(
            "role", "peer", "peer_pid", name=op.f(f"uq_{table}_role_peer_peer_pid")
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "dsp_negotiations",
        *_process_columns(),
        sa.Column("agreement_id", sa.String(length=64), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("offer", sa.JSON(), nullable=False),
        sa.Column("agreement", sa.JSON(), nullable=True),
        *_bookkeeping_columns(),
        *_times(),
        *_constraints("dsp_negotiations", NEGOTIATION_STATES),
    )
    op.create_index(op.f("ix_dsp_negotiations_agreement_id"), "dsp_negotiations", ["agreement_id"])
    op.create_table(
        "dsp_transfers",
        *_process_columns(),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("data_address", sa.JSON(), nullable=True),
        sa.Column("token_hash", sa.String(length=128), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        *_bookkeeping_columns(),
        sa.Column("landed", sa.JSON(), nullable=False),
        *_times(),
        *_constraints("dsp_transfers", TRANSFER_STATES),
    )
    op.create_index(op.f("ix_dsp_transfers_agreement_id"), "dsp_transfers", ["agreement_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_dsp_transfers_agreement_id"), table_name="dsp_transfers")
    op.drop_table("dsp_transfers")
    op.drop_index(op.f("ix_dsp_negotiations_agreement_id"), table_name="dsp_negotiations")
    op.drop_table("dsp_negotiations")
