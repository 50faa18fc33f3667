"""Dead letters: a message a consumer cannot act on is parked, with the reason, and skipped.

Each consumer group has its own dead-letter topic, ``dataspace.deadletter.<group>.v1``. A dead
letter is the original message (key, value and headers byte for byte, so its signature can
still be checked later) plus these headers:

=========================  ============================================================
``dlq-reason``             a :class:`RejectReason` code, e.g. ``bad_signature``
``dlq-detail``             one sentence for people (at most 1000 characters)
``dlq-source-topic``       where the message was consumed from
``dlq-source-partition``   its partition, in decimal
``dlq-source-offset``      its offset, in decimal
=========================  ============================================================

:func:`dead_letter` returns only once the broker acknowledged the copy and raises
:class:`ServiceError` otherwise: the consumer must not commit the original's offset unless
this returned. Create the topic at start-up (``ensure_topics(settings,
[dead_letter_topic(group)])``); producing to a missing topic fails.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Protocol

from dataspace.errors import InvalidInput
from dataspace.events.envelope import RejectReason
from dataspace.events.records import KafkaHeaders, OutgoingRecord

log = logging.getLogger(__name__)

HEADER_REASON = "dlq-reason"
HEADER_DETAIL = "dlq-detail"
HEADER_SOURCE_TOPIC = "dlq-source-topic"
HEADER_SOURCE_PARTITION = "dlq-source-partition"
HEADER_SOURCE_OFFSET = "dlq-source-offset"
DLQ_HEADER_PREFIX = "dlq-"
MAX_DETAIL_CHARS = 1000
# Kafka's legal topic characters, lower case, leaving room for the prefix and suffix.
GROUP_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,198}[a-z0-9])?", re.ASCII)


class ConsumedMessage(Protocol):
    """What a dead letter needs of a consumed message; confluent_kafka.Message fits."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> KafkaHeaders | None: ...


class RecordSender(Protocol):
    """Sends records and returns only once the broker acknowledged them (EventProducer)."""

    def send_records(self, records: Sequence[OutgoingRecord]) -> None: ...


def dead_letter_topic(group_id: str) -> str:
    """``dataspace.deadletter.<group>.v1``; InvalidInput for a group id unfit for a topic."""
    if GROUP_PATTERN.fullmatch(group_id) is None:
        raise InvalidInput(
            f"The consumer group id {group_id!r} cannot name a dead-letter topic: use 1 to 200 "
            "lowercase letters, digits, '.', '_' or '-'."
        )
    return f"dataspace.deadletter.{group_id}.v1"


def dead_letter_record(
    message: ConsumedMessage, reason: RejectReason, detail: str, *, group_id: str
) -> OutgoingRecord:
    """The copy of ``message`` that goes to the group's dead-letter topic. Pure."""
    kept = [
        (name, value)
        for name, value in (message.headers() or [])
        if not name.startswith(DLQ_HEADER_PREFIX)  # a re-dead-lettered copy gets fresh notes
    ]
    notes: list[tuple[str, bytes | None]] = [
        (HEADER_REASON, RejectReason(reason).value.encode("ascii")),
        (HEADER_DETAIL, detail[:MAX_DETAIL_CHARS].encode("utf-8")),
        (HEADER_SOURCE_TOPIC, (message.topic() or "").encode("utf-8")),
        (HEADER_SOURCE_PARTITION, _number(message.partition())),
        (HEADER_SOURCE_OFFSET, _number(message.offset())),
    ]
    return OutgoingRecord(
        topic=dead_letter_topic(group_id),
        key=message.key(),
        value=message.value(),
        headers=[*kept, *notes],
    )


def dead_letter(
    producer: RecordSender,
    message: ConsumedMessage,
    reason: RejectReason,
    detail: str,
    *,
    group_id: str,
) -> str:
    """Copy ``message`` to the group's dead-letter topic and wait for the broker's ack.

    Returns the dead-letter topic. Raises :class:`ServiceError` if the broker did not
    acknowledge: a dead letter that is not durable must never look like success.
    """
    record = dead_letter_record(message, reason, detail, group_id=group_id)
    producer.send_records([record])
    log.warning(
        "dead-lettered %s[%s]@%s to %s: reason=%s detail=%s",
        message.topic(),
        message.partition(),
        message.offset(),
        record.topic,
        reason,
        detail,
    )
    return record.topic


def _number(value: int | None) -> bytes:
    return str(-1 if value is None else value).encode("ascii")
