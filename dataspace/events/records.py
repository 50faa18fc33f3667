"""What is handed to a Kafka producer: plain records, with no client library's types in them.

The outbox relay and the dead-letter path build these; :mod:`dataspace.adapters.kafka_producer`
sends them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dataspace.events.envelope import EncodedEvent

KafkaHeaders = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True)
class OutgoingRecord:
    """One message to produce, event or not (a dead letter is a copied record)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: KafkaHeaders

    @classmethod
    def of(cls, event: EncodedEvent) -> OutgoingRecord:
        return cls(event.topic, event.key.encode("utf-8"), event.value, event.kafka_headers())

    def header(self, name: str) -> str | None:
        """The first header called ``name``, as text; None when absent or empty."""
        for key, value in self.headers:
            if key == name and value is not None:
                return value.decode("utf-8", errors="replace")
        return None
