"""What the operations tests share: a published product on the real stack, outbox events."""

from __future__ import annotations

from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from dataspace import demo_data
from dataspace.dataplane.objects import ObjectStore
from dataspace.events.envelope import DecodedEvent, decode
from dataspace.node import Node
from dataspace.publishing.publish import PublishSummary, publish
from dataspace.store.models import OutboxRow
from tests.worlds.publish_world import LEADER, World

ORDERS = demo_data.purchase_orders(0)


def publish_orders(
    world: World, tmp_path: Path, *, now: datetime | None = None, table: pa.Table = ORDERS
) -> PublishSummary:
    source = tmp_path / f"orders-{world.product}-{table.num_rows}.parquet"
    pq.write_table(table, source)
    with closing(Node(world.settings, world.db, world.space.keys)) as node:
        return publish(node, product_id=world.product, provider=LEADER, source=source, now=now)


def overwrite(store: ObjectStore, key: str, table: pa.Table) -> None:
    """Someone with write access to the bucket replaces a stored object."""
    with store.filesystem.open_output_stream(store.path(key)) as out:
        pq.write_table(table, out)


def read_text(store: ObjectStore, key: str) -> str:
    with store.open_input(key) as source:
        return bytes(source.read()).decode()


def outbox_events(world: World, event_type: str) -> list[DecodedEvent]:
    """Every outbox event of ``event_type``, verified against the signer's registered key."""
    with world.db.transaction() as session:
        rows = list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))
        messages: list[tuple[bytes, dict[str, Any], str]] = [
            (row.payload, dict(row.headers), row.topic) for row in rows
        ]
    found = []
    for payload, headers, topic in messages:
        event = decode(payload, headers, world.public_key_of, topic=topic)
        if event.event_type == event_type:
            found.append(event)
    return found
