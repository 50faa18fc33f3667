"""A chain leader, three suppliers and their agreements on a product of the test's own, over
the real object store and broker: what the publish tests share."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer
from sqlalchemy import func, select

from dataspace.config import Settings
from dataspace.controlplane import participants
from dataspace.dataplane.objects import ObjectStore
from dataspace.events.envelope import DecodedEvent, EventRejected, decode
from dataspace.identity.keystore import KeyStore
from dataspace.scenario import masked, own_rows_offer
from dataspace.store.db import Database, migrate
from dataspace.store.models import DeliveryRow, OutboxRow, ReleaseRow
from tests.fixtures.controlplane import CHAIN, Space

LEADER = "xcmg"
SUPPLIERS = ("supplier-01", "supplier-02", "supplier-03")


MASK_PRICE = masked("unit_price_cny")
PROJECT = {"action": "project", "columns": ["week", "supplier_id", "part_no", "quantity"]}
MASKED_PRICE = own_rows_offer("urn:policy:masked", MASK_PRICE)
PROJECTED = own_rows_offer("urn:policy:projected", PROJECT)
OWN_ROWS = own_rows_offer("urn:policy:own-rows")


@dataclass
class World:
    space: Space
    settings: Settings
    product: str
    agreements: dict[str, str]

    @property
    def db(self) -> Any:
        return self.space.db

    def agree(self, supplier: str, offer_number: int, **terms: Any) -> str:
        agreement_id = self.space.agree(
            supplier, self.product, provider=LEADER, offer=offer_number, **terms
        )
        self.agreements[supplier] = agreement_id
        return agreement_id

    def count(self, model: type[Any]) -> int:
        with self.db.transaction() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    def footprint(self) -> tuple[int, int, int]:
        return self.count(ReleaseRow), self.count(DeliveryRow), self.count(OutboxRow)

    def public_key_of(self, actor: str) -> str:
        return participants.show_participant(self.db, actor).public_key


def make_world(space: Space, settings: Settings, unique: str) -> World:
    space.member(LEADER, role="chain_leader")
    for supplier in SUPPLIERS:
        space.member(supplier, chains=(CHAIN,))
    product = f"po-{unique}"
    space.product(product, offers=(MASKED_PRICE, PROJECTED, OWN_ROWS))
    isolated = settings.model_copy(update={"release_bucket": f"rel-{unique}"})
    return World(space, isolated, product, {})


def read_object(store: ObjectStore, key: str, sha256: str) -> pa.Table:
    with store.open_input(key) as source:
        data = source.read()
    assert hashlib.sha256(data).hexdigest() == sha256
    return pq.read_table(pa.BufferReader(data))


def list_keys(store: ObjectStore, prefix: str) -> list[str]:
    selector = pa.fs.FileSelector(store.path(prefix), recursive=True, allow_not_found=True)
    infos = store.filesystem.get_file_info(selector)
    return sorted(info.path.split("/", 1)[1] for info in infos if info.is_file)


def consume(
    settings: Settings,
    topic: str | Sequence[str],
    public_key_of: Callable[[str], str],
    wanted: Callable[[DecodedEvent], bool],
    *,
    group: str,
    count: int,
    idle_seconds: float = 5.0,
) -> list[tuple[str, DecodedEvent]]:
    """Every verified event on ``topic`` (or topics) that ``wanted`` picks, with its key.

    The topic is shared by the session's tests: events signed by other tests' keys do not
    verify with ours and are passed over. Reads until ``count`` were found and then
    ``idle_seconds`` more, so a duplicate would be seen too.
    """
    consumer = Consumer(settings.kafka_consumer_config(group))
    topics = [topic] if isinstance(topic, str) else list(topic)
    consumer.subscribe(topics)
    found: list[tuple[str, DecodedEvent]] = []
    try:
        idle = 0.0
        while idle < (idle_seconds if len(found) >= count else 30.0):
            message = consumer.poll(0.5)
            if message is None:
                idle += 0.5
                continue
            assert message.error() is None, message.error()
            idle = 0.0
            try:
                event = decode(
                    message.value(), message.headers(), public_key_of, topic=message.topic()
                )
            except EventRejected:
                continue
            if wanted(event):
                found.append((message.key().decode(), event))
    finally:
        consumer.close()
    if len(found) < count:
        pytest.fail(f"only {len(found)} of {count} events arrived on {', '.join(topics)}")
    return found


def write_input(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


@contextmanager
def operator_node(state: Path) -> Iterator[Space]:
    """A node's state directory as `dataspace` commands find it: a migrated SQLite control
    plane with its operator, and a key store; the database is closed after the block."""
    url = f"sqlite:///{state / 'control-plane.db'}"
    state.mkdir(parents=True)
    migrate(url)
    with Database(url) as db:
        space = Space(db, KeyStore(state / "keys"))
        space.operator("Hub")
        yield space
