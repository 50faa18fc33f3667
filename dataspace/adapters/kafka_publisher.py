"""Publishing outbox messages with an idempotent confluent-kafka producer.

Guarantees: messages of one partition are written in the order given, without gaps or
duplicates from the producer's own retries; a message counts as published only when its
delivery report says so. A message not acknowledged within ``timeout`` is reported failed
(librdkafka's own ``message.timeout.ms`` is set to the same bound, so it is not delivered
behind our back later). Not thread-safe: one relay owns one publisher.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, Message, Producer

from dataspace.config import Settings
from dataspace.store.outbox import OutboxMessage

DEFAULT_TIMEOUT_SECONDS = 10.0
# confluent-kafka's Message is generic only in its type stubs, so the alias is a string.
DeliveryCallback = Callable[[KafkaError | None, "Message[bytes, bytes]"], None]


class KafkaPublisher:
    def __init__(self, settings: Settings, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._producer = Producer(
            settings.kafka_producer_config(
                **{
                    "enable.idempotence": "true",
                    "acks": "all",
                    "linger.ms": "5",
                    "message.timeout.ms": str(int(timeout * 1000)),
                }
            )
        )

    def publish(self, messages: Sequence[OutboxMessage]) -> dict[int, str | None]:
        outcome: dict[int, str | None] = {}

        def report(message_id: int) -> DeliveryCallback:
            def on_delivery(error: KafkaError | None, _message: Message[bytes, bytes]) -> None:
                outcome[message_id] = None if error is None else error.str()

            return on_delivery

        for message in messages:
            self._produce(message, report(message.id))
        self._producer.flush(self.timeout + 1.0)
        for message in messages:
            outcome.setdefault(message.id, f"not acknowledged within {self.timeout:.0f} s")
        return outcome

    def _produce(self, message: OutboxMessage, on_delivery: DeliveryCallback) -> None:
        while True:
            try:
                self._producer.produce(
                    message.topic,
                    key=message.key.encode(),
                    value=message.payload,
                    headers=list(message.headers.items()),
                    on_delivery=on_delivery,
                )
            except BufferError:
                self._producer.poll(0.1)  # the local queue is full: let reports drain it
            else:
                return

    def close(self) -> None:
        self._producer.flush(self.timeout)
