"""Metering a month from the ledger, and reconciling it against the subscribers' receipts.

A delivery belongs to the month in which its ``delivery.announced`` ledger entry was sealed.
The provider's record of it is the delivery row (SHA-256, rows, bytes) the entry names; the
subscriber's is its ``delivery.received`` entry, sealed up to ``cutoff`` (the month's end
plus the receipt grace), and the signature it made over :func:`receipts.receipt_payload`.
A delivery is **reconciled** when both agree; otherwise it is flagged:

- ``no_receipt``: no receipt was recorded by the cutoff;
- ``receipt_differs``: a receipt was recorded, but what the subscriber signed (or what the
  ledger sealed as its receipt) names another SHA-256, row count or landing than the
  provider's record now holds.

Reads only; the result depends on the month and the records alone, never on the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.canonical import utc_iso
from dataspace.controlplane.receipts import RECEIPT_ACTION, receipt_payload
from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.keys import b64url_decode, verify
from dataspace.ledger.chain import payload_hash
from dataspace.store.db import Database
from dataspace.store.models import (
    AgreementRow,
    DeliveryRow,
    LedgerEntryRow,
    ParticipantRow,
    ProductRow,
    ReleaseRow,
)

ANNOUNCED_ACTION = "delivery.announced"
PUBLIC_DATA_ROLES = frozenset({"public_data_authority", "authorized_operator"})


@dataclass(frozen=True)
class Month:
    """A calendar month in UTC, written ``YYYY-MM``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        try:
            moment = datetime.strptime(text, "%Y-%m")
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"The month {text!r} is not valid; write it as YYYY-MM, e.g. 2026-10."
            ) from exc
        return cls(moment.year, moment.month)

    @classmethod
    def before(cls, moment: datetime) -> Month:
        """The month before the one ``moment`` falls in (what a run on the 1st settles)."""
        first = moment.astimezone(UTC).replace(day=1)
        previous = first - timedelta(days=1)
        return cls(previous.year, previous.month)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return (self.start + timedelta(days=32)).replace(day=1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class MeteredDelivery:
    delivery_id: str
    agreement_id: str
    product_id: str
    grade: str
    category: str  # enterprise | public_data
    provider_id: str
    subscriber_id: str
    sha256: str
    rows: int
    bytes: int
    announced_at: datetime
    flag: str | None  # None: reconciled; else no_receipt | receipt_differs
    detail: str


def meter(db: Database, month: Month, cutoff: datetime) -> list[MeteredDelivery]:
    """Every delivery announced in ``month``, reconciled with receipts sealed before ``cutoff``."""
    with db.transaction() as session:
        announced = dict(_entries(session, ANNOUNCED_ACTION, month.start, month.end))
        receipts = dict(_entries(session, RECEIPT_ACTION, month.start, cutoff))
        keys = session.execute(select(ParticipantRow.id, ParticipantRow.public_key))
        public_keys: dict[str, str] = {pid: key for pid, key in keys}  # noqa: C416 (Row, not tuple)
        rows = session.execute(
            select(DeliveryRow, AgreementRow, ProductRow, ParticipantRow)
            .join(AgreementRow, AgreementRow.id == DeliveryRow.agreement_id)
            .join(ReleaseRow, ReleaseRow.id == DeliveryRow.release_id)
            .join(ProductRow, ProductRow.id == ReleaseRow.product_id)
            .join(ParticipantRow, ParticipantRow.id == ProductRow.owner_id)
            .where(DeliveryRow.id.in_(list(announced)))
        )
        metered = [
            _metered(
                delivery, agreement, product, owner, announced[delivery.id], receipts, public_keys
            )
            for delivery, agreement, product, owner in rows
        ]
    return sorted(metered, key=lambda item: (item.agreement_id, item.delivery_id))


def _entries(
    session: Session, action: str, start: datetime, end: datetime
) -> Iterator[tuple[str, LedgerEntryRow]]:
    """(delivery id, entry) for entries of ``action`` sealed in [start, end); the first wins."""
    query = (
        select(LedgerEntryRow)
        .where(LedgerEntryRow.action == action)
        .where(LedgerEntryRow.time >= start, LedgerEntryRow.time < end)
        .order_by(LedgerEntryRow.sequence.desc())
    )
    for entry in session.scalars(query):
        yield entry.subject_ids[0], entry


def _metered(  # noqa: PLR0917 (one joined row and what it is checked against)
    delivery: DeliveryRow,
    agreement: AgreementRow,
    product: ProductRow,
    owner: ParticipantRow,
    announced: LedgerEntryRow,
    receipts: dict[str, LedgerEntryRow],
    public_keys: dict[str, str],
) -> MeteredDelivery:
    flag, detail = _reconcile(delivery, receipts.get(delivery.id), public_keys)
    return MeteredDelivery(
        delivery_id=delivery.id,
        agreement_id=agreement.id,
        product_id=product.id,
        grade=product.grade,
        category="public_data" if PUBLIC_DATA_ROLES & set(owner.roles) else "enterprise",
        provider_id=agreement.provider_id,
        subscriber_id=delivery.subscriber_id,
        sha256=delivery.sha256,
        rows=delivery.row_count,
        bytes=delivery.byte_size,
        announced_at=announced.time,
        flag=flag,
        detail=detail,
    )


def _reconcile(
    delivery: DeliveryRow, receipt: LedgerEntryRow | None, public_keys: dict[str, str]
) -> tuple[str | None, str]:
    if receipt is None:
        return "no_receipt", "no receipt was recorded by the cutoff"
    if delivery.receipt_signature is None or delivery.landed_at is None:
        return "receipt_differs", "the ledger holds a receipt the delivery record does not"
    claimed = receipt_payload(delivery.id, delivery.sha256, delivery.row_count, delivery.landed_at)
    try:
        verify(
            public_keys[delivery.subscriber_id], b64url_decode(delivery.receipt_signature), claimed
        )
    except (Unauthorized, InvalidInput, KeyError):
        return "receipt_differs", (
            f"the subscriber's signed receipt is not for SHA-256 {delivery.sha256} and "
            f"{delivery.row_count} rows, as the provider's record says"
        )
    sealed = {
        "deliveryId": delivery.id,
        "sha256": delivery.sha256,
        "rows": delivery.row_count,
        "landedAt": utc_iso(delivery.landed_at),
        "receiptSignature": delivery.receipt_signature,
    }
    if payload_hash(sealed) != receipt.payload_hash:
        return "receipt_differs", "the receipt sealed in the ledger names other content"
    return None, ""
