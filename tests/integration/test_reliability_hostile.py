"""Hostile bytes through the real subscriber agent on the real broker (issue 6): random
values, random and real-looking headers, truncated and bit-flipped real events, all keyed to
the agent. Each must reach the dead-letter topic with its reason, the agent must go on, and
the good announcement sent after them must land.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dataspace.adapters.kafka_producer import EventProducer
from dataspace.adapters.s3 import presigner
from dataspace.agent.control_plane import LocalControlPlane
from dataspace.agent.subscriber import group_for
from dataspace.config import Settings
from dataspace.events.deadletter import HEADER_REASON, dead_letter_topic
from dataspace.events.envelope import (
    HEADER_ACTOR,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_FINGERPRINT,
    HEADER_SIGNATURE,
)
from dataspace.events.records import OutgoingRecord
from tests.fixtures.controlplane import Space
from tests.integration.test_subscriber import read_topic, run
from tests.reliability.record import record
from tests.worlds.delivery_setup import Provider, release_store

pytestmark = pytest.mark.integration
SEED = 20261125
COUNT = 40
NAMES = [HEADER_EVENT_TYPE, HEADER_FINGERPRINT, HEADER_EVENT_ID, HEADER_ACTOR, HEADER_SIGNATURE]


def hostile_records(
    rng: random.Random, topic: str, key: bytes, real: OutgoingRecord
) -> list[OutgoingRecord]:
    """``COUNT`` messages no agent should act on, from one seed (so a failure can be rerun)."""
    records = []
    for index in range(COUNT):
        kind = index % 4
        if kind == 0:  # random bytes, no headers
            value, headers = rng.randbytes(rng.randint(0, 2048)), []
        elif kind == 1:  # random bytes under the real header names with random values
            value = rng.randbytes(rng.randint(1, 512))
            headers = [(name, rng.randbytes(rng.randint(0, 40))) for name in NAMES]
        elif kind == 2:  # the real event's headers, its body truncated
            assert real.value is not None
            value, headers = real.value[: rng.randint(0, len(real.value) - 1)], real.headers
        else:  # the real event with one byte flipped
            assert real.value is not None
            flipped = bytearray(real.value)
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            value, headers = bytes(flipped), real.headers
        records.append(OutgoingRecord(topic, key, value, list(headers)))
    return records


@pytest.mark.reliability("hostile input", "random bytes through the real agent and broker")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_random_bytes_go_to_the_dead_letter_topic_and_the_agent_goes_on(
    market: Space, stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    subscriber = f"sup-{unique}"
    provider = Provider(market, release_store(stack_settings, f"releases-{unique}"), stack_settings)
    agreement = provider.agreement(subscriber)
    control = LocalControlPlane(
        market.db, market.keys, presigner(stack_settings.s3(), provider.store.bucket), subscriber
    )
    first = provider.publish(agreement, 1, send=False)
    good = provider.publish(agreement, 2, send=False)
    real = OutgoingRecord.of(first.event)
    rng = random.Random(SEED)  # noqa: S311 (reproducible test data, no secret)
    hostile = hostile_records(rng, real.topic, subscriber.encode(), real)
    with EventProducer(stack_settings) as producer:
        producer.send_records([*hostile, OutgoingRecord.of(good.event)])

    summary = run(stack_settings, control, tmp_path / "landing")

    record.hostile("random bytes through the real agent and broker", len(hostile))
    assert len(summary.rejected) == COUNT
    assert all(r.dead_letter_topic is not None for r in summary.rejected)  # each one dead-lettered
    assert [d.delivery.delivery_id for d in summary.landed] == [good.delivery_id]
    assert summary.deferred == []
    letters = read_topic(
        stack_settings, dead_letter_topic(group_for(subscriber)), COUNT, subscriber
    )
    reasons = {dict(m.headers())[HEADER_REASON].decode() for m in letters}  # type: ignore[attr-defined]
    assert reasons <= {
        "malformed",
        "bad_signature",
        "unknown_schema",
        "header_mismatch",
        "unknown_actor",
    }
    assert (tmp_path / "landing" / "purchase-orders" / "1").exists() is False
