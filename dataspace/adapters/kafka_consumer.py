"""A consumer-group member for agents that commit explicitly: confluent-kafka behind five calls.

Guarantees: offsets are never committed automatically; :meth:`GroupConsumer.commit` commits
exactly the positions given and returns only once the broker stored them (or raises
ServiceError); :meth:`GroupConsumer.poll_many` returns the messages at hand (maybe none) and
turns a fatal client error into ServiceError (other client errors are logged and retried by
librdkafka).
Pausing keeps the member in its group while it polls without fetching, so a busy agent does
not exceed ``max.poll.interval.ms``. Not thread-safe: one thread polls, commits and closes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from dataspace.closing import Closing
from dataspace.config import Settings
from dataspace.errors import ServiceError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """A consumed message as plain data; it fits ``deadletter.ConsumedMessage``."""

    _topic: str
    _partition: int
    _offset: int
    _key: bytes | None
    _value: bytes | None
    _headers: tuple[tuple[str, bytes | None], ...]

    @classmethod
    def of(cls, message: Message) -> Received:
        headers = tuple(
            (name, value.encode() if isinstance(value, str) else value)
            for name, value in _header_items(message.headers())
        )
        return cls(
            message.topic() or "",
            message.partition() or 0,
            message.offset() or 0,
            message.key(),
            message.value(),
            headers,
        )

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> Sequence[tuple[str, bytes | None]]:
        return self._headers


def _header_items(headers: Any) -> list[tuple[str, str | bytes | None]]:
    if headers is None:
        return []
    return list(headers.items() if isinstance(headers, dict) else headers)


class GroupConsumer(Closing):
    """One member of ``group_id`` reading ``topics``; close it (or use ``with``)."""

    def __init__(
        self,
        settings: Settings,
        group_id: str,
        topics: Sequence[str],
        *,
        on_assign: Callable[[list[tuple[str, int]]], None] | None = None,
    ) -> None:
        """``on_assign`` is told each new assignment ``[(topic, partition)]``, on the thread
        that polls (the client calls it from within ``poll``)."""
        self._servers = settings.bootstrap_servers
        self._consumer = Consumer(settings.kafka_consumer_config(group_id))
        self.assigned = threading.Event()
        self._told = on_assign
        self._consumer.subscribe(list(topics), on_assign=self._on_assign)
        self._closed = False

    def _on_assign(self, _consumer: Any, partitions: list[TopicPartition]) -> None:
        assignment = [(p.topic, p.partition) for p in partitions]
        log.info("assigned %s", assignment)
        self.assigned.set()
        if self._told is not None:
            self._told(assignment)

    def poll_many(self, timeout: float, limit: int) -> list[Received]:
        """Up to ``limit`` messages: waits at most ``timeout`` for the first, then takes what
        the client already holds without waiting (an agent passes over most announcements).

        ``Consumer.consume(n, timeout)`` alone would wait out its whole timeout unless ``n``
        messages came, delaying a single announcement by that long.
        """
        first = self._consumer.poll(timeout)
        if first is None:
            return []
        held = self._consumer.consume(num_messages=limit - 1, timeout=0) if limit > 1 else []
        received = []
        for message in (first, *held):
            error = message.error()
            if error is None:
                received.append(Received.of(message))
            elif error.fatal():
                raise ServiceError(
                    f"The Kafka consumer at {self._servers} failed: {error.str()}; "
                    "restart the agent."
                )
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("Kafka consumer error (retried by the client): %s", error.str())
        return received

    def commit(self, positions: Sequence[tuple[str, int, int]]) -> None:
        """Store ``(topic, partition, next offset)`` for the group; ServiceError if refused."""
        offsets = [
            TopicPartition(topic, partition, offset) for topic, partition, offset in positions
        ]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            raise ServiceError(
                f"Kafka at {self._servers} did not store the group's offsets: "
                f"{exc.args[0].str()}; they are committed again on the next attempt."
            ) from exc

    def pause(self) -> None:
        self._consumer.pause(self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(self._consumer.assignment())

    def close(self) -> None:
        """Leave the group (idempotent); committed offsets stay."""
        if not self._closed:
            self._closed = True
            self._consumer.close()
