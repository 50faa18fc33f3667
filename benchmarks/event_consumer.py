"""The receiving side of ``benchmarks/event_path.py``, as its own OS process.

    python benchmarks/event_consumer.py --topic T --mode ours|bare [--public-key K] [--threads N]

It plays the receiving connector: one consumer (the stack's consumer configuration) on one
topic. For ``ours`` each message is verified and decoded with
:func:`dataspace.events.envelope.decode` against the public key given; for ``bare`` only the
header ``n`` (a counter) is read. Every event id gets the ``time.time()`` of its receipt (after
verifying, for ``ours``); a duplicate keeps its first receipt.

Protocol, one line each way:

- stdin, first line: the JSON of ``Settings.environment()`` (the settings of the stack, with
  its credentials: so they are never on the command line nor on disk);
- stdout ``ready`` once the consumer has its partitions;
- stdin ``collect COUNT TIMEOUT``: once COUNT receipts were taken since the last collect (or
  after TIMEOUT s), stdout gets one JSON line ``{"receipts": {id: time}, "peak_rss_mb": ..,
  "busy_s": ..}`` and the receipts are cleared;
- stdin closed, or SIGTERM: the receipts not yet collected are written the same way, then the
  consumer closes and the process exits.

With ``--threads N`` (N > 1) a batch of messages is verified by N threads: Ed25519
verification releases the GIL, and verifying is most of a receiving connector's CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from confluent_kafka import Consumer, Message

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script

from benchmarks.memory import peak_rss_mb
from dataspace.config import load_settings
from dataspace.events.envelope import decode

BATCH = 500
POLL_SECONDS = 0.05
READY_TIMEOUT = 120.0
COLLECT_TIMEOUT = 120.0


def identify(mode: str, topic: str, public_key: str | None) -> Callable[[Message], str]:
    """The event id of a message: verified and decoded (``ours``) or its counter (``bare``)."""
    if mode == "bare":

        def counter(message: Message) -> str:
            value = dict(message.headers() or ())["n"]
            return value.decode() if isinstance(value, bytes) else str(value)

        return counter
    if public_key is None:
        raise SystemExit("--mode ours needs --public-key (the announcer's base64url key).")

    def verified(message: Message) -> str:
        event = decode(message.value(), message.headers(), lambda _actor: public_key, topic=topic)
        return event.event_id

    return verified


class Stamper:
    """Consumes, identifies and stamps messages until stopped; serves ``collect`` requests."""

    def __init__(self, consumer: Consumer, ident: Callable[[Message], str], threads: int) -> None:
        self.consumer, self.ident = consumer, ident
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.receipts: dict[str, float] = {}
        self.requests: queue.Queue[tuple[int, float] | None] = queue.Queue()
        self.stop = threading.Event()
        self.busy_s = 0.0
        self.cpu = time.process_time()  # CPU seconds of all threads, at the last report

    def stamp(self, message: Message) -> tuple[str, float]:
        return self.ident(message), time.time()

    def take(self, messages: list[Message]) -> None:
        started = time.perf_counter()
        good = [m for m in messages if m.error() is None]
        stamped = self.pool.map(self.stamp, good) if self.pool else map(self.stamp, good)
        for ident, moment in stamped:
            self.receipts.setdefault(ident, moment)
        self.busy_s += time.perf_counter() - started

    def poll(self) -> None:
        """Wait for one message, then take it with whatever else is already fetched."""
        first = self.consumer.poll(POLL_SECONDS)
        if first is not None:
            self.take([first, *self.consumer.consume(BATCH - 1, 0)])

    def run(self) -> None:
        pending: tuple[int, float] | None = None
        while not self.stop.is_set():
            self.poll()
            if pending is None:
                try:
                    pending = self.requests.get_nowait()
                except queue.Empty:
                    continue
                if pending is None:  # stdin closed
                    break
            count, deadline = pending
            if len(self.receipts) >= count or time.monotonic() > deadline:
                self.report()
                pending = None
        self.report()

    def report(self) -> None:
        peak = peak_rss_mb()
        cpu, self.cpu = time.process_time() - self.cpu, time.process_time()
        line = {
            "receipts": self.receipts,
            "peak_rss_mb": round(peak, 1),
            "busy_s": self.busy_s,
            "cpu_s": cpu,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        self.receipts, self.busy_s = {}, 0.0


@dataclass
class ConsumerProcess:
    """This script as a child process, seen from the announcing side: ``collect`` receipts."""

    env: dict[str, str]
    topic: str
    mode: str
    public_key: str | None
    threads: int = 1
    peak_rss_mb: float = 0.0
    busy_s: float = 0.0
    cpu_s: float = 0.0
    lines: queue.Queue[str] = field(default_factory=queue.Queue)

    def __enter__(self) -> Self:
        command = [sys.executable, __file__, "--topic", self.topic, "--mode", self.mode]
        command += ["--threads", str(self.threads)]
        if self.public_key:
            command += ["--public-key", self.public_key]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        stdin, stdout = self.process.stdin, self.process.stdout
        if stdin is None or stdout is None:  # cannot be: both are pipes
            raise RuntimeError("the receiving process has no pipes")
        self.stdin: IO[str] = stdin
        threading.Thread(target=self._read, args=(stdout,), daemon=True).start()
        try:
            self._write(json.dumps(self.env))
            said = self._line(READY_TIMEOUT)
        except BaseException:
            self.close(wait=0.0)
            raise
        if said != "ready":
            self.close(wait=0.0)
            raise RuntimeError("the receiving process did not get its partitions")
        return self

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self.lines.put(line.strip())
        self.lines.put("")

    def _write(self, line: str) -> None:
        self.stdin.write(line + "\n")
        self.stdin.flush()

    def _line(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty as exc:
            raise RuntimeError(f"the receiving process said nothing for {timeout:.0f} s") from exc

    def collect(self, count: int, timeout: float = COLLECT_TIMEOUT) -> dict[str, float]:
        """The receipts since the last collect, once ``count`` came (or ``timeout`` passed)."""
        self._write(f"collect {count} {timeout}")
        report = self._report(self._line(timeout + 30))
        self.busy_s, self.cpu_s = report["busy_s"], report["cpu_s"]
        return dict(report["receipts"])

    def _report(self, line: str) -> dict[str, Any]:
        if not line:
            raise RuntimeError(f"the receiving process ended (exit {self.process.poll()})")
        report = json.loads(line)
        self.peak_rss_mb = max(self.peak_rss_mb, report["peak_rss_mb"])
        return dict(report)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(wait=30.0)

    def close(self, wait: float) -> None:
        """Close its stdin (it reports and exits); kill it if it is still there after ``wait``."""
        with contextlib.suppress(BrokenPipeError):  # it has already gone
            self.stdin.close()
        try:
            self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def read_commands(receiver: Stamper) -> None:
    """stdin lines -> collect requests; None when stdin closes."""
    for line in sys.stdin:
        words = line.split()
        if len(words) == 3 and words[0] == "collect":
            receiver.requests.put((int(words[1]), time.monotonic() + float(words[2])))
    receiver.requests.put(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--mode", choices=("ours", "bare"), required=True)
    parser.add_argument("--public-key")
    parser.add_argument("--group", default=f"bench-event-consumer-{os.getpid()}")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.update(json.loads(sys.stdin.readline()))
    settings = load_settings()
    assigned = threading.Event()
    consumer = Consumer(settings.kafka_consumer_config(args.group))
    consumer.subscribe([args.topic], on_assign=lambda *_: assigned.set())
    receiver = Stamper(consumer, identify(args.mode, args.topic, args.public_key), args.threads)
    signal.signal(signal.SIGTERM, lambda *_: receiver.stop.set())
    try:
        while not assigned.is_set():
            receiver.poll()
        print("ready", flush=True)
        threading.Thread(target=read_commands, args=(receiver,), daemon=True).start()
        receiver.run()
    finally:
        consumer.close()
        if receiver.pool is not None:
            receiver.pool.shutdown()


if __name__ == "__main__":
    main()
