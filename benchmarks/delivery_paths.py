"""The measured runs of ``benchmarks/delivery.py``; each runs alone in a child process.

- :func:`ours`: ``publish`` of the local file, then K subscriber agents (already running and
  assigned, as they are in steady state) land their views and send receipts;
- :func:`raw`: what one would write by hand on the same stack with no checks, no policy and no
  ledger: ``pq.write_table`` to the store, one Kafka message, download, SHA-256, read back;
- :func:`naive`: the peer a data engineer would write: pandas reads the file, filters one
  DataFrame per subscriber and writes it with s3fs, one JSON Kafka message each; every
  subscriber reads its file back with pandas;
- :func:`events_ours` / :func:`events_raw`: announce -> received latency at steady rates, and
  a burst for events per second: signed Avro events through the outbox and the relay into a
  consumer that verifies and decodes them, against bare produce -> consume of the same sizes.

Every run returns a JSON-ready dict with its wall time and the process's peak memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Consumer, Producer

import dataspace.agent.subscriber as agent_module
import dataspace.agent.worker as worker_module
import dataspace.publishing.publish as publish_module
from benchmarks.delivery_world import SCHEMA
from benchmarks.memory import peak_rss_mb
from dataspace.adapters.kafka import ensure_topics
from dataspace.adapters.kafka_consumer import GroupConsumer
from dataspace.adapters.kafka_producer import KafkaSender
from dataspace.adapters.s3 import arrow_filesystem, ensure_bucket, minio_client, presigner
from dataspace.agent.control_plane import LocalControlPlane
from dataspace.agent.subscriber import SubscribeOptions, subscribe
from dataspace.config import Settings
from dataspace.controlplane import participants, releases
from dataspace.dataplane.parquet_io import ROW_GROUP_ROWS, WRITER_OPTIONS
from dataspace.events.envelope import decode, encode
from dataspace.events.registry import default_registry, event_id_for
from dataspace.events.relay import drain
from dataspace.identity.keystore import KeyStore
from dataspace.node import Node
from dataspace.publishing.publish import publish
from dataspace.quality.gate import validate
from dataspace.store import outbox
from dataspace.store.db import Database

MB = 1e6
JOIN_TIMEOUT = 120.0
LAND_TIMEOUT = 900.0


def memory() -> dict[str, float]:
    """Peak RSS of this process and the peak of Arrow's default pool, in MB."""
    return {
        "peak_rss_mb": peak_rss_mb(),
        "peak_arrow_mb": round(pa.default_memory_pool().max_memory() / MB, 1),
    }


class Clock:
    """Thread-safe: when each named thing happened, and how long named steps took in total."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.marks: dict[str, float] = {}
        self.steps: dict[str, list[float]] = {}

    def mark(self, name: str) -> None:
        with self._lock:
            self.marks.setdefault(name, time.perf_counter())
            self._lock.notify_all()

    def add(self, step: str, seconds: float) -> None:
        with self._lock:
            self.steps.setdefault(step, []).append(seconds)

    def wait_for(self, names: set[str], timeout: float) -> float:
        """The time the last of ``names`` was marked; TimeoutError if they are not all."""
        with self._lock:
            if not self._lock.wait_for(lambda: names <= self.marks.keys(), timeout):
                missing = sorted(names - self.marks.keys())[:5]
                raise TimeoutError(f"{len(names - self.marks.keys())} never came, e.g. {missing}")
            return max(self.marks[name] for name in names)

    def timed(self, step: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(step, time.perf_counter() - started)

        return wrapper

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            step: {
                "count": len(times),
                "total_s": round(sum(times), 3),
                "max_s": round(max(times), 3),
            }
            for step, times in self.steps.items()
        }


@contextmanager
def patched(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


@contextmanager
def counting_assignments(clock: Clock) -> Iterator[None]:
    """Mark ``assigned:<group>`` when a subscriber agent's consumer gets its partitions."""

    class Counted(GroupConsumer):
        def __init__(self, settings: Settings, group_id: str, topics: Any, **kwargs: Any) -> None:
            self._bench_group = group_id
            super().__init__(settings, group_id, topics, **kwargs)

        def _on_assign(self, consumer: Any, partitions: Any) -> None:
            super()._on_assign(consumer, partitions)
            clock.mark(f"assigned:{self._bench_group}")

    with patched(agent_module, "GroupConsumer", Counted):
        yield


class TimedControlPlane(LocalControlPlane):
    """The agent's control plane, marking each receipt (the end of a delivery) on a clock."""

    def __init__(self, clock: Clock, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def grant(self, delivery_id: str) -> Any:
        self._clock.mark(f"granted:{delivery_id}")
        return self._clock.timed("subscriber: grant", super().grant)(delivery_id)

    def receipt(self, delivery_id: str, sha256: str, rows: int, landed_at: datetime) -> None:
        self._clock.timed("subscriber: receipt", super().receipt)(
            delivery_id, sha256, rows, landed_at
        )
        self._clock.mark(f"receipted:{delivery_id}")


@dataclass
class Agents:
    """K subscriber agents running in threads of this process until ``stop``."""

    settings: Settings
    db: Database
    keys: KeyStore
    clock: Clock
    landing: Path
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def start(self, subscribers: tuple[str, ...]) -> float:
        """Start one agent per subscriber; returns seconds until every one was assigned."""
        started = time.perf_counter()
        presign = presigner(self.settings.s3(), self.settings.release_bucket)
        for subscriber in subscribers:
            control = TimedControlPlane(self.clock, self.db, self.keys, presign, subscriber)
            thread = threading.Thread(target=self._run, args=(control,), daemon=True)
            thread.start()
            self.threads.append(thread)
        groups = {f"assigned:{agent_module.group_for(s)}" for s in subscribers}
        return self.clock.wait_for(groups, JOIN_TIMEOUT) - started

    def _run(self, control: TimedControlPlane) -> None:
        try:
            subscribe(
                self.settings,
                control,
                self.landing / control.subscriber,
                SubscribeOptions(),
                stop=self.stop,
            )
        except BaseException as exc:
            self.errors.append(exc)
            raise

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        if self.errors:
            raise RuntimeError(f"{len(self.errors)} agents failed") from self.errors[0]


def _instrument(clock: Clock) -> list[tuple[Any, str, Any]]:
    """Where the time of a publish goes: its steps, and the subscriber's download."""
    targets = [
        (publish_module, "write_with_views", "publish: gate + write release + views (one pass)"),
        (releases, "recipients", "publish: decide agreements"),
        (releases, "record_publication", "publish: record (ledger, outbox)"),
        (Node, "flush_outbox", "publish: relay outbox"),
        (worker_module, "land", "subscriber: download+verify+land"),
    ]
    return [(owner, name, clock.timed(step, getattr(owner, name))) for owner, name, step in targets]


def warm_up_gate(settings: Settings, source: Path) -> None:
    """What a publisher that has published the product before holds: GX imported and the
    suite's runner built (one row through the gate; nothing is written)."""
    first = pq.ParquetFile(source).read_row_group(0).slice(0, 1)
    validate(first, settings.expectations_dir / f"{SCHEMA}.json")


def ours(settings: Settings, run: dict[str, Any]) -> dict[str, Any]:
    """Publish ``run['input']`` as a release of ``run['product']`` to its running agents."""
    clock = Clock()
    subscribers = tuple(run["subscribers"])
    # Importing GX takes 15-25 s here and building its context for a suite ~1-2 s more: a
    # long-running publisher (an Airflow worker) pays both once, as the other paths pay for
    # importing pandas or s3fs, so they are reported, not timed. It also keeps one Kafka
    # producer (a new idempotent one costs ~0.5 s against Tansu), made here.
    importing = time.perf_counter()
    warm_up_gate(settings, Path(run["input"]))
    gx_import_s = time.perf_counter() - importing
    with Database(settings.effective_database_url) as db, counting_assignments(clock):
        keys = KeyStore(settings.keys_dir)
        node = Node(settings, db, keys)
        node.sender()  # opened before the clock starts, as a long-running publisher has it
        agents = Agents(settings, db, keys, clock, settings.state_dir / "landing")
        try:
            join_s = agents.start(subscribers)
            with _all_patched(_instrument(clock)):
                started = time.perf_counter()
                summary = publish(
                    node,
                    product_id=run["product"],
                    provider="bench-leader",
                    source=Path(run["input"]),
                )
                published = time.perf_counter()
                wanted = {f"receipted:{line.delivery_id}" for line in summary.delivered}
                # events_pending counts the whole outbox: agents enqueue receipts meanwhile.
                if len(wanted) != len(subscribers) or summary.relay_error:
                    raise RuntimeError(f"publish delivered {len(wanted)}: {summary}")
                landed = clock.wait_for(wanted, LAND_TIMEOUT)
        finally:
            agents.close()
            node.close()
    first_grant = min(v for k, v in clock.marks.items() if k.startswith("granted:"))
    return {
        "seconds": round(landed - started, 3),
        "publish_s": round(published - started, 3),
        "first_grant_after_publish_s": round(first_grant - published, 3),
        "join_s": round(join_s, 3),
        "gx_import_s": round(gx_import_s, 1),
        "delivered_rows": sum(line.rows or 0 for line in summary.delivered),
        "delivered_mb": round(sum(line.bytes or 0 for line in summary.delivered) / MB, 1),
        "release_mb": round(summary.bytes / MB, 1),
        "steps": clock.summary(),
        **memory(),
    }


@contextmanager
def _all_patched(patches: list[tuple[Any, str, Any]]) -> Iterator[None]:
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


# -- the hand-written paths -------------------------------------------------------------------


class Listener:
    """One plain consumer per subscriber on ``topic``, each running ``handle`` on its key."""

    def __init__(self, settings: Settings, topic: str, group: str, clock: Clock) -> None:
        self.settings, self.topic, self.group, self.clock = settings, topic, group, clock
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def start(self, keys: tuple[str, ...], handle: Callable[[str, bytes], None]) -> float:
        started = time.perf_counter()
        for key in keys:
            thread = threading.Thread(target=self._run, args=(key, handle), daemon=True)
            thread.start()
            self.threads.append(thread)
        return self.clock.wait_for({f"assigned:{key}" for key in keys}, JOIN_TIMEOUT) - started

    def _run(self, key: str, handle: Callable[[str, bytes], None]) -> None:
        consumer = Consumer(self.settings.kafka_consumer_config(f"{self.group}-{key}"))
        consumer.subscribe([self.topic], on_assign=lambda *_: self.clock.mark(f"assigned:{key}"))
        try:
            while not self.stop.is_set():
                message = consumer.poll(0.1)
                if message is None or message.error() is not None:
                    continue
                if message.key() == key.encode():
                    handle(key, message.value())
                    self.clock.mark(f"done:{key}")
        except BaseException as exc:
            self.errors.append(exc)
            raise
        finally:
            consumer.close()

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        if self.errors:
            raise RuntimeError("a hand-written consumer failed") from self.errors[0]


def _send(settings: Settings, topic: str, messages: list[tuple[str, bytes]]) -> None:
    producer = Producer(settings.kafka_producer_config())
    for key, value in messages:
        producer.produce(topic, key=key.encode(), value=value)
    if producer.flush(30):
        raise RuntimeError("the hand-written producer did not deliver its messages")


def raw(settings: Settings, run: dict[str, Any]) -> dict[str, Any]:
    """Write Parquet to the store, one message, download, SHA-256, read back."""
    clock, bucket, topic = Clock(), "bench-raw", f"bench-raw-{run['name']}"
    ensure_bucket(minio_client(settings.s3()), bucket)
    ensure_topics(settings, [topic])
    fs = arrow_filesystem(settings.s3())
    download = settings.state_dir / f"raw-{run['name']}.parquet"

    def fetch(_key: str, value: bytes) -> None:
        with fs.open_input_file(value.decode()) as source:
            data = source.read()
        clock.mark(f"sha256:{hashlib.sha256(data).hexdigest()}")
        download.write_bytes(data)
        clock.mark(f"rows:{pq.read_table(download).num_rows}")

    listener = Listener(settings, topic, f"raw-{run['name']}", clock)
    try:
        join_s = listener.start(("raw",), fetch)
        started = time.perf_counter()
        table = pq.read_table(run["input"])
        path = f"{bucket}/{run['name']}/part-0.parquet"
        pq.write_table(table, path, filesystem=fs, row_group_size=ROW_GROUP_ROWS, **WRITER_OPTIONS)
        del table
        _send(settings, topic, [("raw", path.encode())])
        landed = clock.wait_for({"done:raw"}, LAND_TIMEOUT)
    finally:
        listener.close()
    return {"seconds": round(landed - started, 3), "join_s": round(join_s, 3), **memory()}


def naive(settings: Settings, run: dict[str, Any]) -> dict[str, Any]:
    """pandas -> s3fs, one file and one JSON message per subscriber, read back with pandas."""
    import pandas as pd  # noqa: PLC0415 (only the naive peer needs pandas and s3fs)
    import s3fs  # noqa: PLC0415

    clock, bucket, topic = Clock(), "bench-naive", f"bench-naive-{run['name']}"
    endpoint = settings.s3()
    ensure_bucket(minio_client(endpoint), bucket)
    ensure_topics(settings, [topic])
    options = {
        "key": endpoint.access_key,
        "secret": endpoint.secret_key.get_secret_value(),
        "endpoint_url": endpoint.url,
        "client_kwargs": {"region_name": endpoint.region},
    }
    received: dict[str, int] = {}

    def fetch(key: str, value: bytes) -> None:
        note = json.loads(value)
        received[key] = len(pd.read_parquet(note["path"], storage_options=options))

    subscribers = tuple(run["subscribers"])
    listener = Listener(settings, topic, f"naive-{run['name']}", clock)
    try:
        join_s = listener.start(subscribers, fetch)
        started = time.perf_counter()
        frame = pd.read_parquet(run["input"])
        fs = s3fs.S3FileSystem(**options)
        notes = []
        for subscriber in subscribers:
            part = frame[frame["supplier_id"] == subscriber] if run["sliced"] else frame
            path = f"{bucket}/{run['name']}/{subscriber}.parquet"
            with fs.open(path, "wb") as target:
                part.to_parquet(target, index=False)
            notes.append(
                (subscriber, json.dumps({"path": f"s3://{path}", "rows": len(part)}).encode())
            )
        _send(settings, topic, notes)
        landed = clock.wait_for({f"done:{s}" for s in subscribers}, LAND_TIMEOUT)
    finally:
        listener.close()
    return {
        "seconds": round(landed - started, 3),
        "join_s": round(join_s, 3),
        "delivered_rows": sum(received.values()),
        **memory(),
    }


# -- the event path ---------------------------------------------------------------------------


def _announcement(tag: str, number: int) -> dict[str, Any]:
    delivery = f"dlv-agr-{tag}-v{number}"
    return {
        "event_id": event_id_for("DeliveryAnnounced", delivery),
        "occurred_at": datetime.now(UTC),
        "actor": "bench-leader",
        "delivery_id": delivery,
        "agreement_id": f"agr-{tag}",
        "product_id": "bench-events",
        "version": number,
        "provider_id": "bench-leader",
        "subscriber_id": "sup-001",
        "mode": "snapshot",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "row_count": 10_000,
        "byte_size": 350_000,
        "part_count": 1,
    }


class EventSink:
    """A consumer on ``topic`` in a thread, marking ``received:<id>`` for every message."""

    def __init__(self, settings: Settings, topic: str, ident: Callable[[Any], str | None]) -> None:
        self.clock, self._ident, self.stop = Clock(), ident, threading.Event()
        self._consumer = Consumer(
            settings.kafka_consumer_config(f"bench-events-{os.getpid()}-{topic}")
        )
        self._consumer.subscribe([topic], on_assign=lambda *_: self.clock.mark("assigned"))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self.clock.wait_for({"assigned"}, JOIN_TIMEOUT)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                message = self._consumer.poll(0.05)
                if message is not None and message.error() is None:
                    ident = self._ident(message)
                    if ident is not None:
                        self.clock.mark(f"received:{ident}")
        finally:
            self._consumer.close()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=30)


def _latencies(sent: dict[str, float], clock: Clock) -> dict[str, float]:
    delays = sorted(clock.marks[f"received:{i}"] - t for i, t in sent.items())
    pick = lambda q: round(delays[min(len(delays) - 1, int(q * len(delays)))] * 1000, 2)  # noqa: E731
    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": pick(1.0), "events": len(delays)}


def _paced(
    rate: int, seconds: float, tick: float, send: Callable[[int, int], dict[str, float]]
) -> dict[str, float]:
    """Call ``send(first, count)`` every ``tick`` s for ``rate`` events/s; merges sent times."""
    per_tick, sent, number = max(1, round(rate * tick)), {}, 0
    started = time.perf_counter()
    for step in range(round(seconds / tick)):
        sent.update(send(number, per_tick))
        number += per_tick
        pause = started + (step + 1) * tick - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    return sent


def events_ours(settings: Settings, run: dict[str, Any]) -> dict[str, Any]:
    """Signed DeliveryAnnounced: encode + sign, outbox commit, relay, consume, verify, decode."""
    topic = default_registry().topic("DeliveryAnnounced", "sup-001")  # _announcement's
    tag = f"ev{os.getpid()}"
    with Database(settings.effective_database_url) as db:
        keys = KeyStore(settings.keys_dir)
        public = participants.show_participant(db, "bench-leader").public_key
        signing = keys.signing_key("bench-leader", public)
        sender = KafkaSender(settings)

        def ident(message: Any) -> str | None:
            event = decode(message.value(), message.headers(), lambda _actor: public, topic=topic)
            return str(event.event_id) if str(event.body["agreement_id"]) == f"agr-{tag}" else None

        def send(first: int, count: int) -> dict[str, float]:
            announced = time.perf_counter()
            events = [
                encode("DeliveryAnnounced", _announcement(tag, first + n + 1), signing)
                for n in range(count)
            ]
            with db.transaction() as session:
                for event in events:
                    outbox.enqueue(session, event.topic, event.key, event.value, event.headers)
            drain(db, sender)
            return {event.event_id: announced for event in events}

        sample = encode("DeliveryAnnounced", _announcement(tag, 0), signing)
        sizes = {
            "value_bytes": len(sample.value),
            "header_bytes": sum(len(k) + len(v) for k, v in sample.headers.items()),
        }
        sink = EventSink(settings, topic, ident)
        try:
            return {**_event_figures(sink, send, run), **sizes}
        finally:
            sink.close()
            sender.close()


def events_raw(settings: Settings, run: dict[str, Any]) -> dict[str, Any]:
    """Bare produce -> consume of messages with the sizes of the signed events."""
    topic = f"bench-raw-events-{os.getpid()}"
    ensure_topics(settings, [topic])
    producer = Producer(settings.kafka_producer_config())
    value = os.urandom(run["value_bytes"])
    headers = [(f"h{n}", os.urandom(run["header_bytes"] // 6)) for n in range(6)]

    def send(first: int, count: int) -> dict[str, float]:
        sent = time.perf_counter()
        for n in range(first, first + count):
            producer.produce(
                topic, key=b"sup-001", value=value, headers=[*headers, ("n", str(n).encode())]
            )
            producer.poll(0)
        return {str(n): sent for n in range(first, first + count)}

    def ident(message: Any) -> str:
        return str(dict(message.headers())["n"].decode())

    sink = EventSink(settings, topic, ident)
    try:
        figures = {**_event_figures(sink, send, run), "value_bytes": len(value)}
    finally:
        producer.flush(10)
        sink.close()
    return figures


def _event_figures(
    sink: EventSink, send: Callable[[int, int], dict[str, float]], run: dict[str, Any]
) -> dict[str, Any]:
    warm = send(20_000_000, 10)  # connections, producer id, the consumer's first fetch
    sink.clock.wait_for({f"received:{i}" for i in warm}, 60)
    paced, first = [], 0
    for rate in run["event_rates"]:
        sent = _paced(
            rate, run["event_seconds"], 0.01, lambda n, count, base=first: send(base + n, count)
        )
        sink.clock.wait_for({f"received:{i}" for i in sent}, 60)
        paced.append({"rate_per_s": rate, **_latencies(sent, sink.clock)})
        first += 1_000_000
    burst_first = 10_000_000
    started = time.perf_counter()
    burst: dict[str, float] = {}
    for first in range(burst_first, burst_first + run["burst_events"], 500):
        burst.update(send(first, 500))
    last = sink.clock.wait_for({f"received:{i}" for i in burst}, 120)
    return {
        "paced": paced,
        "burst_events": len(burst),
        "events_per_s": round(len(burst) / (last - started)),
        **memory(),
    }
