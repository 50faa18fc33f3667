"""Initial control-plane schema: participants, catalog, contracts, ledger and outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_ids", sa.JSON(), nullable=False),
        sa.Column("payload_hash", sa.String(length=128), nullable=False),
        sa.Column("prev_hash", sa.String(length=128), nullable=True),
        sa.Column("entry_hash", sa.String(length=128), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_ledger_entries_sequence_positive")),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("entry_hash", name=op.f("uq_ledger_entries_entry_hash")),
    )
    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_ledger_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    # The one row that ledger appends lock (see dataspace.store.ledger_store).
    ledger_head = sa.table(
        "ledger_head", sa.column("id", sa.Integer), sa.column("last_sequence", sa.Integer)
    )
    op.bulk_insert(ledger_head, [{"id": 1, "last_sequence": 0}])
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("topic", sa.String(length=249), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        unique=False,
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.create_index(
        "ix_outbox_unsent_key",
        "outbox",
        ["topic", "key", "id"],
        unique=False,
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    )

    op.create_table(
        "participants",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=16), nullable=False),
        sa.Column("industry_chains", sa.JSON(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("membership_credential", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("admitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'admitted', 'suspended')",
            name=op.f("ck_participants_status_allowed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participants")),
        sa.UniqueConstraint("uscc", name=op.f("uq_participants_uscc")),
    )
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=128), nullable=False),
        sa.Column("signer", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["sequence"],
            ["ledger_entries.sequence"],
            name=op.f("fk_ledger_checkpoints_sequence_ledger_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
        sa.UniqueConstraint("sequence", name=op.f("uq_ledger_checkpoints_sequence")),
    )
    op.create_table(
        "products",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("title_zh", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("description_zh", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("schema_name", sa.String(length=200), nullable=False),
        sa.Column("suite_name", sa.String(length=200), nullable=False),
        sa.Column("grade", sa.String(length=16), nullable=False),
        sa.Column("chain_tags", sa.JSON(), nullable=False),
        sa.Column("cadence", sa.String(length=32), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "grade IN ('general', 'important', 'core')", name=op.f("ck_products_grade_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["participants.id"], name=op.f("fk_products_owner_id_participants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    op.create_index(op.f("ix_products_owner_id"), "products", ["owner_id"], unique=False)

    op.create_table(
        "offers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_offers_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
    )
    op.create_index(op.f("ix_offers_product_id"), "offers", ["product_id"], unique=False)

    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("quality_report_key", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('snapshot', 'append')", name=op.f("ck_releases_mode_allowed")),
        sa.CheckConstraint(
            "status IN ('accepted', 'quarantined')", name=op.f("ck_releases_status_allowed")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_releases_version_positive")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_releases_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
        sa.UniqueConstraint("product_id", "version", name=op.f("uq_releases_product_id_version")),
    )
    op.create_table(
        "negotiations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("offer_id", sa.String(length=64), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('REQUESTED', 'OFFERED', 'ACCEPTED', 'AGREED', 'VERIFIED', "
            "'FINALIZED', 'TERMINATED')",
            name=op.f("ck_negotiations_state_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["consumer_id"],
            ["participants.id"],
            name=op.f("fk_negotiations_consumer_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["offers.id"], name=op.f("fk_negotiations_offer_id_offers")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_negotiations_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["participants.id"],
            name=op.f("fk_negotiations_provider_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_negotiations")),
    )
    op.create_index(
        op.f("ix_negotiations_consumer_id"), "negotiations", ["consumer_id"], unique=False
    )
    op.create_index(
        op.f("ix_negotiations_provider_id"), "negotiations", ["provider_id"], unique=False
    )

    op.create_table(
        "agreements",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("negotiation_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("consumer_id", sa.String(length=64), nullable=False),
        sa.Column("provider_uscc", sa.String(length=18), nullable=False),
        sa.Column("consumer_uscc", sa.String(length=18), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("provider_signature", sa.Text(), nullable=False),
        sa.Column("consumer_signature", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("termination_reason", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("max_deliveries", sa.Integer(), nullable=True),
        sa.Column("deliveries_made", sa.Integer(), nullable=False),
        sa.Column("operator_approved", sa.Boolean(), nullable=False),
        sa.Column("export_approved", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("terminated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('FINALIZED', 'TERMINATED')", name=op.f("ck_agreements_state_allowed")
        ),
        sa.CheckConstraint(
            "deliveries_made >= 0", name=op.f("ck_agreements_deliveries_made_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["consumer_id"],
            ["participants.id"],
            name=op.f("fk_agreements_consumer_id_participants"),
        ),
        sa.ForeignKeyConstraint(
            ["negotiation_id"],
            ["negotiations.id"],
            name=op.f("fk_agreements_negotiation_id_negotiations"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_agreements_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["participants.id"],
            name=op.f("fk_agreements_provider_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreements")),
        sa.UniqueConstraint("negotiation_id", name=op.f("uq_agreements_negotiation_id")),
    )
    op.create_index(op.f("ix_agreements_consumer_id"), "agreements", ["consumer_id"], unique=False)
    op.create_index(op.f("ix_agreements_product_id"), "agreements", ["product_id"], unique=False)
    op.create_index(op.f("ix_agreements_provider_id"), "agreements", ["provider_id"], unique=False)

    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(length=160), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("byte_size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("receipt_signature", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("landed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('announced', 'landed')", name=op.f("ck_deliveries_state_allowed")
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["agreements.id"], name=op.f("fk_deliveries_agreement_id_agreements")
        ),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name=op.f("fk_deliveries_release_id_releases")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["participants.id"],
            name=op.f("fk_deliveries_subscriber_id_participants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "agreement_id", "release_id", name=op.f("uq_deliveries_agreement_id_release_id")
        ),
    )
    op.create_index(op.f("ix_deliveries_release_id"), "deliveries", ["release_id"], unique=False)
    op.create_index(
        op.f("ix_deliveries_subscriber_id"), "deliveries", ["subscriber_id"], unique=False
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children go before the tables they refer to.
    op.drop_table("deliveries")
    op.drop_table("agreements")
    op.drop_table("negotiations")
    op.drop_table("releases")
    op.drop_table("offers")
    op.drop_table("products")
    op.drop_table("ledger_checkpoints")
    op.drop_table("participants")
    op.drop_table("outbox")
    op.drop_table("ledger_head")
    op.drop_table("ledger_entries")
