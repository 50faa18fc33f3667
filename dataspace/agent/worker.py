"""One announcement, from the wire to a signed receipt: the steps the subscriber agent runs.

:meth:`DeliveryWorker.handle` takes a consumed Kafka message and :meth:`DeliveryWorker.fetch`
a delivery the control plane says is due (resync); both end in exactly one :data:`Outcome`:

- ``Landed``: verified under ``<landing>/<product>/<version>/`` and receipted;
- ``Duplicate``: already landed (or being landed by another worker);
- ``Refused``: the control plane refused the grant (agreement ended, not ours, suspended);
  nothing lands, and asking again will not help until the facts change;
- ``Rejected``: the event or the bytes cannot be trusted (bad signature, unknown schema,
  not addressed to us, checksum mismatch); the message was copied to the dead-letter topic;
- ``Deferred``: the control plane, the store or the broker stayed unreachable; nothing was
  decided and the message must not be committed.

Unreachable services (:class:`ServiceError`, network and disk ``OSError``) are retried with
capped exponential back-off; the wait is injected (``stop.wait``), so a stop request ends it
and tests need not sleep. Any other exception is a bug and propagates. Thread-safe: several
workers may run side by side; two deliveries that land on the same path take turns.
"""

from __future__ import annotations

import http.client
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from dataspace import faults
from dataspace.agent.control_plane import ControlPlane
from dataspace.agent.landed import LandedLog
from dataspace.controlplane.read_models import DeliveryView, Grant
from dataspace.dataplane.download import ChecksumMismatch, Opener, Readable, land, url_opener
from dataspace.dataplane.layout import StoredObject
from dataspace.errors import DataspaceError, ServiceError
from dataspace.events.deadletter import ConsumedMessage, RecordSender, dead_letter
from dataspace.events.envelope import DecodedEvent, EventRejected, RejectReason, decode
from dataspace.events.envelope import is_addressed_to as addressed_to
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")
TRANSIENT = (ServiceError, OSError, http.client.HTTPException)


@dataclass(frozen=True)
class Expected:
    """What the provider announced (or the control plane lists): what must land."""

    delivery_id: str
    product_id: str
    version: int
    sha256: str
    rows: int
    bytes: int

    @classmethod
    def announced(cls, event: DecodedEvent) -> Expected:
        body = event.body
        return cls(
            str(body["delivery_id"]),
            str(body["product_id"]),
            int(body["version"]),
            str(body["sha256"]),
            int(body["row_count"]),
            int(body["byte_size"]),
        )

    @classmethod
    def due(cls, view: DeliveryView) -> Expected:
        return cls(
            view.delivery_id, view.product_id, view.version, view.sha256, view.rows, view.bytes
        )


@dataclass(frozen=True)
class Landed:
    delivery: Expected
    path: Path


@dataclass(frozen=True)
class Duplicate:
    delivery_id: str


@dataclass(frozen=True)
class Refused:
    delivery_id: str
    reason: str


@dataclass(frozen=True)
class Rejected:
    reason: RejectReason
    detail: str
    subject: str  # the event id, or the delivery id
    dead_letter_topic: str | None  # None when there was no message to copy (resync)


@dataclass(frozen=True)
class Deferred:
    subject: str
    detail: str


Outcome = Landed | Duplicate | Refused | Rejected | Deferred


@dataclass(frozen=True)
class Retry:
    """Capped exponential back-off; ``attempts=None`` retries until stopped."""

    attempts: int | None = None
    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.base * self.factor ** max(attempt - 1, 0), self.cap))

    def exhausted(self, attempt: int) -> bool:
        return self.attempts is not None and attempt >= self.attempts


class DownloadProgress(Protocol):
    """Told about the bytes of each download; called from worker threads."""

    def started(self, delivery_id: str, total_bytes: int) -> None: ...
    def advanced(self, delivery_id: str, count: int) -> None: ...
    def finished(self, delivery_id: str) -> None: ...


class NoProgress:
    def started(self, delivery_id: str, total_bytes: int) -> None:
        return None

    def advanced(self, delivery_id: str, count: int) -> None:
        return None

    def finished(self, delivery_id: str) -> None:
        return None


class GaveUp(ServiceError):
    """A transient failure outlasted the retries (or a stop was requested): the delivery is
    deferred, not refused, and is fetched again by a later run or a resync."""


@dataclass(frozen=True)
class WorkerContext:
    """Everything a worker needs; shared by all workers of one agent."""

    control: ControlPlane
    landed: LandedLog
    landing: Path
    dead_letters: RecordSender
    group_id: str
    retry: Retry
    wait: Callable[[float], bool]  # sleeps; True when the agent is stopping
    progress: DownloadProgress


class DeliveryWorker:
    """Runs announcements and due deliveries to their outcome (see the module docstring)."""

    def __init__(self, context: WorkerContext) -> None:
        self._context = context
        self._lock = threading.Lock()
        self._claimed: set[str] = set()
        self._paths: dict[tuple[str, int], threading.Lock] = {}

    def handle(self, message: ConsumedMessage) -> Outcome:
        """Verify a consumed announcement, then fetch it; dead-letter what cannot be trusted."""
        try:
            outcome = self._verified(message)
        except GaveUp as exc:
            return Deferred(_describe(message), str(exc))
        if isinstance(outcome, Rejected):
            return self._dead_letter(message, outcome)
        return outcome

    def _verified(self, message: ConsumedMessage) -> Outcome:
        control = self._context.control
        try:
            event = self._retrying(
                lambda: decode(
                    message.value(), message.headers(), control.public_key_of, topic=message.topic()
                )
            )
        except EventRejected as rejected:
            return Rejected(rejected.reason, str(rejected), rejected.event_id or "", None)
        if not addressed_to(event, control.subscriber):
            detail = (
                f"The event {event.event_id} is addressed to {event.body.get('subscriber_id')!r}, "
                f"not to {control.subscriber!r}, but was keyed to it."
            )
            return Rejected(RejectReason.NOT_ADDRESSED, detail, event.event_id, None)
        return self.fetch(Expected.announced(event))

    def fetch(self, expected: Expected) -> Outcome:
        """Grant, download, verify, land and receipt one delivery, once."""
        if not self._claim(expected.delivery_id):
            return Duplicate(expected.delivery_id)
        try:
            return self._retrying(lambda: self._fetch_once(expected))
        except GaveUp as exc:
            return Deferred(expected.delivery_id, str(exc))
        except ChecksumMismatch as exc:
            return Rejected(RejectReason.CHECKSUM_MISMATCH, str(exc), expected.delivery_id, None)
        finally:
            with self._lock:
                self._claimed.discard(expected.delivery_id)

    def _fetch_once(self, expected: Expected) -> Outcome:
        control = self._context.control
        try:
            grant = control.grant(expected.delivery_id)
        except ServiceError:
            raise
        except DataspaceError as refused:
            log.warning("grant refused: delivery=%s reason=%s", expected.delivery_id, refused)
            return Refused(expected.delivery_id, str(refused))
        _require_as_announced(grant, expected)
        with self._path_lock(expected):
            path = land(
                self._opener(grant, expected),
                _stored(expected),
                self._context.landing,
                expected.product_id,
                expected.version,
            )
        landed_at = utcnow()
        faults.reach("receipt.landed-not-sent")
        try:
            control.receipt(expected.delivery_id, expected.sha256, expected.rows, landed_at)
        except ServiceError:
            raise
        except DataspaceError as refused:
            return Refused(expected.delivery_id, f"the receipt was refused: {refused}")
        self._remember(expected, landed_at)
        log.info("landed: delivery=%s path=%s", expected.delivery_id, path)
        return Landed(expected, path)

    def _remember(self, expected: Expected, landed_at: datetime) -> None:
        self._context.landed.add(
            expected.delivery_id,
            expected.product_id,
            expected.version,
            expected.sha256,
            expected.rows,
            landed_at,
        )

    def _dead_letter(self, message: ConsumedMessage, rejected: Rejected) -> Outcome:
        context = self._context
        try:
            topic = self._retrying(
                lambda: dead_letter(
                    context.dead_letters,
                    message,
                    rejected.reason,
                    rejected.detail,
                    group_id=context.group_id,
                )
            )
        except GaveUp as exc:
            return Deferred(_describe(message), str(exc))
        return Rejected(rejected.reason, rejected.detail, rejected.subject, topic)

    def _retrying(self, step: Callable[[], T]) -> T:
        retry, attempt = self._context.retry, 0
        while True:
            attempt += 1
            try:
                return step()
            except TRANSIENT as exc:
                if retry.exhausted(attempt):
                    raise GaveUp(f"gave up after {attempt} attempts: {exc}") from exc
                delay = retry.delay(attempt)
                log.warning("attempt %d failed (%s); retrying in %.1f s", attempt, exc, delay)
                if self._context.wait(delay):
                    raise GaveUp(f"stopped while retrying: {exc}") from exc

    def _claim(self, delivery_id: str) -> bool:
        with self._lock:
            if delivery_id in self._claimed or self._context.landed.has(delivery_id):
                return False
            self._claimed.add(delivery_id)
            return True

    def _path_lock(self, expected: Expected) -> threading.Lock:
        with self._lock:
            return self._paths.setdefault((expected.product_id, expected.version), threading.Lock())

    def _opener(self, grant: Grant, expected: Expected) -> Opener:
        progress, opener = self._context.progress, url_opener(grant.url)

        @contextmanager
        def counted() -> Iterator[Readable]:
            progress.started(expected.delivery_id, expected.bytes)
            try:
                with opener() as source:
                    yield _Counting(source, lambda n: progress.advanced(expected.delivery_id, n))
            finally:
                progress.finished(expected.delivery_id)

        return counted


class _Counting:
    def __init__(self, source: Readable, count: Callable[[int], None]) -> None:
        self._source, self._count = source, count

    def read(self, size: int, /) -> bytes:
        chunk = self._source.read(size)
        self._count(len(chunk))
        return chunk


def _require_as_announced(grant: Grant, expected: Expected) -> None:
    granted = (grant.product_id, grant.version, grant.sha256, grant.rows, grant.bytes)
    announced = (expected.product_id, expected.version, expected.sha256, expected.rows)
    if granted != (*announced, expected.bytes):
        raise ChecksumMismatch(
            f"The control plane grants {expected.delivery_id!r} as {granted[:4]}, but it was "
            f"announced as {announced}; nothing was landed."
        )


def _stored(expected: Expected) -> StoredObject:
    # The object key is the provider's business (ADR 0004); the delivery id names it here.
    return StoredObject(
        f"delivery {expected.delivery_id}", expected.sha256, expected.rows, expected.bytes
    )


def _describe(message: ConsumedMessage) -> str:
    return f"{message.topic()}[{message.partition()}]@{message.offset()}"
