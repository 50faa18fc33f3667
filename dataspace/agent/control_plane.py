"""What the subscriber agent asks of the control plane, and the in-process implementation.

The agent needs four things: the public key of an event's signer, a download grant, a
receipt, and the deliveries still due. :class:`ControlPlane` names them; the agent depends
on nothing else. :class:`LocalControlPlane` serves them from this node's database (every
participant is run from one node, ADR 0006); a subscriber on a node of its own would use an
HTTP client with the same four methods, and would sign tokens and receipts the same way:
with its own key, never handing it over.

Failures: a refusal is a :class:`~dataspace.errors.DataspaceError` other than
ServiceError (Unauthorized, Conflict, NotFound); an unreachable control plane is a
:class:`~dataspace.errors.ServiceError` (StoreBusy included), which the agent retries.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from dataspace.adapters.s3 import Presign
from dataspace.controlplane import deliveries, receipts
from dataspace.controlplane.read_models import DeliveryView, Grant
from dataspace.identity import tokens
from dataspace.identity.keys import SigningKey
from dataspace.identity.keystore import KeyStore
from dataspace.store import repository
from dataspace.store.db import Database


class ControlPlane(Protocol):
    """The control plane as one subscriber sees it. Implementations are thread-safe."""

    subscriber: str

    def public_key_of(self, participant: str) -> str:
        """The registered public key; NotFound for an unknown participant."""
        ...

    def grant(self, delivery_id: str) -> Grant: ...

    def receipt(self, delivery_id: str, sha256: str, rows: int, landed_at: datetime) -> None: ...

    def due(self) -> list[DeliveryView]: ...


class LocalControlPlane:
    """:class:`ControlPlane` served in-process from this node's database and key store.

    The subscriber's key signs every token and receipt here, as a remote subscriber would
    sign its own; the services check them exactly as they check a remote party's.
    """

    def __init__(
        self,
        db: Database,
        keys: KeyStore,
        presign: Presign,
        subscriber: str,
        *,
        grant_lifetime: timedelta = deliveries.DEFAULT_GRANT_LIFETIME,
    ) -> None:
        self.subscriber = subscriber
        self._db, self._keys, self._presign = db, keys, presign
        self._lifetime = grant_lifetime
        self._key = self._subscriber_key()

    def _subscriber_key(self) -> SigningKey:
        with self._db.transaction(read_only=True) as session:
            row = repository.get_participant(session, self.subscriber)
        return self._keys.signing_key(row.id, row.public_key)

    def public_key_of(self, participant: str) -> str:
        # A read: it must not queue behind receipts for the node's one writer turn.
        with self._db.transaction(read_only=True) as session:
            return repository.get_participant(session, participant).public_key

    def grant(self, delivery_id: str) -> Grant:
        return deliveries.grant(
            self._db,
            self._keys,
            self._presign,
            subscriber=self.subscriber,
            delivery_id=delivery_id,
            token=tokens.mint(self.subscriber, self._key),
            lifetime=self._lifetime,
        )

    def receipt(self, delivery_id: str, sha256: str, rows: int, landed_at: datetime) -> None:
        payload = receipts.receipt_payload(delivery_id, sha256, rows, landed_at)
        receipts.receipt(
            self._db,
            self._keys,
            subscriber=self.subscriber,
            delivery_id=delivery_id,
            sha256=sha256,
            rows=rows,
            landed_at=landed_at,
            signature=self._key.sign(payload),
        )

    def due(self) -> list[DeliveryView]:
        return deliveries.due_deliveries(self._db, subscriber=self.subscriber)
