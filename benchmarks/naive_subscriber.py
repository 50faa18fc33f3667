"""A host process of hand-written subscribers for ``benchmarks/naive_peer.py``.

``python -m benchmarks.naive_subscriber`` reads its job as one JSON line on stdin (so the
store's and Kafka's credentials are never written to disk or shown in ``ps``), runs plain
Kafka consumers on the one topic (``consumers``: ``subscriber``, one consumer and group per
subscriber in a thread of its own, as ``delivery_paths.Listener`` does; or ``host``, one for
the process, which hands each subscriber its message in a thread of its own), prints
``ready`` once every consumer has its partition, and handles each subscriber's one message
(the one with its key):

- ``slice`` (the naive peer): the message is JSON ``{"path": "s3://...", ...}``; the
  subscriber reads its slice with ``pandas.read_parquet`` through s3fs and counts the rows;
- ``raw`` (the hand-written path): the message is the object's path; the subscriber
  downloads it with pyarrow's S3 filesystem, hashes it (SHA-256), writes it to its landing
  directory and reads it back with pyarrow.

When every subscriber is done (or ``timeout_s`` passed) it writes, to the job's ``out``
path, each subscriber's done time (``time.time()``, comparable across the processes of one
machine), how long its read took from the message on, its rows and digest, the host's
errors and its peak RSS, then exits.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from benchmarks.memory import peak_rss_mb

# poll() returns as soon as a message is there; a long wait only spares 1,000 idle threads
# waking up 20 times a second each on a 2-core machine.
POLL_SECONDS = 0.5
Handler = Callable[[str, bytes], dict[str, Any]]


def slice_handler(job: dict[str, Any]) -> Handler:
    """The naive subscriber: pandas reads the slice the message names, via s3fs. Warmed up
    as a running subscriber is: pandas' Parquet engine imported, the s3fs filesystem (which
    fsspec caches for the same options) built and connected."""
    import pandas as pd  # type: ignore[import-untyped]  # noqa: PLC0415 (naive mode only)
    import pyarrow.parquet  # noqa: F401, PLC0415 (pandas imports it on the first read)
    import s3fs  # type: ignore[import-untyped]  # noqa: PLC0415

    options = job["s3fs"]
    s3fs.S3FileSystem(**options).ls(job["bucket"])

    def handle(_subscriber: str, value: bytes) -> dict[str, Any]:
        note = json.loads(value)
        return {"rows": len(pd.read_parquet(note["path"], storage_options=options))}

    return handle


def raw_handler(job: dict[str, Any]) -> Handler:
    """The hand-written subscriber: download, SHA-256, land the file, read it back."""
    import pyarrow.parquet as pq  # noqa: PLC0415
    from pyarrow.fs import S3FileSystem  # noqa: PLC0415

    fs = S3FileSystem(**job["arrow_s3"])
    fs.get_file_info(job["bucket"])  # connected, as a running subscriber is
    landing = Path(job["landing"])
    landing.mkdir(parents=True, exist_ok=True)

    def handle(subscriber: str, value: bytes) -> dict[str, Any]:
        with fs.open_input_stream(value.decode()) as source:
            data = source.read()
        digest = hashlib.sha256(data).hexdigest()
        target = landing / f"{subscriber}.parquet"
        target.write_bytes(data)
        del data
        return {"rows": pq.read_table(target).num_rows, "sha256": digest}

    return handle


class Host:
    """This process's subscribers, each done after handling its own message. ``consumers``:
    ``subscriber`` (one consumer and group each, in a thread of its own) or ``host`` (one
    consumer for the process, handing each subscriber's message to a thread of its own)."""

    def __init__(self, job: dict[str, Any], handle: Handler) -> None:
        self.job, self.handle = job, handle
        self.subscribers: list[str] = job["subscribers"]
        self.assigned: set[str] = set()
        self.done: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Condition()
        if job.get("consumers", "subscriber") == "host":
            self.threads = [threading.Thread(target=self._run_shared, daemon=True)]
        else:
            self.threads = [
                threading.Thread(target=self._run, args=(subscriber,), daemon=True)
                for subscriber in self.subscribers
            ]

    def _mark_assigned(self, subscribers: list[str]) -> None:
        with self._lock:
            self.assigned.update(subscribers)
            self._lock.notify_all()

    def wait_assigned(self, timeout: float) -> bool:
        everyone = len(self.subscribers)
        with self._lock:
            return (
                self._lock.wait_for(
                    lambda: len(self.assigned) == everyone or bool(self.errors), timeout
                )
                and not self.errors
            )

    def _consumer(self, group: str, subscribers: list[str]) -> Consumer:
        consumer = Consumer({**self.job["kafka"], "group.id": group})
        consumer.subscribe(
            [self.job["topic"]], on_assign=lambda *_: self._mark_assigned(subscribers)
        )
        return consumer

    def _run(self, subscriber: str) -> None:
        consumer = self._consumer(f"{self.job['group']}-{subscriber}", [subscriber])
        key = subscriber.encode()
        try:
            while not self.stop.is_set():
                message = consumer.poll(POLL_SECONDS)
                if message is None or message.error() is not None or message.key() != key:
                    continue
                self._handle(subscriber, message.value() or b"")
                return
        finally:
            consumer.close()

    def _run_shared(self) -> None:
        consumer = self._consumer(self.job["group"], self.subscribers)
        waiting = {subscriber.encode(): subscriber for subscriber in self.subscribers}
        handlers: list[threading.Thread] = []
        try:
            while waiting and not self.stop.is_set():
                message = consumer.poll(POLL_SECONDS)
                if message is None or message.error() is not None:
                    continue
                subscriber = waiting.pop(message.key() or b"", None)
                if subscriber is not None:
                    arguments = (subscriber, message.value() or b"")
                    handlers.append(threading.Thread(target=self._handle, args=arguments))
                    handlers[-1].start()
        finally:
            consumer.close()
            for handler in handlers:
                handler.join()

    def _handle(self, subscriber: str, value: bytes) -> None:
        started = time.time()
        try:
            figures = self.handle(subscriber, value)
        except BaseException as exc:  # reported to the parent, which fails the run
            with self._lock:
                self.errors.append(f"{subscriber}: {type(exc).__name__}: {exc}")
                self._lock.notify_all()
            self.stop.set()  # one failed subscriber fails the run: stop the others
            raise
        with self._lock:
            now = time.time()
            self.done[subscriber] = {"t": now, "read_s": now - started, **figures}

    def run(self) -> None:
        for thread in self.threads:
            thread.start()
        if self.wait_assigned(self.job.get("join_timeout_s", 900.0)):
            print("ready", flush=True)
        else:
            self.errors.append(f"only {len(self.assigned)} of {len(self.subscribers)} assigned")
            self.stop.set()
        deadline = time.monotonic() + self.job.get("timeout_s", 900.0)
        for thread in self.threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        missing = len(self.subscribers) - len(self.done)
        if missing and not self.errors:
            self.errors.append(f"{missing} subscribers got no message in time")

    def report(self) -> dict[str, Any]:
        return {"done": self.done, "errors": self.errors, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    job = json.loads(sys.stdin.readline())
    handle = slice_handler(job) if job["mode"] == "slice" else raw_handler(job)
    host = Host(job, handle)
    host.run()
    Path(job["out"]).write_text(json.dumps(host.report()), encoding="utf-8")


if __name__ == "__main__":
    main()
