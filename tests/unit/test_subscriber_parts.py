"""The subscriber agent's parts without a network: offsets, retries, the landed log, a worker."""

from __future__ import annotations

import hashlib
import io
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest

import dataspace.agent.subscriber as subscriber_module
from dataspace.agent.landed import LandedLog
from dataspace.agent.offsets import InOrderOffsets
from dataspace.agent.worker import (
    Deferred,
    DeliveryWorker,
    Duplicate,
    Expected,
    Landed,
    NoProgress,
    Refused,
    Rejected,
    Retry,
    WorkerContext,
)
from dataspace.controlplane.read_models import Grant
from dataspace.dataplane.layout import StoredObject
from dataspace.errors import ServiceError
from dataspace.events.records import OutgoingRecord
from tests.fakes.control_plane import MemoryControlPlane
from tests.worlds.dataplane_data import orders


def test_offsets_are_committed_only_up_to_the_first_unfinished_message() -> None:
    offsets = InOrderOffsets()
    for offset in (10, 11, 12):
        offsets.started("t", 0, offset)
    offsets.started("t", 1, 5)

    offsets.finished("t", 0, 11)
    assert offsets.committable() == []  # 10 is still in hand
    offsets.finished("t", 1, 5)
    offsets.finished("t", 0, 10)
    assert offsets.committable() == [("t", 0, 12), ("t", 1, 6)]
    offsets.committed(offsets.committable())
    assert offsets.committable() == []
    assert offsets.unfinished() == 1
    offsets.finished("t", 0, 12)
    assert offsets.committable() == [("t", 0, 13)]


def test_retry_backs_off_exponentially_up_to_a_cap() -> None:
    retry = Retry(attempts=5, base=0.5, factor=2, cap=3)
    assert [retry.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert (retry.exhausted(4), retry.exhausted(5)) == (False, True)
    assert not Retry().exhausted(10**6)


def test_the_landed_log_survives_a_restart(tmp_path: Path) -> None:
    when = datetime(2026, 11, 24, tzinfo=UTC)
    with LandedLog(tmp_path) as log:
        log.add("dlv-a-1", "p", 1, "0" * 64, 10, when)
        log.add("dlv-a-1", "p", 1, "0" * 64, 10, when)  # idempotent
    with LandedLog(tmp_path) as reopened:
        assert reopened.has("dlv-a-1")
        assert not reopened.has("dlv-a-2")
        assert reopened.ids() == {"dlv-a-1"}


class FakeControlPlane(MemoryControlPlane):
    """One delivery, served from a local file; fails the first ``outages`` grants as
    unreachable; with ``refuse``, its agreement has been revoked."""

    def __init__(self, source: Path, outages: int = 0, *, refuse: bool = False) -> None:
        super().__init__("supplier-01")
        self.outages, self.grants = outages, 0
        data = source.read_bytes()
        stored = StoredObject(
            "purchase-orders/1/part-0.parquet",
            hashlib.sha256(data).hexdigest(),
            pq.ParquetFile(source).metadata.num_rows,
            len(data),
        )
        self.announce(
            "dlv-agr-x-1",
            stored,
            source.as_uri(),
            agreement_id="agr-x",
            product_id="purchase-orders",
            version=1,
            provider="xcmg",
        )
        if refuse:
            self.end("agr-x", "revoked")

    def grant(self, delivery_id: str) -> Grant:
        self.grants += 1
        if self.grants <= self.outages:
            raise ServiceError("the control plane is unreachable")
        return super().grant(delivery_id)


class NoDeadLetters:
    def send_records(self, records: list[OutgoingRecord]) -> None:
        raise AssertionError("nothing should be dead-lettered here")


def worker_for(control: FakeControlPlane, landing: Path, retry: Retry) -> DeliveryWorker:
    waits: list[float] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)  # no sleeping in unit tests
        return False

    context = WorkerContext(
        control, LandedLog(landing), landing, NoDeadLetters(), "g", retry, wait, NoProgress()
    )
    return DeliveryWorker(context)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "object.parquet"
    buffer = io.BytesIO()
    pq.write_table(orders(50), buffer)
    path.write_bytes(buffer.getvalue())
    return path


def expected_of(source: Path, **changes: object) -> Expected:
    data = source.read_bytes()
    facts = {
        "delivery_id": "dlv-agr-x-1",
        "product_id": "purchase-orders",
        "version": 1,
        "sha256": hashlib.sha256(data).hexdigest(),
        "rows": 50,
        "bytes": len(data),
        **changes,
    }
    return Expected(**facts)  # type: ignore[arg-type]


def test_an_outage_is_retried_then_the_delivery_lands_once(source: Path, tmp_path: Path) -> None:
    control = FakeControlPlane(source, outages=2)
    worker = worker_for(control, tmp_path / "landing", Retry(attempts=5))

    outcome = worker.fetch(expected_of(source))
    again = worker.fetch(expected_of(source))

    assert isinstance(outcome, Landed)
    assert outcome.path.read_bytes() == source.read_bytes()
    assert isinstance(again, Duplicate)
    assert (control.grants, control.receipts) == (3, ["dlv-agr-x-1"])


def test_a_lasting_outage_defers_without_landing(source: Path, tmp_path: Path) -> None:
    control = FakeControlPlane(source, outages=100)
    worker = worker_for(control, tmp_path / "landing", Retry(attempts=3))

    outcome = worker.fetch(expected_of(source))

    assert isinstance(outcome, Deferred)
    assert "gave up after 3 attempts" in outcome.detail
    assert control.receipts == []
    assert not (tmp_path / "landing" / "purchase-orders").exists()


def test_a_refused_grant_lands_nothing(source: Path, tmp_path: Path) -> None:
    control = FakeControlPlane(source, refuse=True)
    outcome = worker_for(control, tmp_path / "landing", Retry(attempts=3)).fetch(
        expected_of(source)
    )
    assert isinstance(outcome, Refused)
    assert "revoked" in outcome.reason
    assert control.grants == 1  # a refusal is not retried


def test_a_grant_that_differs_from_the_announcement_is_rejected(
    source: Path, tmp_path: Path
) -> None:
    control = FakeControlPlane(source)
    outcome = worker_for(control, tmp_path / "landing", Retry(attempts=3)).fetch(
        expected_of(source, rows=49)
    )
    assert isinstance(outcome, Rejected)
    assert outcome.reason.value == "checksum_mismatch"
    assert control.receipts == []


class _Message:
    """A consumed announcement: only its coordinates and key matter to the polling loop."""

    def __init__(self, offset: int, key: str) -> None:
        self._offset, self._key = offset, key.encode()

    def topic(self) -> str:
        return "announced"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key


class _Committing:
    def __init__(self) -> None:
        self.commits: list[list[tuple[str, int, int]]] = []

    def commit(self, positions: list[tuple[str, int, int]]) -> None:
        self.commits.append(list(positions))


class _DonePool:
    def submit(self, work: object, message: object) -> Future[object]:
        done: Future[object] = Future()
        done.set_result(Duplicate("dlv-own"))
        return done


def test_skipped_messages_are_committed_at_most_once_a_second_own_ones_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(subscriber_module.time, "monotonic", lambda: now[0])
    loop = subscriber_module._Loop(
        None,  # type: ignore[arg-type] (the loop's settings are read only by run())
        "group",
        SimpleNamespace(handle=None),  # type: ignore[arg-type] (the pool does the work)
        _DonePool(),  # type: ignore[arg-type]
        subscriber_module.SubscribeSummary("sup-001"),
        subscriber_module.SubscribeOptions(),
        threading.Event(),
    )
    consumer = _Committing()

    def poll_round(message: _Message | None = None) -> None:
        if message is not None:
            loop._take(message)  # type: ignore[arg-type]
        loop._collect()
        loop._commit(consumer)  # type: ignore[arg-type]

    for offset in range(3):
        poll_round(_Message(offset, "sup-002"))  # another subscriber's: skipped
    assert consumer.commits == []
    now[0] += subscriber_module.SKIPPED_COMMIT_SECONDS
    poll_round()
    assert consumer.commits == [[("announced", 0, 3)]]

    poll_round(_Message(3, "sup-002"))
    poll_round(_Message(4, "sup-001"))  # its own: committed as soon as it finished
    assert consumer.commits[-1] == [("announced", 0, 5)]
    poll_round(_Message(5, "sup-003"))
    assert len(consumer.commits) == 2
    loop._drain(consumer)  # type: ignore[arg-type]
    assert consumer.commits[-1] == [("announced", 0, 6)]


class _PendingPool:
    def submit(self, work: object, message: object) -> Future[object]:
        return Future()  # a delivery still in hand


def test_an_agent_with_nothing_in_hand_polls_seldom_one_with_work_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [100.0]
    monkeypatch.setattr(subscriber_module.time, "monotonic", lambda: now[0])

    def loop_with(options: subscriber_module.SubscribeOptions) -> subscriber_module._Loop:
        return subscriber_module._Loop(
            None,  # type: ignore[arg-type]
            "group",
            SimpleNamespace(handle=None),  # type: ignore[arg-type]
            _PendingPool(),  # type: ignore[arg-type]
            subscriber_module.SubscribeSummary("sup-001"),
            options,
            threading.Event(),
        )

    consumer = SimpleNamespace(assigned=threading.Event())
    idle = loop_with(subscriber_module.SubscribeOptions())
    # Not yet assigned: short polls, so once's idle time starts close to the assignment.
    assert idle._poll_seconds(consumer) == subscriber_module.POLL_SECONDS  # type: ignore[arg-type]
    consumer.assigned.set()
    assert idle._poll_seconds(consumer) == subscriber_module.IDLE_POLL_SECONDS  # type: ignore[arg-type]
    idle._take(_Message(0, "sup-001"))  # type: ignore[arg-type]
    assert idle._poll_seconds(consumer) == subscriber_module.POLL_SECONDS  # type: ignore[arg-type]

    once = loop_with(subscriber_module.SubscribeOptions(once=True, idle_seconds=1.5))
    assert once._poll_seconds(consumer) == subscriber_module.IDLE_POLL_SECONDS  # type: ignore[arg-type]
    now[0] += 1.2  # 0.3 s of idle time left: the poll ends with it
    assert once._poll_seconds(consumer) == pytest.approx(0.3)  # type: ignore[arg-type]
    now[0] += 1.0
    assert once._poll_seconds(consumer) == subscriber_module.POLL_SECONDS  # type: ignore[arg-type]
