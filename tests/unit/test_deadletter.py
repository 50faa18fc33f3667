"""Dead letters: the topic convention and the copy that carries the reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from dataspace.errors import InvalidInput, ServiceError
from dataspace.events.deadletter import (
    MAX_DETAIL_CHARS,
    dead_letter,
    dead_letter_record,
    dead_letter_topic,
)
from dataspace.events.envelope import RejectReason
from dataspace.events.records import KafkaHeaders, OutgoingRecord


@dataclass
class FakeMessage:
    """The parts of confluent_kafka.Message a dead letter reads."""

    _headers: KafkaHeaders | None = (("event-id", b"e-1"), ("signature", b"sig"))
    _key: bytes | None = b"supplier-07"
    _value: bytes | None = b"\x00avro"

    def topic(self) -> str | None:
        return "dataspace.deliveries.announced.v1"

    def partition(self) -> int | None:
        return 2

    def offset(self) -> int | None:
        return 41

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> KafkaHeaders | None:
        return self._headers


@dataclass
class FakeSender:
    fail: bool = False
    sent: list[OutgoingRecord] = field(default_factory=list)

    def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        if self.fail:
            raise ServiceError("Kafka did not acknowledge")
        self.sent.extend(records)


def test_each_group_has_its_dead_letter_topic() -> None:
    assert dead_letter_topic("subscriber-supplier-07") == (
        "dataspace.deadletter.subscriber-supplier-07.v1"
    )
    assert dead_letter_topic("ops.metering_v2") == "dataspace.deadletter.ops.metering_v2.v1"


@pytest.mark.parametrize("group", ["", "Subscriber", "a/b", "a b", "-a", "x" * 201])
def test_group_ids_unfit_for_a_topic_are_refused(group: str) -> None:
    with pytest.raises(InvalidInput, match="consumer group"):
        dead_letter_topic(group)


def test_a_dead_letter_is_the_original_plus_the_reason() -> None:
    record = dead_letter_record(
        FakeMessage(), RejectReason.BAD_SIGNATURE, "The signature does not verify.", group_id="g1"
    )

    assert record.topic == "dataspace.deadletter.g1.v1"
    assert record.key == b"supplier-07"
    assert record.value == b"\x00avro"
    assert list(record.headers) == [
        ("event-id", b"e-1"),
        ("signature", b"sig"),
        ("dlq-reason", b"bad_signature"),
        ("dlq-detail", b"The signature does not verify."),
        ("dlq-source-topic", b"dataspace.deliveries.announced.v1"),
        ("dlq-source-partition", b"2"),
        ("dlq-source-offset", b"41"),
    ]


def test_a_re_dead_lettered_message_gets_fresh_notes_and_a_bounded_detail() -> None:
    old_notes = (("dlq-reason", b"malformed"), ("keep", b"1"))
    record = dead_letter_record(
        FakeMessage(_headers=old_notes, _key=None, _value=None),
        RejectReason.CHECKSUM_MISMATCH,
        "x" * 5000,
        group_id="g1",
    )
    headers = dict(record.headers)

    assert [name for name, _ in record.headers].count("dlq-reason") == 1
    assert headers["dlq-reason"] == b"checksum_mismatch"
    assert headers["keep"] == b"1"
    assert len(headers["dlq-detail"] or b"") == MAX_DETAIL_CHARS
    assert (record.key, record.value) == (None, None)


def test_dead_letter_sends_the_copy_and_returns_its_topic() -> None:
    sender = FakeSender()

    topic = dead_letter(sender, FakeMessage(), RejectReason.MALFORMED, "bad", group_id="g1")

    assert topic == "dataspace.deadletter.g1.v1"
    assert [r.topic for r in sender.sent] == [topic]


def test_an_unacknowledged_dead_letter_raises() -> None:
    with pytest.raises(ServiceError):
        dead_letter(
            FakeSender(fail=True), FakeMessage(), RejectReason.MALFORMED, "bad", group_id="g1"
        )
