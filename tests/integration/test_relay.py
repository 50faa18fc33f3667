"""The outbox relay against the real broker and both databases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer

from dataspace.adapters.kafka import ensure_topics
from dataspace.adapters.kafka_producer import KafkaSender
from dataspace.config import Settings, load_settings
from dataspace.events.records import OutgoingRecord
from dataspace.events.relay import Backoff, drain, relay_once
from dataspace.store.db import Database
from dataspace.store.outbox import enqueue, pending_count
from tests.helpers import free_port

pytestmark = pytest.mark.integration


def enqueue_all(db: Database, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
    with db.transaction() as session:
        for key, payload in items:
            enqueue(session, topic, key, payload, {"event-id": payload.decode()})


def consume_all(settings: Settings, topic: str, count: int) -> list[tuple[str, bytes, dict]]:
    consumer = Consumer(settings.kafka_consumer_config(f"relay-test-{topic}"))
    consumer.subscribe([topic])
    received = []
    try:
        while len(received) < count:
            message = consumer.poll(30)
            assert message is not None, f"only {len(received)} of {count} arrived"
            assert message.error() is None
            headers = {k: v.decode() for k, v in message.headers() or []}
            received.append((message.key().decode(), message.value(), headers))
    finally:
        consumer.close()
    return received


def test_committed_rows_reach_kafka_in_order_and_are_marked_sent(
    db: Database, stack_settings: Settings, unique: str
) -> None:
    topic = f"test.relay.{unique}.v1"
    ensure_topics(stack_settings, [topic])
    items = [("alice", b"a1"), ("bob", b"b1"), ("alice", b"a2"), ("alice", b"a3")]
    enqueue_all(db, topic, items)

    # One sender for every batch, closed (flushed) at the end.
    with KafkaSender(stack_settings) as sender:
        result = relay_once(db, sender, batch_size=3)
        rest = relay_once(db, sender, batch_size=3)
        assert relay_once(db, sender).claimed == 0  # nothing twice

    assert (result.sent, result.failed, rest.sent, rest.failed) == (3, 0, 1, 0)
    with db.transaction() as session:
        assert pending_count(session) == 0
    received = consume_all(stack_settings, topic, 4)
    assert [(k, v) for k, v, _ in received] == items
    assert received[0][2] == {"event-id": "a1"}


def test_drain_relays_batch_after_batch_until_a_short_one(
    db: Database, stack_settings: Settings, unique: str
) -> None:
    topic = f"test.relay.drain.{unique}.v1"
    ensure_topics(stack_settings, [topic])
    items = [("alice", f"d{n}".encode()) for n in range(5)]
    enqueue_all(db, topic, items)

    with KafkaSender(stack_settings) as sender:
        result = drain(db, sender, batch_size=2)

    assert (result.claimed, result.sent, result.failed) == (5, 5, 0)
    with db.transaction() as session:
        assert pending_count(session) == 0
    assert [(k, v) for k, v, _ in consume_all(stack_settings, topic, 5)] == items


def test_a_dead_broker_loses_nothing_and_backs_off(
    db: Database, stack_settings: Settings, unique: str, tmp_path
) -> None:
    topic = f"test.relay.down.{unique}.v1"
    ensure_topics(stack_settings, [topic])
    enqueue_all(db, topic, [("alice", b"x1"), ("alice", b"x2")])
    dead = load_settings(state_dir=tmp_path, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    t0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    down = relay_once(db, KafkaSender(dead, timeout=1.0), now=lambda: t0, backoff=Backoff())
    assert (down.sent, down.failed) == (0, 2)
    with db.transaction() as session:
        assert pending_count(session) == 2
    # Still backing off: nothing is claimed before the retry time.
    early = relay_once(db, KafkaSender(stack_settings), now=lambda: t0 + timedelta(seconds=0.1))
    assert early.claimed == 0

    later = t0 + timedelta(seconds=5)
    recovered = relay_once(db, KafkaSender(stack_settings), now=lambda: later)
    assert (recovered.sent, recovered.failed) == (2, 0)
    assert [v for _, v, _ in consume_all(stack_settings, topic, 2)] == [b"x1", b"x2"]


class FailsOne:
    """A sender whose broker refuses one record (a unit-level stand-in for Kafka)."""

    def __init__(self, refuse: bytes) -> None:
        self.refuse = refuse
        self.published: list[bytes | None] = []

    def send(self, records: Sequence[OutgoingRecord]) -> list[str | None]:
        errors: list[str | None] = []
        for record in records:
            refused = record.value == self.refuse
            errors.append("refused" if refused else None)
            if not refused:
                self.published.append(record.value)
        return errors


def test_after_a_failure_later_messages_of_the_key_wait_for_it(db: Database) -> None:
    enqueue_all(db, "t", [("alice", b"a1"), ("alice", b"a2"), ("bob", b"b1"), ("alice", b"a3")])
    t0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    first = relay_once(db, FailsOne(refuse=b"a2"), now=lambda: t0)
    assert (first.sent, first.failed) == (2, 2)  # a1 and b1 sent; a2 failed, a3 held

    retry = FailsOne(refuse=b"nothing")
    second = relay_once(db, retry, now=lambda: t0 + timedelta(minutes=1))
    assert retry.published == [b"a2", b"a3"]  # republished in order
    assert second.sent == 2


def test_backoff_grows_and_is_capped() -> None:
    backoff = Backoff(base=timedelta(seconds=1), factor=2, cap=timedelta(seconds=10))
    assert [backoff.delay(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
