"""Send what the outbox holds now, once: for jobs that record events and then end.

A broker that is down leaves the events pending (the relay sends them later); the result says
how many were sent, how many wait, and why, so a job can report it instead of failing.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

from dataspace.adapters.kafka_publisher import KafkaPublisher
from dataspace.config import Settings
from dataspace.errors import ServiceError
from dataspace.store import outbox
from dataspace.store.db import Database
from producers.relay import relay_once

TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Flushed:
    sent: int
    pending: int
    error: str | None


def flush_outbox(
    settings: Settings, db: Database, publisher: KafkaPublisher | None = None
) -> Flushed:
    """Relay the outbox until a claim comes back empty or the broker fails.

    Empty, not just short: agents enqueue receipts meanwhile. ``publisher`` is the process's
    own (kept open by its owner); without one, a publisher is made for this call and closed.
    """
    sent, error = 0, None
    try:
        with ExitStack() as owned:
            if publisher is None:
                # librdkafka logs every refused connection; the result says it once instead.
                publisher = owned.enter_context(
                    KafkaPublisher(settings, timeout=TIMEOUT_SECONDS, log_level="2")
                )
            while True:
                result = relay_once(db, publisher)
                sent += result.sent
                if result.failed:
                    error = f"Kafka at {settings.bootstrap_servers} did not acknowledge the events"
                if result.failed or result.claimed == 0:
                    break
    except ServiceError as exc:
        error = str(exc)
    with db.transaction() as session:
        pending = outbox.pending_count(session)
    return Flushed(sent, pending, error)
