"""Publishing outbox messages through the acknowledged event producer.

Guarantees (those of :class:`~dataspace.events.publisher.EventProducer`): messages of one
partition are written in the order given, without gaps or duplicates from the producer's own
retries; a message counts as published only when its delivery report says so. A message with
no report within ``timeout`` is reported failed; librdkafka's own ``message.timeout.ms`` is the
same bound, so it is not delivered behind the relay's back much later. One relay owns one
publisher.
"""

from __future__ import annotations

from collections.abc import Sequence

from dataspace.config import Settings
from dataspace.events.publisher import EventProducer, OutgoingRecord
from dataspace.store.outbox import OutboxMessage

DEFAULT_TIMEOUT_SECONDS = 10.0


class KafkaPublisher:
    def __init__(
        self, settings: Settings, timeout: float = DEFAULT_TIMEOUT_SECONDS, **overrides: str
    ) -> None:
        options = {"linger.ms": "5", **overrides}
        self._producer = EventProducer(settings, delivery_timeout=timeout, **options)

    def publish(self, messages: Sequence[OutboxMessage]) -> dict[int, str | None]:
        records = [
            OutgoingRecord(
                m.topic,
                m.key.encode(),
                m.payload,
                [(name, value.encode()) for name, value in m.headers.items()],
            )
            for m in messages
        ]
        reports = self._producer.deliver(records)
        return {
            m.id: None if report is None else report.str()
            for m, report in zip(messages, reports, strict=True)
        }
