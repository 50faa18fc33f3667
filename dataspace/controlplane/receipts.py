"""Receipts: the subscriber's signed word that it landed its delivery, verified.

A receipt is signed by the subscriber over :func:`receipt_payload` (RFC 8785 JSON of the
delivery id, SHA-256, rows and landing time). It must name the delivery's SHA-256 and row
count (else :class:`~dataspace.controlplane.deliveries.OtherContent`, also after the first
receipt), marks the delivery ``landed``, and writes one ledger entry (``delivery.received``,
sharing the delivery id as subject with the provider's entry) and one DeliveryReceipt event
in the same transaction. A second, same receipt is a no-op. Receipts that arrive together
are committed together (:mod:`dataspace.store.group_commit`); a remote subscriber's signed
request travels with its receipt into whichever thread commits it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.canonical import canonical_json, utc_iso
from dataspace.controlplane.acting import ActInHand, act_of, carrying
from dataspace.controlplane.deliveries import OtherContent, own_delivery, view_of
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import party_signing_key
from dataspace.controlplane.read_models import DeliveryView
from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.keys import b64url_encode, verify
from dataspace.identity.keystore import KeyStore
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.group_commit import group_commit
from dataspace.store.models import AgreementRow, DeliveryRow, ParticipantRow, ReleaseRow
from dataspace.store.types import utcnow

RECEIPT_ACTION = "delivery.received"
SHA256_HEX = re.compile(r"[0-9a-f]{64}", re.ASCII)


def receipt_payload(delivery_id: str, sha256: str, rows: int, landed_at: datetime) -> bytes:
    """What the subscriber signs: RFC 8785 JSON of the delivery id, SHA-256, rows, landing time."""
    return canonical_json(
        {"deliveryId": delivery_id, "sha256": sha256, "rows": rows, "landedAt": utc_iso(landed_at)}
    )


def receipt(
    db: Database,
    keys: KeyStore,
    *,
    subscriber: str,
    delivery_id: str,
    sha256: str,
    rows: int,
    landed_at: datetime,
    signature: bytes | None = None,
    now: datetime | None = None,
) -> DeliveryView:
    """Record that the subscriber landed its delivery, verified; signed with its key.

    ``signature`` is the subscriber's over :func:`receipt_payload`; without it the node signs
    with the subscriber's key from its key store. Receipts arriving together are committed
    together (:mod:`dataspace.store.group_commit`): this returns once this one is durable.
    """
    given = _Receipt(
        keys, subscriber, delivery_id, sha256, rows, landed_at, signature, now or utcnow(),
        act_of(subscriber),  # another thread may commit it: the act goes with the receipt
    )  # fmt: skip
    return group_commit(db, _record_one).run(given)


@dataclass(frozen=True)
class _Receipt:
    keys: KeyStore
    subscriber: str
    delivery_id: str
    sha256: str
    rows: int
    landed_at: datetime
    signature: bytes | None
    now: datetime
    in_hand: ActInHand | None  # the subscriber's signed request, when it sent one


def _record_one(session: Session, given: _Receipt) -> DeliveryView:
    with carrying(given.in_hand):
        return _record_in_hand(session, given)


def _record_in_hand(session: Session, given: _Receipt) -> DeliveryView:
    delivery = own_delivery(session, given.subscriber, given.delivery_id, for_update=True)
    _held = session.execute(  # one SELECT for what _view and the signer check get (kept)
        select(ReleaseRow, AgreementRow, ParticipantRow)
        .select_from(DeliveryRow)
        .join(ReleaseRow, ReleaseRow.id == DeliveryRow.release_id)
        .join(AgreementRow, AgreementRow.id == DeliveryRow.agreement_id)
        .join(ParticipantRow, ParticipantRow.id == DeliveryRow.subscriber_id)
        .where(DeliveryRow.id == delivery.id)
    ).first()
    _require_same_content(delivery, given.sha256, given.rows)  # a second receipt too
    if delivery.state == "landed":
        return view_of(session, delivery)
    signer = repository.get_participant(session, given.subscriber)
    payload = receipt_payload(given.delivery_id, given.sha256, given.rows, given.landed_at)
    signature = given.signature
    if signature is None:
        signature = given.keys.signing_key(signer.id, signer.public_key).sign(payload)
    _check_receipt_signature(signer, signature, payload)
    delivery.state, delivery.landed_at = "landed", given.landed_at
    delivery.receipt_signature = b64url_encode(signature)
    view = view_of(session, delivery)
    _record_receipt(session, given.keys, view, delivery.receipt_signature, given.now)
    return view


def _require_same_content(delivery: DeliveryRow, sha256: str, rows: int) -> None:
    if not isinstance(sha256, str) or SHA256_HEX.fullmatch(sha256) is None:
        raise InvalidInput(f"The receipt's SHA-256 {sha256!r} is not 64 lowercase hex digits.")
    if sha256 != delivery.sha256 or rows != delivery.row_count:
        raise OtherContent(
            f"The receipt for {delivery.id!r} names SHA-256 {sha256} and {rows} rows, but the "
            f"delivery is {delivery.sha256} with {delivery.row_count} rows; land it again."
        )


def _check_receipt_signature(signer: ParticipantRow, signature: bytes, payload: bytes) -> None:
    try:
        verify(signer.public_key, signature, payload)
    except Unauthorized as exc:
        raise Unauthorized(
            f"The receipt signature does not verify against the key registered for "
            f"{signer.id!r}; sign receipt_payload(...) with the subscriber's own key."
        ) from exc


def _record_receipt(
    session: Session, keys: KeyStore, view: DeliveryView, signature: str, now: datetime
) -> None:
    # The subscriber's own key seals on a node that holds it; on the hub its signed request
    # (the act in hand) is kept in the entry and the hub seals (dataspace.controlplane.acting).
    key = party_signing_key(session, keys, view.subscriber)
    facts = {
        "deliveryId": view.delivery_id,
        "sha256": view.sha256,
        "rows": view.rows,
        "landedAt": utc_iso(view.landed_at or now),
        "receiptSignature": signature,
    }
    subjects = (view.delivery_id, view.agreement_id, view.product_id, view.subscriber)
    change = Change(
        view.subscriber,
        RECEIPT_ACTION,
        subjects,
        facts,
        event="DeliveryReceipt",
        event_body=_receipt_body(view, now),
        event_coordinates=(view.delivery_id,),
    )
    record(session, key, change, now)


def _receipt_body(view: DeliveryView, now: datetime) -> Mapping[str, Any]:
    return {
        "delivery_id": view.delivery_id,
        "subscriber_id": view.subscriber,
        "sha256": view.sha256,
        "row_count": view.rows,
        "landed_at": view.landed_at or now,
        "product_id": view.product_id,
        "version": view.version,
    }
