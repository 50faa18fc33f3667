"""The subscriber agent against the real broker, object store and both databases.

Each test has a subscriber id of its own (``sup-<unique>``), hence its own consumer group and
dead-letter topic; the announcement topic is shared, as in production, and other tests'
announcements are keyed to other subscribers.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer

from dataspace.adapters.kafka_producer import EventProducer, KafkaSender
from dataspace.adapters.s3 import presigner
from dataspace.agent.control_plane import LocalControlPlane
from dataspace.agent.subscriber import SubscribeOptions, SubscribeSummary, group_for, subscribe
from dataspace.config import Settings
from dataspace.controlplane import agreements, ledger, participants
from dataspace.events.deadletter import HEADER_REASON, dead_letter_topic
from dataspace.events.envelope import HEADER_FINGERPRINT, decode
from dataspace.events.records import OutgoingRecord
from dataspace.events.registry import event_id_for
from dataspace.events.relay import relay_once
from dataspace.identity.keys import SigningKey
from dataspace.store.models import DeliveryRow
from tests.fixtures.controlplane import Space
from tests.worlds.delivery_setup import PRODUCT, Provider, release_store

pytestmark = pytest.mark.integration

QUICK_JOIN = {"session.timeout.ms": "2000", "heartbeat.interval.ms": "300"}


@pytest.fixture
def subscriber(unique: str) -> str:
    return f"sup-{unique}"


@pytest.fixture
def provider(market: Space, stack_settings: Settings, unique: str) -> Provider:
    return Provider(market, release_store(stack_settings, f"releases-{unique}"), stack_settings)


@pytest.fixture
def agreement(provider: Provider, subscriber: str) -> str:
    return provider.agreement(subscriber)


@pytest.fixture
def control(
    market: Space, provider: Provider, agreement: str, subscriber: str, stack_settings: Settings
) -> LocalControlPlane:
    presign = presigner(stack_settings.s3(), provider.store.bucket)
    return LocalControlPlane(market.db, market.keys, presign, subscriber)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


def run(
    settings: Settings, control: LocalControlPlane, landing: Path, **options: object
) -> SubscribeSummary:
    chosen = SubscribeOptions(once=True, idle_seconds=1.0, **options)  # type: ignore[arg-type]
    # A member joins after about half its session timeout on the embedded broker.
    quick = settings.model_copy(update={"kafka_options": QUICK_JOIN})
    return subscribe(quick, control, landing, chosen)


def landed_files(landing: Path) -> list[Path]:
    return sorted(path.relative_to(landing) for path in landing.rglob("*.parquet*"))


def read_topic(settings: Settings, topic: str, count: int, key: str) -> list[object]:
    """The first ``count`` messages keyed ``key`` on ``topic``, read with a fresh group."""
    consumer = Consumer(settings.kafka_consumer_config(f"reader-{os.urandom(6).hex()}"))
    consumer.subscribe([topic])
    found: list[object] = []
    try:
        misses = 0
        while len(found) < count and misses < 60:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                misses += 1
                continue
            if message.key() == key.encode():
                found.append(message)
    finally:
        consumer.close()
    assert len(found) == count, f"{len(found)} of {count} messages keyed {key} on {topic}"
    return found


def state_of(market: Space, delivery_id: str) -> str:
    with market.db.transaction() as session:
        row = session.get(DeliveryRow, delivery_id)
        assert row is not None
        return row.state


def test_a_delivery_lands_verified_is_receipted_and_its_offset_committed(
    *, market: Space, provider: Provider, agreement: str, control: LocalControlPlane,
    landing: Path, stack_settings: Settings, subscriber: str,
) -> None:  # fmt: skip
    delivered = provider.publish(agreement, 1)

    summary = run(stack_settings, control, landing)

    path = landing / PRODUCT / "1" / "part-0.parquet"
    assert [item.path for item in summary.landed] == [path]
    assert pq.read_table(path).equals(delivered.table)
    assert landed_files(landing) == [Path(PRODUCT, "1", "part-0.parquet")]
    assert (summary.rows, summary.bytes) == (delivered.stored.rows, delivered.stored.bytes)
    assert state_of(market, delivered.delivery_id) == "landed"
    entry = ledger.latest(market.db, 1)[0]
    assert (entry.actor, entry.action) == (subscriber, "delivery.received")
    assert delivered.delivery_id in entry.subject_ids
    assert ledger.verify(market.db).ok

    relay_once(market.db, KafkaSender(stack_settings))
    (message,) = read_topic(stack_settings, "dataspace.deliveries.received.v1", 1, subscriber)
    public = {p.participant_id: p.public_key for p in participants.list_participants(market.db)}
    event = decode(message.value(), message.headers(), public.__getitem__)  # type: ignore[attr-defined]
    assert event.event_id == event_id_for("DeliveryReceipt", delivered.delivery_id)
    assert event.body["sha256"] == delivered.stored.sha256

    again = run(stack_settings, control, landing)
    assert (again.landed, again.duplicates, again.rejected) == ([], 0, [])  # offset committed


def test_a_duplicate_announcement_is_ignored(
    provider: Provider, agreement: str, control: LocalControlPlane, landing: Path,
    stack_settings: Settings,
) -> None:  # fmt: skip
    delivered = provider.publish(agreement, 1)
    provider.send(delivered.event)

    first = run(stack_settings, control, landing)
    provider.send(delivered.event)  # replayed later, e.g. by the relay after a crash
    second = run(stack_settings, control, landing)

    assert ([d.delivery.delivery_id for d in first.landed], first.duplicates) == (
        [delivered.delivery_id],
        1,
    )
    assert (second.landed, second.duplicates) == ([], 1)


def test_bad_events_are_dead_lettered_with_their_reason_and_the_next_good_one_lands(
    *, market: Space, provider: Provider, agreement: str, control: LocalControlPlane,
    landing: Path, stack_settings: Settings, subscriber: str,
) -> None:  # fmt: skip
    first = provider.publish(agreement, 1, send=False)
    good = provider.publish(agreement, 2, send=False)
    market.member("supplier-02")
    announce = (first.delivery_id, agreement)
    forged = provider.announcement(
        *announce, subscriber, 1, first.stored, key=SigningKey.generate()
    )
    elsewhere = provider.announcement(*announce, "supplier-02", 1, first.stored)
    wrong_schema = [
        (name, (value if name != HEADER_FINGERPRINT else "00" * 8).encode())
        for name, value in first.event.headers.items()
    ]
    mine = subscriber.encode()
    records = [
        OutgoingRecord.of(forged),
        OutgoingRecord(forged.topic, mine, os.urandom(64), []),
        OutgoingRecord(forged.topic, mine, first.event.value, wrong_schema),
        # Signed by xcmg for supplier-02, copied onto our topic: not where it belongs.
        OutgoingRecord(forged.topic, mine, elsewhere.value, elsewhere.kafka_headers()),
        OutgoingRecord.of(good.event),
    ]
    with EventProducer(stack_settings) as producer:
        producer.send_records(records)

    summary = run(stack_settings, control, landing)

    reasons = ["bad_signature", "malformed", "unknown_schema", "wrong_topic"]
    assert sorted(r.reason.value for r in summary.rejected) == sorted(reasons)
    assert [d.delivery.delivery_id for d in summary.landed] == [good.delivery_id]
    assert landed_files(landing) == [Path(PRODUCT, "2", "part-0.parquet")]
    assert state_of(market, first.delivery_id) == "announced"
    topic = dead_letter_topic(group_for(subscriber))
    letters = read_topic(stack_settings, topic, 4, subscriber)
    dead = [dict(m.headers())[HEADER_REASON].decode() for m in letters]  # type: ignore[attr-defined]
    assert sorted(dead) == sorted(reasons)
    assert run(stack_settings, control, landing).rejected == []  # committed: not seen again


def test_a_tampered_object_fails_its_checksum_and_nothing_lands(
    *, market: Space, provider: Provider, agreement: str, control: LocalControlPlane,
    landing: Path, stack_settings: Settings, subscriber: str,
) -> None:  # fmt: skip
    delivered = provider.publish(agreement, 1)
    provider.tamper(delivered)

    summary = run(stack_settings, control, landing)

    assert summary.landed == []
    assert [r.reason.value for r in summary.rejected] == ["checksum_mismatch"]
    assert "not the delivered object" in summary.rejected[0].detail
    assert summary.rejected[0].dead_letter_topic == dead_letter_topic(group_for(subscriber))
    assert landed_files(landing) == []
    assert state_of(market, delivered.delivery_id) == "announced"


def test_a_revoked_agreement_gets_no_grant_and_nothing_lands(
    *, market: Space, provider: Provider, agreement: str, control: LocalControlPlane,
    landing: Path, stack_settings: Settings,
) -> None:  # fmt: skip
    delivered = provider.publish(agreement, 1)
    agreements.revoke(market.db, market.keys, actor="xcmg", agreement_id=agreement)

    summary = run(stack_settings, control, landing)

    assert summary.landed == []
    assert [r.delivery_id for r in summary.refused] == [delivered.delivery_id]
    assert "revoked" in summary.refused[0].reason
    assert landed_files(landing) == []
    assert run(stack_settings, control, landing).refused == []  # committed: never deliverable


def test_resync_lands_every_due_delivery_exactly_once(
    *, market: Space, provider: Provider, agreement: str, control: LocalControlPlane,
    landing: Path, stack_settings: Settings,
) -> None:  # fmt: skip
    # The broker lost its log: these announcements never reached Kafka.
    lost = [provider.publish(agreement, version, send=False) for version in (1, 2, 3)]
    ended = provider.publish(provider.agreement(control.subscriber), 4, send=False)
    agreements.revoke(market.db, market.keys, actor="xcmg", agreement_id=ended.agreement_id)

    resynced = run(stack_settings, control, landing, resync=True)
    provider.send(*(delivered.event for delivered in lost))  # the relay catches up later
    replayed = run(stack_settings, control, landing, resync=True)

    ids = [delivered.delivery_id for delivered in lost]
    assert sorted(d.delivery.delivery_id for d in resynced.landed) == sorted(ids)
    assert (replayed.landed, replayed.duplicates) == ([], 3)
    assert landed_files(landing) == [Path(PRODUCT, str(v), "part-0.parquet") for v in (1, 2, 3)]
    assert [state_of(market, delivery_id) for delivery_id in ids] == ["landed"] * 3
    assert state_of(market, ended.delivery_id) == "announced"
