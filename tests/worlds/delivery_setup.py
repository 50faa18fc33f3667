"""Deliveries set up the way publish makes them, for the subscriber-side tests.

:class:`Provider` does publish's part of the contract, and only that: the release object is
written through the data plane (``write_release``), then one transaction holds the release
row, the ``announced`` delivery row (id ``dlv-<agreement>-v<version>``) and the provider's
ledger entry, the delivery is counted under the agreement, and a DeliveryAnnounced event
signed by the provider is sent to Kafka (or not, to play a broker that lost its log).

The real ``publish`` meets the real agent in ``test_delivery_end_to_end`` and
``test_delivery_faults``. This stand-in stays for what publish does not offer a subscriber
test: an announcement recorded but never sent, forged and misaddressed events signed like
real ones, and a version per call without a quality gate or a relay in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.adapters.kafka_producer import EventProducer
from dataspace.adapters.s3 import arrow_filesystem, ensure_bucket, minio_client
from dataspace.config import Settings
from dataspace.controlplane import agreements, participants, releases
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import party_signing_key
from dataspace.dataplane.layout import StoredObject
from dataspace.dataplane.objects import ObjectStore
from dataspace.dataplane.release import write_release
from dataspace.events.envelope import EncodedEvent, encode
from dataspace.events.registry import event_id_for
from dataspace.identity.keys import SigningKey
from dataspace.store import repository
from dataspace.store.models import DeliveryRow, ReleaseRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.worlds.dataplane_data import orders

PRODUCT = "purchase-orders"
PROVIDER = "xcmg"


@dataclass(frozen=True)
class Delivered:
    delivery_id: str
    agreement_id: str
    subscriber: str
    version: int
    stored: StoredObject
    table: pa.Table
    event: EncodedEvent


def release_store(settings: Settings, bucket: str) -> ObjectStore:
    ensure_bucket(minio_client(settings.s3()), bucket)
    return ObjectStore(arrow_filesystem(settings.s3()), bucket)


class Provider:
    """The chain leader ``xcmg`` publishing ``purchase-orders`` in one bucket of its own."""

    def __init__(self, space: Space, store: ObjectStore, settings: Settings | None) -> None:
        self.space, self.store, self.settings = space, store, settings

    def agreement(self, subscriber: str, **terms: Any) -> str:
        """A finalized agreement between ``xcmg`` and ``subscriber`` (admitted first if new)."""
        known = {p.participant_id for p in participants.list_participants(self.space.db)}
        if subscriber not in known:
            self.space.member(subscriber)
        return self.space.agree(subscriber, PRODUCT, provider=PROVIDER, **terms)

    def publish(
        self, agreement_id: str, version: int, *, rows: int = 500, send: bool = True
    ) -> Delivered:
        table = orders(rows, offset=version * 1000)
        stored = write_release(self.store, PRODUCT, version, table.schema, table.to_batches())
        delivery_id = releases.delivery_id(agreement_id, version)
        subscriber = self._record(agreement_id, version, delivery_id, stored)
        agreements.record_delivery(self.space.db, self.space.keys, agreement_id)
        event = self.announcement(delivery_id, agreement_id, subscriber, version, stored)
        if send:
            self.send(event)
        return Delivered(delivery_id, agreement_id, subscriber, version, stored, table, event)

    def announcement(
        self,
        delivery_id: str,
        agreement_id: str,
        subscriber: str,
        version: int,
        stored: StoredObject,
        *,
        key: SigningKey | None = None,
    ) -> EncodedEvent:
        """The signed DeliveryAnnounced (by ``key`` instead of xcmg's, to forge one)."""
        body = {
            "event_id": event_id_for("DeliveryAnnounced", delivery_id),
            "occurred_at": utcnow(),
            "actor": PROVIDER,
            "delivery_id": delivery_id,
            "agreement_id": agreement_id,
            "product_id": PRODUCT,
            "version": version,
            "provider_id": PROVIDER,
            "subscriber_id": subscriber,
            "mode": "snapshot",
            "sha256": stored.sha256,
            "row_count": stored.rows,
            "byte_size": stored.bytes,
        }
        if key is None:
            with self.space.db.transaction() as session:
                key = party_signing_key(session, self.space.keys, PROVIDER)
        return encode("DeliveryAnnounced", body, key)

    def send(self, *events: EncodedEvent) -> None:
        assert self.settings is not None, "this provider has no broker"
        with EventProducer(self.settings) as producer:
            producer.send_many(events)

    def tamper(self, delivered: Delivered) -> None:
        """Someone with write access swaps the object for another valid Parquet file."""
        other = orders(delivered.table.num_rows, offset=delivered.version * 1000 + 1)
        path = self.store.path(delivered.stored.key)
        with self.store.filesystem.open_output_stream(path) as out:
            pq.write_table(other, out)

    def _record(
        self, agreement_id: str, version: int, delivery_id: str, stored: StoredObject
    ) -> str:
        now = utcnow()
        with self.space.db.transaction() as session:
            agreement = repository.get_agreement(session, agreement_id)
            release = _release_row(session, version, stored)
            session.add(
                DeliveryRow(
                    id=delivery_id,
                    agreement_id=agreement_id,
                    release_id=release.id,
                    subscriber_id=agreement.consumer_id,
                    object_key=stored.key,
                    sha256=stored.sha256,
                    row_count=stored.rows,
                    byte_size=stored.bytes,
                    state="announced",
                    created_at=now,
                )
            )
            facts = {"deliveryId": delivery_id, "sha256": stored.sha256, "rows": stored.rows}
            subjects = (delivery_id, agreement_id, PRODUCT, agreement.consumer_id)
            change = Change(PROVIDER, "delivery.announced", subjects, facts)
            record(session, party_signing_key(session, self.space.keys, PROVIDER), change, now)
            return agreement.consumer_id


def _release_row(session: Session, version: int, stored: StoredObject) -> ReleaseRow:
    query = select(ReleaseRow).where(
        ReleaseRow.product_id == PRODUCT, ReleaseRow.version == version
    )
    existing = session.scalars(query).first()
    if existing is not None:
        return existing
    release = ReleaseRow(
        product_id=PRODUCT,
        version=version,
        mode="snapshot",
        status="accepted",
        sha256=stored.sha256,
        row_count=stored.rows,
        byte_size=stored.bytes,
        object_key=stored.key,
    )
    session.add(release)
    session.flush()
    return release
