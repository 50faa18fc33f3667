"""Kafka round trips against the real broker of the test stack."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from dataspace.adapters.kafka import ensure_topics
from dataspace.adapters.kafka_consumer import GroupConsumer
from dataspace.config import Settings

pytestmark = pytest.mark.integration


def produce(settings: Settings, topic: str, values: list[bytes]) -> None:
    producer = Producer(settings.kafka_producer_config(**{"enable.idempotence": "true"}))
    failures: list[object] = []
    for value in values:
        producer.produce(
            topic, key=b"k", value=value, on_delivery=lambda err, _m: err and failures.append(err)
        )
    assert producer.flush(15) == 0
    assert failures == []


def consume(consumer: Consumer, count: int, timeout: float = 30.0) -> list[Message]:
    messages: list[Message] = []
    while len(messages) < count:
        message = consumer.poll(timeout)
        assert message is not None, f"only {len(messages)} of {count} messages arrived"
        assert message.error() is None, message.error()
        messages.append(message)
    return messages


def test_consumer_group_resumes_from_its_committed_offset(
    stack_settings: Settings, unique: str
) -> None:
    topic, group = f"test.kafka.{unique}.v1", f"group-{unique}"
    ensure_topics(stack_settings, [topic])
    produce(stack_settings, topic, [b"first", b"second", b"third"])

    first = Consumer(stack_settings.kafka_consumer_config(group))
    first.subscribe([topic])
    received = consume(first, 2)
    first.commit(message=received[-1], asynchronous=False)
    committed = first.committed([TopicPartition(topic, 0)], timeout=10)
    first.close()

    assert [m.value() for m in received] == [b"first", b"second"]
    assert committed[0].offset == 2

    second = Consumer(stack_settings.kafka_consumer_config(group))
    second.subscribe([topic])
    resumed = consume(second, 1)
    second.close()
    assert resumed[0].value() == b"third"


def test_ensure_topics_is_idempotent(stack_settings: Settings, unique: str) -> None:
    topic = f"test.idempotent.{unique}.v1"
    ensure_topics(stack_settings, [topic])
    ensure_topics(stack_settings, [topic])  # a second call must not fail

    metadata = AdminClient(stack_settings.kafka_producer_config()).list_topics(timeout=10)
    assert topic in metadata.topics


def test_the_group_consumer_takes_what_a_fetch_brought_up_to_a_limit(
    stack_settings: Settings, unique: str
) -> None:
    topic = f"test.kafka.{unique}.v1"
    ensure_topics(stack_settings, [topic])
    produce(stack_settings, topic, [f"m{n}".encode() for n in range(5)])

    received: list[bytes | None] = []
    with GroupConsumer(stack_settings, f"group-{unique}", [topic]) as consumer:
        deadline = time.monotonic() + 60
        while len(received) < 5 and time.monotonic() < deadline:
            batch = consumer.poll_many(1, limit=2)
            assert len(batch) <= 2, "a call never returns more than its limit"
            received.extend(message.value() for message in batch)
        assert consumer.poll_many(0.2, limit=2) == []

        # One announcement ends a long wait at once: the call does not wait for `limit`.
        later = threading.Timer(0.5, produce, (stack_settings, topic, [b"late"]))
        later.start()
        asked = time.monotonic()
        batch = consumer.poll_many(20, limit=8)
        waited = time.monotonic() - asked
        later.join()
    assert received == [f"m{n}".encode() for n in range(5)]
    assert [message.value() for message in batch] == [b"late"]
    assert waited < 10, f"poll_many waited {waited:.1f} s for one message with 20 s allowed"
