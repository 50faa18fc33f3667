"""The subscriber's agent: announcements in, verified Parquet and signed receipts out.

The story (:func:`subscribe`):

1. make sure the event topics and this group's dead-letter topic exist;
2. with ``resync``, first fetch every delivery the control plane lists as due and the
   landing directory does not hold yet (a broker that lost its log loses nothing);
3. join the group ``dataspace-subscriber-<id>`` on the DeliveryAnnounced topic and hand
   each announcement keyed to us to a worker (:mod:`dataspace.agent.worker`): verify, grant,
   download, land, receipt, or dead-letter;
4. commit each partition's offset only up to the first announcement not yet finished
   (:mod:`dataspace.agent.offsets`), so nothing is committed before it landed and was receipted;
5. with ``once``, stop when nothing has arrived for ``idle_seconds`` and nothing is in
   flight; otherwise run until stopped (Ctrl-C), then finish what is in flight and leave.

The topic is shared by every subscriber: a message keyed to another participant is theirs
and is passed over unread. Only one keyed to us that turns out false (forged, malformed,
addressed to someone else) is dead-lettered.

Polling is kept apart from downloading (DESIGN §5: a subscriber busy downloading stops
polling): downloads run on worker threads while this thread keeps polling; when
``max_in_flight`` announcements are in hand the partitions are paused, not left unpolled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dataspace.adapters.kafka import ensure_topics
from dataspace.adapters.kafka_access import subscriber_group as group_for
from dataspace.adapters.kafka_consumer import GroupConsumer, Received
from dataspace.adapters.kafka_producer import EventProducer
from dataspace.agent.control_plane import ControlPlane
from dataspace.agent.landed import LandedLog
from dataspace.agent.offsets import InOrderOffsets
from dataspace.agent.worker import (
    Deferred,
    DeliveryWorker,
    DownloadProgress,
    Duplicate,
    Expected,
    Landed,
    NoProgress,
    Outcome,
    Refused,
    Rejected,
    Retry,
    WorkerContext,
)
from dataspace.config import Settings
from dataspace.errors import ServiceError
from dataspace.events.deadletter import dead_letter_topic
from dataspace.events.registry import default_registry

log = logging.getLogger(__name__)

# How long one poll waits for an announcement. A message ends the wait at once, so this only
# sets how soon the loop notices a finished delivery (while some are in hand), a stop, or
# the end of ``once``'s idle time. An assigned agent with nothing in hand waits long: a hundred idle
# agents on one host would otherwise wake a thousand times a second between them.
POLL_SECONDS = 0.1
IDLE_POLL_SECONDS = 1.0
# Every agent reads every announcement (one group per subscriber) and skips the others'.
# Skipping moves the committable offset, but committing it at once would cost a round trip
# to the broker per skipped message (10,000 for 100 agents and 100 deliveries); it waits
# for the agent's own next landing or this long. Committing later only means a restart
# skips those messages again.
SKIPPED_COMMIT_SECONDS = 1.0
ONCE_RETRY = Retry(attempts=4)
FOREVER_RETRY = Retry(attempts=None)


def announcements_topic(subscriber: str) -> str:
    """The subscriber's own topic of DeliveryAnnounced events: no one else's arrive there."""
    return default_registry().topic("DeliveryAnnounced", subscriber)


@dataclass(frozen=True)
class SubscribeOptions:
    once: bool = False
    resync: bool = False
    idle_seconds: float = 2.0
    workers: int = 2
    max_in_flight: int = 8
    assignment_timeout: float = 60.0
    group_id: str | None = None  # default: dataspace-subscriber-<id>
    retry: Retry | None = None  # default: a few attempts with ``once``, forever otherwise


class SubscribeWatcher(Protocol):
    """Told of each change while the agent runs (a live status line, say); called on the
    polling thread, so it must return at once and never raise."""

    def assigned(self, partitions: list[tuple[str, int]]) -> None: ...
    def handled(self, outcome: Outcome, summary: SubscribeSummary) -> None: ...


class NoWatcher:
    def assigned(self, partitions: list[tuple[str, int]]) -> None:
        pass

    def handled(self, outcome: Outcome, summary: SubscribeSummary) -> None:
        pass


@dataclass
class SubscribeSummary:
    """What one run did; ``deferred`` deliveries are retried on the next run. ``watcher`` is
    told of each outcome as it is added."""

    subscriber: str
    watcher: SubscribeWatcher = field(default_factory=NoWatcher, repr=False, compare=False)
    landed: list[Landed] = field(default_factory=list)
    duplicates: int = 0
    others: int = 0  # messages keyed to other subscribers, passed over
    rejected: list[Rejected] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    deferred: list[Deferred] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def rows(self) -> int:
        return sum(item.delivery.rows for item in self.landed)

    @property
    def bytes(self) -> int:
        return sum(item.delivery.bytes for item in self.landed)

    def add(self, outcome: Outcome) -> None:
        if isinstance(outcome, Landed):
            self.landed.append(outcome)
        elif isinstance(outcome, Duplicate):
            self.duplicates += 1
        elif isinstance(outcome, Rejected):
            self.rejected.append(outcome)
        elif isinstance(outcome, Refused):
            self.refused.append(outcome)
        else:
            self.deferred.append(outcome)
        self.watcher.handled(outcome, self)

    def to_json(self) -> dict[str, Any]:
        return {
            "subscriber": self.subscriber,
            "landed": [
                {
                    "deliveryId": item.delivery.delivery_id,
                    "product": item.delivery.product_id,
                    "version": item.delivery.version,
                    "rows": item.delivery.rows,
                    "bytes": item.delivery.bytes,
                    "path": str(item.path),
                }
                for item in self.landed
            ],
            "duplicates": self.duplicates,
            "others": self.others,
            "rejected": [
                {"reason": r.reason.value, "subject": r.subject, "detail": r.detail}
                for r in self.rejected
            ],
            "refused": [{"deliveryId": r.delivery_id, "reason": r.reason} for r in self.refused],
            "deferred": [{"subject": d.subject, "detail": d.detail} for d in self.deferred],
            "rows": self.rows,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "interrupted": self.interrupted,
        }


def subscribe(
    settings: Settings,
    control: ControlPlane,
    landing: Path,
    options: SubscribeOptions = SubscribeOptions(),
    *,
    progress: DownloadProgress | None = None,
    stop: threading.Event | None = None,
    watcher: SubscribeWatcher | None = None,
) -> SubscribeSummary:
    """Land every delivery announced to ``control.subscriber``; see the module docstring."""
    started = time.monotonic()
    stop = stop or threading.Event()
    group = options.group_id or group_for(control.subscriber)
    ensure_topics(settings, [announcements_topic(control.subscriber), dead_letter_topic(group)])
    summary = SubscribeSummary(control.subscriber, watcher=watcher or NoWatcher())
    with _workers(settings, control, landing, options, group, progress, stop) as (worker, pool):
        try:
            if options.resync:
                _replay_due(control, worker, pool, summary)
            _Loop(settings, group, worker, pool, summary, options, stop).run()
        finally:
            stop.set()  # workers still retrying give up, so the pool can shut down
    summary.seconds = time.monotonic() - started
    return summary


@contextmanager
def _workers(  # noqa: PLR0917 (private: the pieces subscribe() already holds)
    settings: Settings,
    control: ControlPlane,
    landing: Path,
    options: SubscribeOptions,
    group: str,
    progress: DownloadProgress | None,
    stop: threading.Event,
) -> Iterator[tuple[DeliveryWorker, ThreadPoolExecutor]]:
    retry = options.retry or (ONCE_RETRY if options.once else FOREVER_RETRY)
    with (
        LandedLog(landing) as landed,
        EventProducer(settings) as dead_letters,
        ThreadPoolExecutor(options.workers, thread_name_prefix="delivery") as pool,
    ):
        context = WorkerContext(
            control,
            landed,
            landing,
            dead_letters,
            group,
            retry,
            stop.wait,
            progress or NoProgress(),
        )
        yield DeliveryWorker(context), pool


def _replay_due(
    control: ControlPlane,
    worker: DeliveryWorker,
    pool: ThreadPoolExecutor,
    summary: SubscribeSummary,
) -> None:
    due = control.due()
    log.info("resync: %d deliveries due to %s", len(due), control.subscriber)
    for outcome in pool.map(worker.fetch, [Expected.due(view) for view in due]):
        summary.add(outcome)


@dataclass
class _Job:
    message: Received
    future: Future[Outcome]


class _Loop:
    """The polling thread: hand out, collect, commit in order, pause when full."""

    def __init__(  # noqa: PLR0917 (private; built once by subscribe())
        self,
        settings: Settings,
        group: str,
        worker: DeliveryWorker,
        pool: ThreadPoolExecutor,
        summary: SubscribeSummary,
        options: SubscribeOptions,
        stop: threading.Event,
    ) -> None:
        self._settings, self._group, self._worker, self._pool = settings, group, worker, pool
        self._summary, self._options, self._stop = summary, options, stop
        self._key = summary.subscriber.encode()
        self._offsets = InOrderOffsets()
        self._jobs: list[_Job] = []
        self._paused = False
        self._last_activity = time.monotonic()
        self._last_commit = time.monotonic()
        self._own_finished = False

    def run(self) -> None:
        topic = announcements_topic(self._summary.subscriber)
        told = self._summary.watcher.assigned
        with GroupConsumer(self._settings, self._group, [topic], on_assign=told) as consumer:
            try:
                self._consume(consumer)
            except KeyboardInterrupt:
                log.info("interrupted: finishing the deliveries in hand")
                self._summary.interrupted = True
                self._stop.set()
            self._drain(consumer)

    def _consume(self, consumer: GroupConsumer) -> None:
        waiting_since = time.monotonic()
        while not self._finished(consumer, waiting_since):
            # As many as may be started now: a batch never takes more than max_in_flight.
            room = max(1, self._options.max_in_flight - len(self._jobs))
            for message in consumer.poll_many(self._poll_seconds(consumer), room):
                self._take(message)
            self._collect()
            self._commit(consumer)
            self._throttle(consumer)

    def _finished(self, consumer: GroupConsumer, waiting_since: float) -> bool:
        if self._stop.is_set():
            return True
        if not consumer.assigned.is_set():
            if time.monotonic() - waiting_since > self._options.assignment_timeout:
                raise ServiceError(
                    f"Kafka assigned no partition to group {self._group!r} within "
                    f"{self._options.assignment_timeout:.0f} s; check the broker "
                    "(`dataspace status`) and that no other agent runs for this subscriber."
                )
            self._last_activity = time.monotonic()
            return False
        idle = time.monotonic() - self._last_activity
        return self._options.once and not self._jobs and idle >= self._options.idle_seconds

    def _poll_seconds(self, consumer: GroupConsumer) -> float:
        # Until assigned, short: ``once``'s idle time starts from the assignment (_finished).
        if self._jobs or not consumer.assigned.is_set():
            return POLL_SECONDS
        if self._options.once:
            idle_left = self._options.idle_seconds - (time.monotonic() - self._last_activity)
            return min(IDLE_POLL_SECONDS, max(POLL_SECONDS, idle_left))
        return IDLE_POLL_SECONDS

    def _take(self, message: Received) -> None:
        self._last_activity = time.monotonic()
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        self._offsets.started(topic, partition, offset)
        key = message.key()
        if key is not None and key != self._key:
            self._summary.others += 1
            self._offsets.finished(topic, partition, offset)
            return
        self._jobs.append(_Job(message, self._pool.submit(self._worker.handle, message)))

    def _collect(self) -> None:
        for job in [job for job in self._jobs if job.future.done()]:
            self._jobs.remove(job)
            self._last_activity = time.monotonic()
            outcome = job.future.result()  # a bug in a worker surfaces here, not silently
            self._summary.add(outcome)
            self._own_finished = True
            if not isinstance(outcome, Deferred):
                message = job.message
                self._offsets.finished(message.topic(), message.partition(), message.offset())

    def _commit(self, consumer: GroupConsumer, *, at_once: bool = False) -> None:
        """Commit what finished: at once after an own delivery (or when asked), else at
        most every SKIPPED_COMMIT_SECONDS (only skipped messages moved the offsets)."""
        waited = time.monotonic() - self._last_commit >= SKIPPED_COMMIT_SECONDS
        if not (at_once or self._own_finished or waited):
            return
        self._last_commit, self._own_finished = time.monotonic(), False
        positions = self._offsets.committable()
        if not positions:
            return
        try:
            consumer.commit(positions)
        except ServiceError as exc:
            log.warning("%s", exc)
            return
        self._offsets.committed(positions)

    def _throttle(self, consumer: GroupConsumer) -> None:
        full = len(self._jobs) >= self._options.max_in_flight
        if full != self._paused:
            (consumer.pause if full else consumer.resume)()
            self._paused = full

    def _drain(self, consumer: GroupConsumer) -> None:
        """Wait for the deliveries in hand (a stop cuts their retries short), then commit."""
        for job in self._jobs:
            job.future.exception()
        self._collect()
        self._commit(consumer, at_once=True)
