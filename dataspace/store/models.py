"""The control-plane tables, as typed SQLAlchemy 2 models.

Rows are storage, not domain objects: the domain packages (identity, policy, contracts, ledger)
build and check their own values and hand the store plain columns. Every class is named
``...Row`` so that it is never mistaken for the domain type of the same name.

Allowed states are closed sets kept in CHECK constraints, so a wrong value is refused by the
database even when written by a tool that bypasses this package. Every constraint has a
deterministic name (see ``NAMING_CONVENTION``): migrations can refer to it, and a violated
unique constraint can be turned into a sentence naming the columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dataspace.store.types import UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PARTICIPANT_STATUSES = ("pending", "admitted", "suspended")
GRADES = ("general", "important", "core")
RELEASE_MODES = ("snapshot", "append")
RELEASE_STATUSES = ("accepted", "quarantined")
NEGOTIATION_STATES = (
    "REQUESTED",
    "OFFERED",
    "ACCEPTED",
    "AGREED",
    "VERIFIED",
    "FINALIZED",
    "TERMINATED",
)
AGREEMENT_STATES = ("FINALIZED", "TERMINATED")
DELIVERY_STATES = ("announced", "landed")

ID = String(64)  # validated slugs are at most 64 characters (dataspace.ids)
USCC = String(18)
HASH = String(128)  # room for "sha256:" + 64 hex digits, or a longer digest later
OBJECT_KEY = String(1024)


def one_of(column: str, allowed: tuple[str, ...]) -> CheckConstraint:
    """A CHECK constraint that keeps ``column`` inside a closed set of values."""
    values = ", ".join(f"'{value}'" for value in allowed)
    return CheckConstraint(f"{column} IN ({values})", name=f"{column}_allowed")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ParticipantRow(Base):
    __tablename__ = "participants"
    __table_args__ = (one_of("status", PARTICIPANT_STATUSES),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(USCC, unique=True)
    roles: Mapped[list[str]] = mapped_column(JSON)
    region: Mapped[str] = mapped_column(String(16))
    industry_chains: Mapped[list[str]] = mapped_column(JSON)
    public_key: Mapped[str] = mapped_column(Text)  # Ed25519, base64url
    status: Mapped[str] = mapped_column(String(16), default="pending")
    membership_credential: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    admitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who holds the private key: "connector" (the participant's own), "hosted:<who>" (a
    # hosting service runs its connector) or "node" (single-process development mode).
    custody: Mapped[str] = mapped_column(String(200), default="node", server_default="node")
    endpoint: Mapped[str | None] = mapped_column(String(1024))  # its connector's base URL


class ProductRow(Base):
    __tablename__ = "products"
    __table_args__ = (one_of("grade", GRADES),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    description_zh: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    schema_name: Mapped[str] = mapped_column(String(200))
    suite_name: Mapped[str] = mapped_column(String(200))
    grade: Mapped[str] = mapped_column(String(16))
    chain_tags: Mapped[list[str]] = mapped_column(JSON)
    cadence: Mapped[str] = mapped_column(String(32))
    # The latest scheduled quality check (dataspace.operations.quality): 0-100, when, report.
    quality_score: Mapped[float | None] = mapped_column(Float)
    quality_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    quality_report_key: Mapped[str | None] = mapped_column(OBJECT_KEY)
    # The provider agrees at once to requests from admitted members of these chains.
    auto_accept_chains: Mapped[list[str]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OfferRow(Base):
    __tablename__ = "offers"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReleaseRow(Base):
    __tablename__ = "releases"
    __table_args__ = (
        UniqueConstraint("product_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
        one_of("mode", RELEASE_MODES),
        one_of("status", RELEASE_STATUSES),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    version: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    object_key: Mapped[str] = mapped_column(OBJECT_KEY)
    quality_report_key: Mapped[str | None] = mapped_column(OBJECT_KEY)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReleaseReservationRow(Base):
    """The version a publish in progress holds, one per product: a second publish of the
    product is refused at once while it is fresh, and takes over one past ``expires_at``
    (its publisher crashed). Deleted when the release is recorded."""

    __tablename__ = "release_reservations"
    __table_args__ = (CheckConstraint("version >= 1", name="version_positive"),)

    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(64))  # which publish holds it
    reserved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NegotiationRow(Base):
    __tablename__ = "negotiations"
    __table_args__ = (one_of("state", NEGOTIATION_STATES),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    offer_id: Mapped[str] = mapped_column(ForeignKey("offers.id"))
    consumer_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    # [{"state": "REQUESTED", "at": "2026-01-01T00:00:00+00:00"}, ...], oldest first
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(Text)
    purpose: Mapped[str | None] = mapped_column(String(64))
    # The terms the consumer asked for; they become the agreement's.
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_deliveries: Mapped[int | None] = mapped_column(Integer)
    operator_approved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    export_approved: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The agreement document from AGREED on, and each party's signature once given: a
    # remote party's signature can arrive in a request of its own.
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    provider_signature: Mapped[str | None] = mapped_column(Text)
    consumer_signature: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AgreementRow(Base):
    __tablename__ = "agreements"
    __table_args__ = (
        one_of("state", AGREEMENT_STATES),
        CheckConstraint("deliveries_made >= 0", name="deliveries_made_not_negative"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    negotiation_id: Mapped[str] = mapped_column(ForeignKey("negotiations.id"), unique=True)
    # Also reachable through the negotiation; kept here because every delivery fan-out
    # asks "which agreements cover this product?".
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    provider_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    consumer_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    provider_uscc: Mapped[str] = mapped_column(USCC)
    consumer_uscc: Mapped[str] = mapped_column(USCC)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    purpose: Mapped[str | None] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # what both parties signed
    provider_signature: Mapped[str] = mapped_column(Text)
    consumer_signature: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="FINALIZED")
    termination_reason: Mapped[str | None] = mapped_column(Text)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_deliveries: Mapped[int | None] = mapped_column(Integer)
    deliveries_made: Mapped[int] = mapped_column(Integer, default=0)
    operator_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    export_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryRow(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("agreement_id", "release_id"),
        one_of("state", DELIVERY_STATES),
    )

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"))
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id"), index=True)
    subscriber_id: Mapped[str] = mapped_column(ForeignKey("participants.id"), index=True)
    object_key: Mapped[str] = mapped_column(OBJECT_KEY)
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int] = mapped_column(BigInteger)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="announced")
    receipt_signature: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    landed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LedgerEntryRow(Base):
    """One evidence-ledger entry. ``sequence`` is assigned by ``ledger_store.append``."""

    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("sequence >= 1", name="sequence_positive"),)

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(ID)  # no foreign key: evidence outlives its actors
    action: Mapped[str] = mapped_column(String(64))
    subject_ids: Mapped[list[str]] = mapped_column(JSON)
    payload_hash: Mapped[str] = mapped_column(HASH)
    prev_hash: Mapped[str | None] = mapped_column(HASH)  # None only before the first entry
    entry_hash: Mapped[str] = mapped_column(HASH, unique=True)
    signature: Mapped[str] = mapped_column(Text)
    sealer: Mapped[str | None] = mapped_column(ID)  # the hub, when it recorded the actor's act
    attestation: Mapped[str | None] = mapped_column(Text)  # the actor's signed request
    act_body: Mapped[str | None] = mapped_column(Text)  # that request's body


class UsedActRow(Base):
    """An act the hub carried out, kept until it expires so that a replay is refused."""

    __tablename__ = "used_acts"

    token_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    actor: Mapped[str] = mapped_column(ID)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerHeadRow(Base):
    """The single row that ledger appends lock, so that two appends never share a sequence.

    The initial migration inserts it (id 1, last_sequence 0); nothing else inserts one.
    """

    __tablename__ = "ledger_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(Integer)


class LedgerCheckpointRow(Base):
    """The operator's signature over the head hash at ``sequence``."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sequence: Mapped[int] = mapped_column(ForeignKey("ledger_entries.sequence"), unique=True)
    head_hash: Mapped[str] = mapped_column(HASH)
    signer: Mapped[str] = mapped_column(ID)
    signature: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxRow(Base):
    """A message to publish, written in the same transaction as the change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The relay's query: unsent rows in id order, and the per-key "is an earlier one
        # still waiting?" check. Partial, so the index stays as small as the backlog.
        Index(
            "ix_outbox_unsent",
            "id",
            sqlite_where=text("sent_at IS NULL"),
            postgresql_where=text("sent_at IS NULL"),
        ),
        Index(
            "ix_outbox_unsent_key",
            "topic",
            "key",
            "id",
            sqlite_where=text("sent_at IS NULL"),
            postgresql_where=text("sent_at IS NULL"),
        ),
    )

    # BIGINT on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the (64-bit) rowid.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(249))  # Kafka's topic-name limit
    key: Mapped[str] = mapped_column(String(255))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


APPLICATION_STATUSES = ("pending", "approved", "rejected")
INCIDENT_STATUSES = ("open", "resolved")


class ScenarioApplicationRow(Base):
    """An authorized operator's application for one usage scenario of a public-data product."""

    __tablename__ = "scenario_applications"
    __table_args__ = (
        # Named: the convention's name would pass PostgreSQL's 63-character limit.
        UniqueConstraint(
            "applicant_id",
            "product_id",
            "scenario",
            "attempt",
            name="uq_scenario_applications_attempt",
        ),
        one_of("status", APPLICATION_STATUSES),
        one_of("tier", GRADES),
        CheckConstraint("term_end > term_start", name="term_positive"),
        CheckConstraint("attempt >= 1", name="attempt_positive"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    applicant_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    scenario: Mapped[str] = mapped_column(ID)
    # 1, 2, ...: a new attempt after a rejection or an ended term; earlier ones are kept.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    purpose: Mapped[str] = mapped_column(String(64))
    tier: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text)
    term_start: Mapped[datetime] = mapped_column(UTCDateTime)
    term_end: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(ID)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    agreement_id: Mapped[str | None] = mapped_column(ForeignKey("agreements.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IncidentRow(Base):
    """A quality incident opened for a provider, one per quarantined release."""

    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("product_id", "version"),
        one_of("status", INCIDENT_STATUSES),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    version: Mapped[int] = mapped_column(Integer)
    provider_id: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    reason: Mapped[str] = mapped_column(Text)
    failed_checks: Mapped[list[str]] = mapped_column(JSON)
    source_event_id: Mapped[str] = mapped_column(ID)
    notified: Mapped[list[str]] = mapped_column(JSON)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


DSP_ROLES = ("provider", "consumer")
TRANSFER_STATES = ("REQUESTED", "STARTED", "SUSPENDED", "COMPLETED", "TERMINATED")


class DspNegotiationRow(Base):
    """One side of a Dataspace Protocol contract negotiation, kept by a connector.

    ``pid`` is this side's process id (``providerPid`` or ``consumerPid``); ``peer_pid`` the
    other side's. ``peer_address`` is where messages to the other side go: the provider's
    protocol URL, or the consumer's callback address. ``outbox`` is the message this side
    still has to send (``None`` when nothing is owed); a worker sends it until it is
    acknowledged, so a restart loses no step.
    """

    __tablename__ = "dsp_negotiations"
    __table_args__ = (
        one_of("role", DSP_ROLES),
        one_of("state", NEGOTIATION_STATES),
        UniqueConstraint("role", "peer", "peer_pid"),
    )

    pid: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    peer: Mapped[str] = mapped_column(ID)  # the other party's participant id
    peer_pid: Mapped[str | None] = mapped_column(String(128))
    peer_address: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16))
    agreement_id: Mapped[str | None] = mapped_column(ID, index=True)  # the hub's record
    product_id: Mapped[str] = mapped_column(ID)
    offer_id: Mapped[str] = mapped_column(ID)
    offer: Mapped[dict[str, Any]] = mapped_column(JSON)  # the last ODRL offer exchanged
    agreement: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    outbox: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(64))  # why it was terminated
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class DspTransferRow(Base):
    """One side of a Dataspace Protocol transfer process, kept by a connector.

    Columns as in :class:`DspNegotiationRow`; ``data_address`` is what the provider sent in
    its start message (consumer side). On the provider side ``token_hash`` and
    ``token_expires_at`` are the short-lived access token of a pull transfer: only its
    SHA-256 is kept.
    """

    __tablename__ = "dsp_transfers"
    __table_args__ = (
        one_of("role", DSP_ROLES),
        one_of("state", TRANSFER_STATES),
        UniqueConstraint("role", "peer", "peer_pid"),
    )

    pid: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    peer: Mapped[str] = mapped_column(ID)
    peer_pid: Mapped[str | None] = mapped_column(String(128))
    peer_address: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16))
    agreement_id: Mapped[str] = mapped_column(ID, index=True)
    format: Mapped[str] = mapped_column(String(64))
    data_address: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    token_hash: Mapped[str | None] = mapped_column(HASH)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outbox: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(64))
    landed: Mapped[list[str]] = mapped_column(JSON, default=list)  # delivery ids (consumer)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PublicDesensitizationRow(Base):
    """A desensitization the authorized-operation path made for a public-data product: the
    report (canonical JSON, whose SHA-256 the ledger holds) and the SHA-256 of the file it
    wrote. ``release_version`` is set by the one release that published that file."""

    __tablename__ = "public_desensitizations"
    __table_args__ = (UniqueConstraint("product_id", "release_version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    application_id: Mapped[str] = mapped_column(ID, index=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    authority: Mapped[str] = mapped_column(ForeignKey("participants.id"))
    report: Mapped[str] = mapped_column(Text)
    report_sha256: Mapped[str] = mapped_column(String(64))
    desensitized_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    release_version: Mapped[int | None] = mapped_column(Integer)
