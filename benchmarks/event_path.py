"""The event path across processes (issue 20): announce -> received latency and burst rate.

    .venv/bin/python benchmarks/event_path.py [--quick] [--json-out FILE]

Two paths, in the same run, each announced from its own child process to a receiving
connector in another (``benchmarks/event_consumer.py``):

- ``ours``: what the hub does: ``encode("DeliveryAnnounced", ...)`` signed with a participant
  key, ``outbox.enqueue`` in a committed transaction, the relay (``drain``) through a
  :class:`KafkaSender`; the receiver verifies and decodes each event;
- ``bare``: produce -> consume of messages of the same sizes, the receiver reading a counter.

Each path: a warm-up, then paced rates (``event_rates``, default [1000] events/s, for
``event_seconds``), latency from the announcer's ``time.time()`` at the start of the announce
to the receiver's receipt; then a burst of ``burst_events``: events/s = count / (last
received - burst start), and published/s = count / (last acknowledged by the broker - burst
start). Where the burst's time goes: timers of each stage, and the receiver's busy time.
The outbox is a SQLite file of the run unless ``database_url`` names another database (or
``database="postgres"`` asks for a new one on the stack's PostgreSQL). ``stage_cpu_us_per_event``
gives each stage's CPU cost alone, without the broker: the floor of the burst rate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: find `benchmarks`

from benchmarks.event_consumer import ConsumerProcess  # noqa: E402
from benchmarks.memory import peak_rss_mb  # noqa: E402

if TYPE_CHECKING:
    from benchmarks.scale_stack import BenchStack

WARM_FIRST, BURST_FIRST, PACED_BASE = 20_000_000, 10_000_000, 1_000_000
WARM_EVENTS = 20
TICK_SECONDS = 0.01
PROCESSES = (
    "per path: the announcer in its own child process (spawned), the receiving connector in "
    "another (benchmarks/event_consumer.py), the broker in its own; the runner only waits"
)


@dataclass(frozen=True)
class Plan:
    """What one path runs; from ``measure``'s options."""

    rates: tuple[int, ...] = (1000,)
    seconds: float = 10.0
    burst_events: int = 20_000
    burst_chunk: int = 500
    consumer_threads: int = 1
    relay_batch: int = 500
    sender_options: tuple[tuple[str, str], ...] = ()  # KafkaSender overrides, e.g. linger.ms
    profile: bool = False

    @classmethod
    def of(cls, options: dict[str, Any]) -> Plan:
        return cls(
            rates=tuple(options.get("event_rates", (1000,))),
            seconds=float(options.get("event_seconds", 10)),
            burst_events=int(options.get("burst_events", 20_000)),
            burst_chunk=int(options.get("burst_chunk", 500)),
            consumer_threads=int(options.get("consumer_threads", 1)),
            relay_batch=int(options.get("relay_batch", 500)),
            sender_options=tuple(sorted(options.get("sender_options", {}).items())),
            profile=bool(options.get("profile", False)),
        )


def measure(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Both paths, each in its own announcing and receiving processes; JSON-ready figures."""
    directory = root / "event-path"
    directory.mkdir(parents=True, exist_ok=True)
    database = options.get("database_url") or f"sqlite:///{directory / f'outbox-{stack.run}.db'}"
    if options.get("database") == "postgres":  # a new database of the stack's PostgreSQL
        database = stack.postgres_database("events")
    plan, env = Plan.of(options), stack.settings.environment()
    tag = f"{stack.run}-{uuid.uuid4().hex[:6]}"  # fresh topics for every call
    results = {}
    for path in ("bare", "ours"):
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as child:
            results[path] = child.submit(run_path, path, env, database, plan, tag).result()
    first_rate = plan.rates[0]
    p99 = {path: _at_rate(results[path], first_rate)["p99_ms"] for path in results}
    return {
        **results,
        "ratio_p99": round(p99["ours"] / p99["bare"], 2) if p99["bare"] else None,
        "ratio_rate_per_s": first_rate,
        "database": "postgresql" if database.startswith("postgresql") else "sqlite",
        "processes": PROCESSES,
    }


def _at_rate(result: dict[str, Any], rate: int) -> dict[str, Any]:
    return next(row for row in result["paced"] if row["rate_per_s"] == rate)


# -- one path, in its announcing child process ---------------------------------------------


def run_path(path: str, env: dict[str, str], database: str, plan: Plan, run: str) -> dict[str, Any]:
    """Warm-up, paced rates and a burst of one path; runs in a child process."""
    os.environ.update(env)
    from dataspace.config import load_settings  # noqa: PLC0415 (after the environment is set)

    settings = load_settings()
    announcer: Announcer = (
        OursAnnouncer(settings, database, f"bench-{run}", plan)
        if path == "ours"
        else BareAnnouncer(settings, f"bench-bare-events-{run}")
    )
    receiver = ConsumerProcess(
        env, announcer.topic, path, announcer.public_key, plan.consumer_threads
    )
    with announcer, receiver:
        warm = announcer.send(WARM_FIRST, WARM_EVENTS)
        receiver.collect(len(warm))
        paced = [_paced(announcer, receiver, rate, n, plan) for n, rate in enumerate(plan.rates)]
        burst = _burst(announcer, receiver, plan)
    peak = peak_rss_mb()
    floors = stage_floors(database) if path == "ours" else {}
    return {
        "paced": paced,
        **burst,
        **announcer.sizes(),
        "peak_rss_mb": round(peak, 1),
        "consumer_peak_rss_mb": receiver.peak_rss_mb,
        **({"stage_cpu_us_per_event": floors} if floors else {}),
    }


def _paced(
    announcer: Announcer, receiver: ConsumerProcess, rate: int, number: int, plan: Plan
) -> dict[str, Any]:
    per_tick, sent, first = max(1, round(rate * TICK_SECONDS)), {}, PACED_BASE * (number + 1)
    announcer.timers.clear()
    started = time.perf_counter()
    returned: dict[str, float] = {}  # when the announce call returned (ours: acknowledged)
    for step in range(round(plan.seconds / TICK_SECONDS)):
        announced = announcer.send(first + step * per_tick, per_tick)
        sent.update(announced)
        returned.update(dict.fromkeys(announced, time.time()))
        pause = started + (step + 1) * TICK_SECONDS - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    receipts = receiver.collect(len(sent))
    delays = sorted(receipts[i] - t for i, t in sent.items() if i in receipts)
    after = sorted(receipts[i] - t for i, t in returned.items() if i in receipts)
    return {
        "rate_per_s": rate,
        "p50_ms": quantile_ms(delays, 0.50),
        "p99_ms": quantile_ms(delays, 0.99),
        "max_ms": quantile_ms(delays, 1.0),
        "events": len(delays),
        "lost": len(sent) - len(delays),
        "announce_steps": announcer.stages(),
        "received_after_return_ms": {
            "p50": quantile_ms(after, 0.5),
            "p99": quantile_ms(after, 0.99),
        },
    }


def quantile_ms(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted seconds, in ms (nearest rank)."""
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def _burst(announcer: Announcer, receiver: ConsumerProcess, plan: Plan) -> dict[str, Any]:
    announcer.timers.clear()
    profiler = _profiler() if plan.profile else None
    receiver.collect(0)  # restarts the receiver's CPU count
    started, cpu = time.time(), time.process_time()
    ids = announcer.burst(BURST_FIRST, plan.burst_events, plan.burst_chunk)
    published, cpu = time.time(), time.process_time() - cpu
    hot = profiler.stop() if profiler else None
    receipts = receiver.collect(len(ids))
    received = [receipts[i] for i in ids if i in receipts]
    last = max(received) if received else float("nan")
    figures = {
        "burst_events": len(ids),
        "burst_received": len(received),
        "events_per_s": round(len(received) / (last - started)),
        "published_per_s": round(len(ids) / (published - started)),
        "burst_steps_s": {
            **{step: row["total_s"] for step, row in announcer.stages().items()},
            "announce total": round(published - started, 3),
            "receiver busy (poll + verify + decode)": round(receiver.busy_s, 3),
            "last received after last published": round(last - published, 3),
        },
        # CPU per event on each side: what bounds the rate on a machine shared with others
        "announcer_cpu_us_per_event": round(cpu / len(ids) * 1e6, 1),
        "receiver_cpu_us_per_event": round(receiver.cpu_s / len(ids) * 1e6, 1),
    }
    return {**figures, "burst_profile": hot} if hot is not None else figures


# -- the announcers ------------------------------------------------------------------------


class Announcer:
    """Sends events numbered ``first..first+count-1``; returns their ids with the time the
    announce started. ``timers`` add up the seconds of each named stage."""

    topic: str
    public_key: str | None = None

    def __init__(self) -> None:
        self.timers: dict[str, list[float]] = {}

    def time(self, stage: str, started: float) -> None:
        self.timers.setdefault(stage, []).append(time.perf_counter() - started)

    def stages(self) -> dict[str, dict[str, float]]:
        """Per stage: total seconds, and p50/p99/max of one call in ms."""
        figures = {}
        for stage, times in self.timers.items():
            ordered = sorted(times)
            figures[stage] = {
                "total_s": round(sum(times), 3),
                "p50_ms": quantile_ms(ordered, 0.5),
                "p99_ms": quantile_ms(ordered, 0.99),
                "max_ms": quantile_ms(ordered, 1.0),
            }
        return figures

    def send(self, first: int, count: int) -> dict[str, float]:
        raise NotImplementedError

    def burst(self, first: int, count: int, chunk: int) -> list[str]:
        ids: list[str] = []
        for start in range(first, first + count, chunk):
            ids.extend(self.send(start, min(chunk, first + count - start)))
        return ids

    def sizes(self) -> dict[str, int]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def announcement(subscriber: str, number: int) -> dict[str, Any]:
    """A DeliveryAnnounced body addressed to ``subscriber``, numbered ``number``."""
    from dataspace.events.registry import event_id_for  # noqa: PLC0415

    delivery = f"dlv-agr-{subscriber}-v{number}"
    return {
        "event_id": event_id_for("DeliveryAnnounced", delivery),
        "occurred_at": datetime.now(UTC),
        "actor": "bench-leader",
        "delivery_id": delivery,
        "agreement_id": f"agr-{subscriber}",
        "product_id": "bench-events",
        "version": number,
        "provider_id": "bench-leader",
        "subscriber_id": subscriber,
        "mode": "snapshot",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "row_count": 10_000,
        "byte_size": 350_000,
        "part_count": 1,
    }


class OursAnnouncer(Announcer):
    """The hub's path: encode + sign, outbox row committed, relay drain through KafkaSender."""

    def __init__(self, settings: Any, database: str, subscriber: str, plan: Plan) -> None:
        from dataspace.adapters.kafka import ensure_topics  # noqa: PLC0415
        from dataspace.adapters.kafka_producer import (  # noqa: PLC0415
            SENDER_TIMEOUT_SECONDS,
            KafkaSender,
        )
        from dataspace.events.registry import default_registry  # noqa: PLC0415
        from dataspace.identity.keys import SigningKey  # noqa: PLC0415
        from dataspace.store.db import Database, upgrade_schema  # noqa: PLC0415

        super().__init__()
        self.subscriber, self.plan = subscriber, plan
        self.topic = default_registry().topic("DeliveryAnnounced", subscriber)
        self.key = SigningKey.generate()  # the receiver's key lookup is this one key
        self.public_key = self.key.public_key_b64
        self.db = Database(database)
        upgrade_schema(self.db)
        ensure_topics(settings, [self.topic])
        self.sender = KafkaSender(settings, SENDER_TIMEOUT_SECONDS, **dict(plan.sender_options))

    def send(self, first: int, count: int) -> dict[str, float]:
        from dataspace.events.envelope import encode  # noqa: PLC0415
        from dataspace.events.relay import drain  # noqa: PLC0415

        announced, started = time.time(), time.perf_counter()
        events = [
            encode("DeliveryAnnounced", announcement(self.subscriber, n), self.key)
            for n in range(first, first + count)
        ]
        self.time("encode + sign", started)
        started = time.perf_counter()
        rows = [(e.topic, e.key, e.value, e.headers) for e in events]
        _fill(self.db, rows, len(rows))
        self.time("outbox insert + commit", started)
        started = time.perf_counter()
        result = drain(self.db, TimedSender(self), batch_size=self.plan.relay_batch)
        self.time("relay (claim, send, mark)", started)
        if result.failed:
            raise RuntimeError(f"the relay did not publish {result.failed} events")
        return {event.event_id: announced for event in events}

    def sizes(self) -> dict[str, int]:
        from dataspace.events.envelope import encode  # noqa: PLC0415

        sample = encode("DeliveryAnnounced", announcement(self.subscriber, 0), self.key)
        return {
            "value_bytes": len(sample.value),
            "header_bytes": sum(len(k) + len(v) for k, v in sample.headers.items()),
        }

    def close(self) -> None:
        try:
            self.sender.close()
        finally:
            self.db.close()


@dataclass(frozen=True)
class TimedSender:
    """The relay's sender: the announcer's KafkaSender, timed (the rest is the database)."""

    announcer: OursAnnouncer

    def send(self, records: Sequence[Any]) -> list[str | None]:
        started = time.perf_counter()
        try:
            return self.announcer.sender.send(records)
        finally:
            self.announcer.time("relay: Kafka produce + acks", started)


class BareAnnouncer(Announcer):
    """Plain produce (the stack's producer configuration) of messages of our events' sizes."""

    def __init__(self, settings: Any, topic: str) -> None:
        from confluent_kafka import Producer  # noqa: PLC0415

        from dataspace.adapters.kafka import ensure_topics  # noqa: PLC0415
        from dataspace.events.envelope import encode  # noqa: PLC0415
        from dataspace.identity.keys import SigningKey  # noqa: PLC0415

        super().__init__()
        self.topic = topic
        ensure_topics(settings, [topic])
        sample = encode("DeliveryAnnounced", announcement("bench", 0), SigningKey.generate())
        self.value = os.urandom(len(sample.value))
        self.headers = [(name, os.urandom(len(text))) for name, text in sample.headers.items()]
        self.producer = Producer(settings.kafka_producer_config())

    def send(self, first: int, count: int) -> dict[str, float]:
        announced = time.time()
        for n in range(first, first + count):
            self.producer.produce(
                self.topic,
                key=b"sup-001",
                value=self.value,
                headers=[*self.headers, ("n", str(n).encode())],
            )
            self.producer.poll(0)
        return {str(n): announced for n in range(first, first + count)}

    def burst(self, first: int, count: int, chunk: int) -> list[str]:
        ids = super().burst(first, count, chunk)
        started = time.perf_counter()
        if self.producer.flush(60):
            raise RuntimeError("the bare producer did not deliver its burst")
        self.time("flush (broker acks)", started)
        return ids

    def sizes(self) -> dict[str, int]:
        return {
            "value_bytes": len(self.value),
            "header_bytes": sum(len(k) + len(v) for k, v in self.headers),
        }

    def close(self) -> None:
        self.producer.flush(30)


# -- the floor of each stage ------------------------------------------------------------------


class NoBroker:
    """A relay sender that acknowledges everything at once: the relay's own database work."""

    def send(self, records: Sequence[Any]) -> list[str | None]:
        return [None] * len(records)


def stage_floors(database: str, count: int = 2000) -> dict[str, float]:
    """CPU microseconds per event of each stage of ours alone (no broker), in this process:
    what bounds events/s on a machine shared with other work, whatever the wall clock says."""
    from dataspace.events.envelope import decode, encode  # noqa: PLC0415
    from dataspace.events.relay import drain  # noqa: PLC0415
    from dataspace.identity.keys import SigningKey, verify  # noqa: PLC0415
    from dataspace.store.db import Database, upgrade_schema  # noqa: PLC0415

    key, floors = SigningKey.generate(), {}
    bodies = [announcement("bench-floor", n) for n in range(1, count + 1)]

    def cpu(stage: str, work: Callable[[], object]) -> Any:
        started = time.process_time()
        result = work()
        floors[stage] = round((time.process_time() - started) / count * 1e6, 1)
        return result

    events = cpu("encode + sign", lambda: [encode("DeliveryAnnounced", b, key) for b in bodies])
    signed = [(e.value, key.sign(e.value)) for e in events]
    cpu("Ed25519 sign alone", lambda: [key.sign(value) for value, _ in signed])
    public = key.public_key_b64

    def verify_all() -> None:
        for value, signature in signed:
            verify(public, signature, value)

    cpu("Ed25519 verify alone", verify_all)
    cpu(
        "verify + decode",
        lambda: [
            decode(e.value, e.kafka_headers(), lambda _a: public, topic=e.topic) for e in events
        ],
    )
    rows = [(e.topic, e.key, e.value, e.headers) for e in events]
    with Database(database) as db:
        upgrade_schema(db)
        cpu("outbox insert + commit", partial(_fill, db, rows, 500))
        cpu("relay claim + mark, no broker", lambda: drain(db, NoBroker()))
    return floors


def _fill(db: Any, rows: list[Any], chunk: int) -> None:
    """Enqueue ``rows`` as the hub does (one ``enqueue`` each), ``chunk`` to a transaction."""
    from dataspace.store import outbox  # noqa: PLC0415

    for start in range(0, len(rows), chunk):
        with db.transaction() as session:
            for row in rows[start : start + chunk]:
                outbox.enqueue(session, *row)


# -- profiling -----------------------------------------------------------------------------


class _Profile:
    def __init__(self) -> None:
        import cProfile  # noqa: PLC0415

        self.profile = cProfile.Profile()
        self.profile.enable()

    def stop(self, top: int = 15) -> list[str]:
        import io  # noqa: PLC0415
        import pstats  # noqa: PLC0415

        self.profile.disable()
        out = io.StringIO()
        pstats.Stats(self.profile, stream=out).sort_stats("tottime").print_stats(top)
        return [line for line in out.getvalue().splitlines() if line.strip()][-top:]


def _profiler() -> _Profile:
    return _Profile()


# -- trying it alone -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s paced, a burst of 5,000")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--options", default="{}", help="JSON options for measure()")
    args = parser.parse_args()
    options: dict[str, Any] = {"event_seconds": 3, "burst_events": 5000} if args.quick else {}
    options.update(json.loads(args.options))
    from benchmarks.scale_stack import open_stack  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="event-path-") as temporary:
        root = Path(temporary)
        with open_stack("embedded", root, {}) as stack:
            figures = measure(stack, root, options)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
