"""Sending to Kafka so that a return means "the broker has it": the event producer, and the
outbox relay's sender.

:class:`EventProducer` guarantees:

- **acknowledged or raised**: :meth:`~EventProducer.send` and :meth:`~EventProducer.send_many`
  return only after every message got a successful delivery report from the broker (acks=all);
  otherwise they raise :class:`ServiceError` with a sentence. Nothing is left to an
  asynchronous callback that nobody reads.
- **idempotent, ordered per key**: ``enable.idempotence=true`` lets librdkafka retry without
  duplicating or reordering messages within a partition, so per-key order holds.
- **at least once across failures**: a message whose report did not come within the delivery
  timeout may still reach the broker later. Callers (the outbox relay) therefore re-send on
  error, and consumers are idempotent on the event id.
- **thread-safe** as confluent-kafka's Producer is; a call waits for *all* messages in flight,
  including other threads', so share one producer only where that is acceptable.

Close it (or use it as a context manager): closing flushes what is still queued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from dataspace.adapters.kafka import ensure_topics
from dataspace.closing import Closing
from dataspace.config import Settings
from dataspace.errors import ServiceError
from dataspace.events.envelope import EncodedEvent
from dataspace.events.records import OutgoingRecord

log = logging.getLogger(__name__)

DEFAULT_DELIVERY_TIMEOUT = 30.0
SENDER_TIMEOUT_SECONDS = 10.0
# flush() waits a little longer than librdkafka's own per-message timeout, so every message
# has its definitive report (delivered or expired) by the time flush() returns.
FLUSH_GRACE_SECONDS = 5.0
QUEUE_FULL_WAIT_SECONDS = 0.1

# The report of a message the broker did not answer for within the delivery timeout.
UNREPORTED = KafkaError(KafkaError._MSG_TIMED_OUT, "no delivery report within the timeout")


class EventProducer(Closing):
    """An idempotent, acks=all Kafka producer whose sends return only once acknowledged."""

    def __init__(
        self,
        settings: Settings,
        *,
        delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT,
        **overrides: str,
    ) -> None:
        self._servers = settings.bootstrap_servers
        self._timeout = delivery_timeout
        config = settings.kafka_producer_config(
            **{
                "enable.idempotence": "true",
                "acks": "all",
                "message.timeout.ms": str(int(delivery_timeout * 1000)),
                **overrides,
            }
        )
        self._producer = Producer(config)

    def send(self, event: EncodedEvent) -> None:
        """Produce one event and wait for the broker's acknowledgement."""
        self.send_records([OutgoingRecord.of(event)])

    def send_many(self, events: Iterable[EncodedEvent]) -> None:
        """Produce events in order, flush once, and check every delivery report."""
        self.send_records([OutgoingRecord.of(event) for event in events])

    def send_records(self, records: Sequence[OutgoingRecord]) -> None:
        """Produce raw records in order; the guarantees of :meth:`send` hold for each."""
        reports = self.deliver(records)
        unreported = sum(1 for report in reports if report is UNREPORTED)
        if unreported:
            raise ServiceError(
                f"Kafka at {self._servers} acknowledged {len(records) - unreported} of "
                f"{len(records)} messages within {self._timeout:.0f} s; check that the broker "
                "is up (`dataspace status`) and send again (consumers ignore duplicates)."
            )
        _raise_first_failure(list(zip(records, reports, strict=True)), self._servers)
        log.debug("Kafka acknowledged %d messages", len(records))

    def deliver(self, records: Sequence[OutgoingRecord]) -> list[KafkaError | None]:
        """Produce in order, flush once; per record: None if acknowledged, else its error.

        A record with no report within the delivery timeout gets :data:`UNREPORTED`. For
        callers that retry record by record (the outbox relay); others use :meth:`send_records`.
        """
        reports: list[KafkaError | None] = [UNREPORTED] * len(records)
        for index, record in enumerate(records):
            self._produce(record, reports, index)
        self._producer.flush(self._timeout + FLUSH_GRACE_SECONDS)
        return reports

    def _produce(
        self, record: OutgoingRecord, reports: list[KafkaError | None], index: int
    ) -> None:
        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            reports[index] = error

        while True:
            try:
                self._producer.produce(
                    record.topic,
                    value=record.value,
                    key=record.key,
                    headers=list(record.headers),
                    on_delivery=on_delivery,
                )
            except BufferError:
                # The local queue is full: serve delivery reports to make room, then retry.
                self._producer.poll(QUEUE_FULL_WAIT_SECONDS)
            except KafkaException as exc:
                raise ServiceError(
                    f"Kafka refused a message for {record.topic!r} before sending it: "
                    f"{exc.args[0].str()}; check the topic name and message size."
                ) from exc
            else:
                return

    def close(self) -> None:
        """Flush what is queued; raise if something could not be delivered."""
        remaining = self._producer.flush(self._timeout + FLUSH_GRACE_SECONDS)
        if remaining:
            log.error("%d messages unacknowledged at close", remaining)
            raise ServiceError(
                f"{remaining} messages were still unacknowledged by Kafka at {self._servers} "
                "when the producer closed; they are lost unless sent again."
            )


def _raise_first_failure(
    reports: Sequence[tuple[OutgoingRecord, KafkaError | None]], servers: str
) -> None:  # reports pair each record with its error, None when acknowledged
    failures = [(record, error) for record, error in reports if error is not None]
    if not failures:
        return
    record, error = failures[0]
    advice = (
        "the producer is unusable; create a new one"
        if error.fatal()
        else "check the broker (`dataspace status`) and send again"
    )
    raise ServiceError(
        f"Kafka at {servers} rejected {len(failures)} of {len(reports)} messages; the first, "
        f"for {record.topic!r}, with {error.str()}: {advice}."
    ) from KafkaException(error)


class KafkaSender(Closing):
    """The outbox relay's sender: records out, per record None when acknowledged or the error.

    Guarantees (those of :class:`EventProducer`): records of one partition are written in the
    order given, without gaps or duplicates from the producer's own retries; a record counts
    as sent only when its delivery report says so. A record with no report within ``timeout``
    is reported failed; librdkafka's own ``message.timeout.ms`` is the same bound, so it is not
    delivered behind the relay's back much later. One relay owns one sender, and a process
    keeps one open for all its relaying: creating an idempotent producer costs about half a
    second against the embedded broker. Close it (or use it as a context manager) when done:
    closing flushes and raises if something stayed unacknowledged.
    """

    def __init__(
        self, settings: Settings, timeout: float = SENDER_TIMEOUT_SECONDS, **overrides: str
    ) -> None:
        options = {"linger.ms": "5", **overrides}
        self._settings = settings
        self._producer = EventProducer(settings, delivery_timeout=timeout, **options)
        self._topics: set[str] = set()  # known to exist: checked once per sender

    def send(self, records: Sequence[OutgoingRecord]) -> list[str | None]:
        # A participant's own topics (events addressed to it) are made at its first event;
        # a broker that does not create topics on demand would otherwise refuse them.
        new = {record.topic for record in records} - self._topics
        if new:
            try:
                ensure_topics(self._settings, new)
            except ServiceError as exc:
                return [str(exc)] * len(records)
            self._topics |= new
        return [
            None if report is None else report.str() for report in self._producer.deliver(records)
        ]

    def close(self) -> None:
        """Flush; raises ServiceError if a record stayed unacknowledged."""
        self._producer.close()
