"""The composition root: one process's node, put together in one place.

Every entry point (the CLI, the API, the demo, the DAG tasks, the benchmarks) opens a node with
:func:`open_node` and hands it, or the parts it needs, to the use cases. A node holds:

- the settings, validated once;
- the control-plane database, migrated when its schema version differs from the code's;
- the key store;
- the product schemas and expectation suites, each parsed once per process;
- the object stores (the release bucket, the operator's reports bucket), made on first use;
- the process's Kafka sender, opened on first use and closed with the node.

:meth:`Node.flush_outbox` is the one way to "send what the outbox holds now": a broker that is
down leaves the events pending (``dataspace relay`` sends them later), and the result says how
many were sent, how many wait, and why.

Heavy modules (pyarrow, confluent-kafka, GX) are imported when a part is first used, so that
a command that needs only the database starts quickly.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dataspace.closing import Closing
from dataspace.config import Settings, load_settings
from dataspace.controlplane.catalog import Artifacts
from dataspace.errors import ServiceError
from dataspace.identity.keystore import KeyStore
from dataspace.private_paths import private_directory
from dataspace.store.db import Database, upgrade_schema

if TYPE_CHECKING:
    from dataspace.adapters.kafka_producer import KafkaSender
    from dataspace.dataplane.objects import ObjectStore
    from dataspace.quality.gate import Suite

# A job that records events and then ends waits at most this long for the broker.
FLUSH_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Flushed:
    """What one flush of the outbox did: events sent, events still pending, and why."""

    sent: int
    pending: int
    error: str | None


@dataclass
class Node(Closing):
    """One process's node. Its parts are made once, also when several threads (the API's
    request handlers) ask for them at the same time, and are safe to share once made."""

    settings: Settings
    db: Database
    keys: KeyStore
    owns_db: bool = False  # close() disposes the database only when the node opened it
    _schemas: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _suites: dict[str, Suite] = field(default_factory=dict, repr=False)
    _stores: dict[str, ObjectStore] = field(default_factory=dict, repr=False)
    _sender: KafkaSender | None = field(default=None, repr=False)
    _making: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # One relay at a time per node: the outbox keeps each key's order only so.
    _relaying: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def artifacts(self) -> Artifacts:
        return Artifacts(self.settings.schemas_dir, self.settings.expectations_dir)

    def product_schema(self, name: str) -> dict[str, Any]:
        """The product's Avro schema ``schemas/products/<name>.avsc``, parsed once."""
        with self._making:
            if name not in self._schemas:
                from dataspace.dataplane.schema_check import load_avro_schema  # noqa: PLC0415

                self._schemas[name] = load_avro_schema(self.artifacts.schema_path(name))
            return self._schemas[name]

    def suite(self, name: str) -> Suite:
        """The expectation suite ``expectations/<name>.json``, parsed once."""
        with self._making:
            if name not in self._suites:
                from dataspace.quality.gate import load_suite  # noqa: PLC0415

                self._suites[name] = load_suite(self.artifacts.suite_path(name))
            return self._suites[name]

    def release_store(self) -> ObjectStore:
        """The node's release bucket: releases, views and quality reports (made on first use)."""
        return self._store(self.settings.release_bucket)

    def reports_store(self) -> ObjectStore:
        """The operator's bucket of settlement statements and evaluation reports."""
        return self._store(self.settings.reports_bucket)

    def _store(self, bucket: str) -> ObjectStore:
        with self._making:
            if bucket not in self._stores:
                from dataspace.operations.stores import object_store  # noqa: PLC0415

                self._stores[bucket] = object_store(self.settings, bucket)
            return self._stores[bucket]

    def sender(self) -> KafkaSender:
        """The process's Kafka sender, opened on first use (an idempotent producer costs
        about half a second against the embedded broker, so it is made once)."""
        with self._making:
            if self._sender is None:
                from dataspace.adapters.kafka_producer import KafkaSender  # noqa: PLC0415

                # librdkafka logs every refused connection; a flush says it once instead.
                self._sender = KafkaSender(
                    self.settings, timeout=FLUSH_TIMEOUT_SECONDS, log_level="2"
                )
            return self._sender

    def flush_outbox(self) -> Flushed:
        """Relay the outbox until a claim comes back empty or the broker fails.

        Empty, not just short: agents enqueue receipts meanwhile.
        """
        from dataspace.events.relay import relay_once  # noqa: PLC0415
        from dataspace.store import outbox  # noqa: PLC0415

        sent, error = 0, None
        with self._relaying:
            try:
                sender = self.sender()
                while True:
                    result = relay_once(self.db, sender)
                    sent += result.sent
                    if result.failed:
                        error = (
                            f"Kafka at {self.settings.bootstrap_servers} did not acknowledge "
                            "the events"
                        )
                    if result.failed or result.claimed == 0:
                        break
            except ServiceError as exc:
                error = str(exc)
        with self.db.transaction() as session:
            pending = outbox.pending_count(session)
        return Flushed(sent, pending, error)

    def relay_pending(self) -> Flushed | None:
        """:meth:`flush_outbox` if the outbox holds anything (what is due is sent; what waits
        for its retry time stays); None, without touching Kafka, if it is empty."""
        from dataspace.store import outbox  # noqa: PLC0415

        with self.db.transaction(read_only=True) as session:
            if outbox.pending_count(session) == 0:
                return None
        return self.flush_outbox()

    def send_outbox(self) -> int:
        """Send everything the outbox holds; ServiceError if the broker did not take it (for
        a job that must not succeed until everyone was told, such as a DAG task)."""
        flushed = self.flush_outbox()
        if flushed.error:
            raise ServiceError(
                f"{flushed.error}; {flushed.pending} events stay in the outbox and the task "
                "is retried."
            )
        return flushed.sent

    def close(self) -> None:
        """Close the sender (flushing what it holds), then the database if the node owns it.
        Safe to call twice."""
        sender, self._sender = self._sender, None
        try:
            if sender is not None:
                sender.close()
        finally:
            if self.owns_db:
                self.db.dispose()


@contextmanager
def open_node(settings: Settings | None = None) -> Iterator[Node]:
    """The node of this process: settings (read once when not given), the database migrated
    if its schema version differs, the key store; closed when the block ends."""
    settings = settings or load_settings()
    # Everything below the state directory (database, keys, landed and staged files, the
    # embedded object store) is business data: only its owner may even list it.
    private_directory(settings.state_dir, ours=True)
    database = Database(settings.effective_database_url)
    node = Node(settings, database, KeyStore(settings.keys_dir), owns_db=True)
    try:
        upgrade_schema(database)
        yield node
    finally:
        node.close()
