"""Signed events through the real broker: produce, consume, verify, dead-letter the forged."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message

from dataspace.adapters.kafka import ensure_topics
from dataspace.adapters.kafka_producer import EventProducer
from dataspace.config import Settings, load_settings
from dataspace.errors import NotFound, ServiceError
from dataspace.events.deadletter import (
    HEADER_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_TOPIC,
    dead_letter,
    dead_letter_topic,
)
from dataspace.events.envelope import (
    DecodedEvent,
    EncodedEvent,
    EventRejected,
    RejectReason,
    decode,
    encode,
)
from dataspace.events.registry import default_registry, event_id_for
from dataspace.identity.keys import SigningKey
from tests.event_vectors import load_vectors
from tests.helpers import free_port

pytestmark = pytest.mark.integration

VECTORS = {v.event_type: v for v in load_vectors(default_registry())}
KEYS = {name: SigningKey.generate() for name in ("chain-leader", "supplier-07", "operator")}


def public_key_of(actor: str) -> str:
    if actor not in KEYS:
        raise NotFound(f"no participant {actor}")
    return KEYS[actor].public_key_b64


def announcement(number: int, subscriber: str, *, key: SigningKey | None = None) -> EncodedEvent:
    delivery = f"agr-{subscriber}.v{number}"
    body = {
        **VECTORS["DeliveryAnnounced"].body,
        "event_id": event_id_for("DeliveryAnnounced", delivery),
        "delivery_id": delivery,
        "subscriber_id": subscriber,
        "version": number,
    }
    return encode("DeliveryAnnounced", body, key or KEYS["chain-leader"])


def on_topic(events: list[EncodedEvent], topic: str) -> list[EncodedEvent]:
    """The same events on this test's own topic, so tests never share one."""
    return [replace(event, topic=topic) for event in events]


@pytest.fixture
def consumers(stack_settings: Settings) -> Iterator[list[Consumer]]:
    opened: list[Consumer] = []
    yield opened
    for consumer in opened:
        consumer.close()


def subscribe(settings: Settings, consumers: list[Consumer], topic: str, group: str) -> Consumer:
    consumer = Consumer(settings.kafka_consumer_config(group))
    consumers.append(consumer)
    consumer.subscribe([topic])
    return consumer


def poll(consumer: Consumer, count: int, timeout: float = 30.0) -> list[Message]:
    deadline = time.monotonic() + timeout
    messages: list[Message] = []
    while len(messages) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        assert message.error() is None, message.error()
        messages.append(message)
    assert len(messages) == count, f"only {len(messages)} of {count} messages arrived"
    return messages


def test_signed_events_arrive_verified_and_forged_ones_are_dead_lettered(
    stack_settings: Settings, unique: str, consumers: list[Consumer]
) -> None:
    topic, group = f"test.events.{unique}.v1", f"events-{unique}"
    ensure_topics(stack_settings, [topic, dead_letter_topic(group)])
    genuine = on_topic([announcement(n, f"supplier-0{n % 3}") for n in range(1, 7)], topic)
    forged = on_topic([announcement(99, "supplier-07", key=SigningKey.generate())], topic)[0]

    with EventProducer(stack_settings) as producer:
        producer.send_many([*genuine[:3], forged, *genuine[3:]])
        consumer = subscribe(stack_settings, consumers, topic, group)
        received: list[DecodedEvent] = []
        for message in poll(consumer, len(genuine) + 1):
            try:
                received.append(decode(message.value(), message.headers(), public_key_of))
            except EventRejected as rejected:
                dead_letter(producer, message, rejected.reason, str(rejected), group_id=group)
            consumer.commit(message=message, asynchronous=False)

    assert [event.event_id for event in received] == [event.event_id for event in genuine]
    assert [event.body["subscriber_id"] for event in received] == [e.key for e in genuine]

    parked = poll(subscribe(stack_settings, consumers, dead_letter_topic(group), unique), 1)[0]
    headers = dict(parked.headers() or [])
    assert headers[HEADER_REASON] == RejectReason.BAD_SIGNATURE.value.encode()
    assert headers[HEADER_SOURCE_TOPIC] == topic.encode()
    assert headers[HEADER_SOURCE_OFFSET] == b"3"
    assert parked.value() == forged.value
    assert parked.key() == b"supplier-07"


def test_one_event_is_acknowledged_before_send_returns(
    stack_settings: Settings, unique: str, consumers: list[Consumer]
) -> None:
    topic = f"test.events.{unique}.v1"
    ensure_topics(stack_settings, [topic])
    event = on_topic([announcement(1, "supplier-07")], topic)[0]

    with EventProducer(stack_settings) as producer:
        producer.send(event)

    message = poll(subscribe(stack_settings, consumers, topic, f"events-{unique}"), 1)[0]
    assert decode(message.value(), message.headers(), public_key_of).event_id == event.event_id
    assert message.key() == b"supplier-07"


def test_an_unreachable_broker_raises_instead_of_looking_like_success(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    producer = EventProducer(settings, delivery_timeout=1.0)
    started = time.monotonic()

    with pytest.raises(ServiceError, match="send again"):
        producer.send(announcement(1, "supplier-07"))

    assert time.monotonic() - started < 10
    # The message expired with its report, so nothing is left queued behind the error.
    producer.close()
