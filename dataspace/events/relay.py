"""The outbox relay: publishes committed outbox rows to Kafka, marking each sent only after
the broker acknowledged it.

- At least once: a crash between publishing and marking publishes again; consumers are
  idempotent on event id (ADR 0001).
- Broker down: every attempt fails cleanly, rows stay unsent and are retried with capped
  exponential back-off; nothing is lost, and the relay never spins.
- Per-key order: rows come in id order and the Kafka producer is idempotent (in order, no
  gaps per partition). If one message of a key fails, the later messages of that key in the
  same batch are not marked sent even if the broker took them: they are published again
  after the failed one, so the last message a consumer sees for a key is the newest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from dataspace import faults
from dataspace.events.records import OutgoingRecord
from dataspace.store.db import Database
from dataspace.store.outbox import OutboxMessage, claim_batch, mark_failed, mark_sent
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 500
IDLE_POLL_SECONDS = 0.2


class Sender(Protocol):
    """Sends records in order; returns, per record, None when acknowledged or the error."""

    def send(self, records: Sequence[OutgoingRecord]) -> list[str | None]: ...


@dataclass(frozen=True)
class Backoff:
    """Capped exponential back-off: ``base * factor**(attempts-1)``, at most ``cap``."""

    base: timedelta = timedelta(milliseconds=500)
    factor: float = 2.0
    cap: timedelta = timedelta(seconds=30)

    def delay(self, attempts: int) -> timedelta:
        return min(self.base * self.factor ** max(attempts - 1, 0), self.cap)


@dataclass(frozen=True)
class RelayResult:
    claimed: int
    sent: int
    failed: int


def relay_once(
    db: Database,
    sender: Sender,
    *,
    batch_size: int = BATCH_SIZE,
    backoff: Backoff = Backoff(),
    now: Callable[[], datetime] = utcnow,
) -> RelayResult:
    """Claim one batch, publish it, record the outcome. Safe to call from one relay at a time."""
    messages = claim_batch(db, batch_size, now=now())
    if not messages:
        return RelayResult(0, 0, 0)
    errors = sender.send([as_record(message) for message in messages])
    outcome = {message.id: error for message, error in zip(messages, errors, strict=True)}
    faults.reach("relay.sent-not-marked")
    sent, held = _split_by_key_order(messages, outcome)
    mark_sent(db, [m.id for m in sent])
    for message in held:
        error = outcome.get(message.id) or "an earlier message of its key failed"
        retry_at = now() + backoff.delay(message.attempts + 1)
        mark_failed(db, message.id, retry_at)
        log.warning(
            "outbox message %s (topic %s, key %s) not published: %s; retry at %s",
            message.id,
            message.topic,
            message.key,
            error,
            retry_at.isoformat(),
        )
    return RelayResult(len(messages), len(sent), len(held))


def as_record(message: OutboxMessage) -> OutgoingRecord:
    """The Kafka record of an outbox message: its topic, key, payload and headers."""
    headers = [(name, value.encode()) for name, value in message.headers.items()]
    return OutgoingRecord(message.topic, message.key.encode(), message.payload, headers)


def drain(db: Database, sender: Sender, *, batch_size: int = BATCH_SIZE) -> RelayResult:
    """Relay batch after batch until one comes back short or fails: what was due is sent.

    A short batch means nothing more was due when it was claimed, so no empty claim (one more
    write transaction) is spent to find that out. For a caller that is the only writer of what
    it relays; messages enqueued by others meanwhile wait for the next call.
    """
    claimed = sent = failed = 0
    while True:
        result = relay_once(db, sender, batch_size=batch_size)
        claimed, sent, failed = claimed + result.claimed, sent + result.sent, failed + result.failed
        if result.failed or result.claimed < batch_size:
            return RelayResult(claimed, sent, failed)


def _split_by_key_order(
    messages: Sequence[OutboxMessage], outcome: dict[int, str | None]
) -> tuple[list[OutboxMessage], list[OutboxMessage]]:
    """Acknowledged messages, and those to retry: failed ones and every later one of their key."""
    failed_keys: set[tuple[str, str]] = set()
    sent, held = [], []
    for message in messages:
        key = (message.topic, message.key)
        if key in failed_keys or outcome.get(message.id, "no report") is not None:
            failed_keys.add(key)
            held.append(message)
        else:
            sent.append(message)
    return sent, held


def run(
    db: Database,
    sender: Sender,
    stop: threading.Event,
    *,
    idle_poll: float = IDLE_POLL_SECONDS,
) -> None:
    """Relay until ``stop`` is set; waits ``idle_poll`` between empty or failed batches."""
    while not stop.is_set():
        result = relay_once(db, sender)
        if result.claimed == 0 or result.failed:
            stop.wait(idle_poll)
