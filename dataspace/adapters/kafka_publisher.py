"""Publishing outbox messages through the acknowledged event producer.

Guarantees (those of :class:`~dataspace.events.publisher.EventProducer`): messages of one
partition are written in the order given, without gaps or duplicates from the producer's own
retries; a message counts as published only when its delivery report says so. A message with
no report within ``timeout`` is reported failed; librdkafka's own ``message.timeout.ms`` is the
same bound, so it is not delivered behind the relay's back much later. One relay owns one
publisher, and a process keeps one open for all its relaying: creating an idempotent producer
costs about half a second against the embedded broker. Close it (or use it as a context
manager) when done: closing flushes and raises if something stayed unacknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

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

    def close(self) -> None:
        """Flush; raises ServiceError if a message stayed unacknowledged."""
        self._producer.close()

    def __enter__(self) -> KafkaPublisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._producer.__exit__(exc_type, exc, traceback)
