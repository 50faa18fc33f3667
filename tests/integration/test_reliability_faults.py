"""Faults of issue 6 on the real stack, each a real process killed with SIGKILL at a chosen
point (or a real database lock), and each followed by the same proof: every subscriber holds
every due delivery exactly once, nothing half-written is visible, the ledger verifies.

- the object store, killed while publish uploads the release (an object store of the test's
  own; the session's is shared);
- a subscriber agent, killed while its first download is half-written (held there by the
  ``download.partial-written`` fault point, ADR 0012);
- the outbox relay, killed after the broker acknowledged a batch and before the outbox
  recorded it (the ``relay.sent-not-marked`` point);
- the control-plane database, locked by another connection (SQLite's write lock,
  PostgreSQL's table lock) while publish runs: a clear StoreBusy or a wait, never half a
  release.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from dataspace.adapters.kafka_producer import KafkaSender
from dataspace.adapters.s3 import arrow_filesystem
from dataspace.agent.landed import LandedLog
from dataspace.config import Settings, load_settings
from dataspace.controlplane import ledger, releases
from dataspace.dataplane.objects import ObjectStore
from dataspace.errors import DataspaceError, StoreBusy
from dataspace.events.relay import relay_once
from dataspace.faults import HELD_FILE_ENV, HOLD_ENV
from dataspace.node import Node
from dataspace.publishing.publish import UPLOAD_STAGE, publish
from dataspace.stack.process import PidFile, is_alive
from dataspace.stack.stack import Stack
from dataspace.store import outbox
from dataspace.store.db import Database
from dataspace.store.models import DeliveryRow, LedgerEntryRow, OutboxRow, ReleaseRow
from dataspace.store.outbox import DEFAULT_LEASE
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.helpers import DATASPACE, free_port, free_port_block, wait_for
from tests.integration.test_delivery_faults import agent_environment
from tests.reliability.record import record
from tests.worlds.chain_world import Chain, landed_ids, no_partials
from tests.worlds.publish_world import list_keys

pytestmark = pytest.mark.integration
# Where the database is not what the fault is about, one database keeps `make test` short.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def expect_exactly_once(chain: Chain, version: int, suppliers: list[str] | None = None) -> None:
    """Every supplier holds ``version`` once, verified, receipted once; nothing partial."""
    chosen = suppliers or list(chain.agreements)
    due = {s: releases.delivery_id(chain.agreements[s], version) for s in chosen}
    receipts = [delivery for _, delivery in chain.receipts()]
    once = 0
    for supplier, delivery in due.items():
        landing = chain.landing(supplier)
        with LandedLog(landing) as landed:
            ids = landed.ids()
        fine = (
            delivery in ids
            and receipts.count(delivery) == 1
            and chain.landed_files(supplier).count(chain.part(version)) == 1
            and no_partials(landing)
            and _sha256(landing / chain.part(version)) == _recorded_sha256(chain, delivery)
        )
        once += fine
    record.deliveries(due=len(due), landed_once=once)
    assert once == len(due), f"{once} of {len(due)} due deliveries landed exactly once"
    assert ledger.verify(chain.db).ok


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _recorded_sha256(chain: Chain, delivery_id: str) -> str:
    with chain.db.transaction() as session:
        row = session.get(DeliveryRow, delivery_id)
        return row.sha256 if row is not None else "?"


def counts(db: Database) -> tuple[int, int, int, int]:
    """(releases, deliveries, ledger entries, outbox rows): what a publish records."""
    with db.transaction() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (ReleaseRow, DeliveryRow, LedgerEntryRow, OutboxRow)
        )


def announced_objects_are_complete(chain: Chain, store: ObjectStore) -> None:
    """Every object a delivery names is in the store, whole: the SHA-256 recorded."""
    with chain.db.transaction() as session:
        rows = [(r.object_key, r.sha256) for r in session.scalars(select(DeliveryRow))]
    assert rows
    for key, sha256 in rows:
        with store.open_input(key) as source:
            assert hashlib.sha256(source.read()).hexdigest() == sha256, key


# -- the object store ------------------------------------------------------------------------


class ObjectStoreOfItsOwn:
    """An embedded Swift for one test, which it may kill; Kafka stays the session's."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def kill(self) -> None:
        """SIGKILL every process of the store, as a crashed host would lose them."""
        for component in self._components():
            running = PidFile(self.stack.run_dir / f"{component}.pid").running()
            if running is not None:
                os.kill(running.pid, signal.SIGKILL)
                wait_for(lambda pid=running.pid: not is_alive(pid))  # type: ignore[misc]

    def _components(self) -> list[str]:
        return [c.name for s in self.stack.embedded() for c in s.components]


@pytest.fixture
def own_store(stack_settings: Settings, tmp_path: Path, unique: str) -> Iterator[Settings]:
    settings = load_settings(
        state_dir=tmp_path / "store",
        kafka_bootstrap_servers=stack_settings.bootstrap_servers,
        kafka_port=free_port(),
        s3_port=free_port_block(4),
        release_bucket=f"rel-{unique}",
    )
    stack = Stack(settings)
    assert [service.name for service in stack.embedded()] == ["object-store"]
    stack.up()
    try:
        yield settings
    finally:
        stack.down()


class KillStoreMidUpload:
    """Publish progress that kills the object store once the upload has its first batch."""

    def __init__(self, store: ObjectStoreOfItsOwn) -> None:
        self.store, self.stage, self.killed = store, "", False

    def start(self, stage: str, total_rows: int | None) -> None:
        self.stage = stage

    def advance(self, rows: int) -> None:
        if self.stage == UPLOAD_STAGE and not self.killed:
            self.store.kill()  # the writer is open, the batch on its way to it
            self.killed = True


@pytest.mark.reliability("faults", "object store SIGKILLed during an upload")
@SQLITE_ONLY
def test_an_object_store_killed_during_an_upload_leaves_nothing_announced(
    space: Space, own_store: Settings, unique: str, tmp_path: Path
) -> None:
    chain = Chain(space, own_store, unique, tmp_path)
    for number, offer in ((1, "own rows"), (2, "masked price"), (3, "projection")):
        chain.agree(number, offer)
    source = tmp_path / "week-1.parquet"
    pq.write_table(chain.orders(1), source)
    store = ObjectStoreOfItsOwn(Stack(own_store))
    killer = KillStoreMidUpload(store)
    before = counts(chain.db)

    with pytest.raises(DataspaceError) as failed:
        publish(
            Node(own_store, chain.db, space.keys),
            product_id=chain.product, provider="xcmg", source=source, progress=killer,
        )  # fmt: skip

    record.fault("object store SIGKILLed during an upload")
    assert killer.killed
    assert "\n" not in str(failed.value)
    assert "Traceback" not in str(failed.value)
    assert counts(chain.db) == before  # nothing recorded, nothing announced
    Stack(own_store).up()  # the store comes back (its disk kept what it had)
    store_again = ObjectStore(arrow_filesystem(own_store.s3()), own_store.release_bucket)
    assert list_keys(store_again, f"{chain.product}/") == []  # no half-written object visible
    with closing(Node(own_store, chain.db, space.keys)) as node:
        summary = publish(node, product_id=chain.product, provider="xcmg", source=source)
    assert (summary.status, summary.version, summary.events_pending) == ("accepted", 1, 0)
    chain.receive_all(chain.agreements)
    again = chain.receive_all(chain.agreements)
    assert all(s.landed == [] for s in again.values())
    expect_exactly_once(chain, 1)
    announced_objects_are_complete(chain, store_again)


# -- processes held at a fault point, then killed --------------------------------------------


# The space keeps its keys in tmp_path/keys: a process run with DATASPACE_STATE_DIR=tmp_path
# acts on this test's node.
def held_process(command: list[str], env: dict[str, str], point: str, held: Path) -> int:
    """Start ``command`` told to hold at ``point``; SIGKILL it there; return its exit status."""
    chosen = {**env, HOLD_ENV: point, HELD_FILE_ENV: str(held)}
    with subprocess.Popen(
        command, env=chosen, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as process:
        try:
            wait_for(held.exists, timeout=90, interval=0.1)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
    return process.returncode


@pytest.fixture
def chain(space: Space, stack_settings: Settings, unique: str, tmp_path: Path) -> Chain:
    isolated = stack_settings.model_copy(update={"release_bucket": f"rel-{unique}"})
    chain = Chain(space, isolated, unique, tmp_path)
    chain.agree(1, "own rows")
    chain.agree(2, "masked price")
    return chain


@pytest.mark.reliability("faults", "subscriber SIGKILLed during a download")
@SQLITE_ONLY
def test_a_subscriber_killed_during_a_download_lands_it_once_on_restart(
    chain: Chain, tmp_path: Path
) -> None:
    supplier = chain.supplier(1)
    for version in (1, 2):
        assert chain.publish(chain.orders(version), f"week-{version}").events_pending == 0
    landing = chain.landing(supplier)
    command = [DATASPACE, "subscribe", "--as", supplier, "--landing", str(landing), "--once"]
    env = agent_environment(chain.settings, chain.db, tmp_path)

    status = held_process(command, env, "download.partial-written", tmp_path / "held")

    record.fault("subscriber SIGKILLed during a download")
    assert status == -signal.SIGKILL
    partial = [p.name for p in landing.rglob("*") if p.is_file() and p.suffix == ".partial"]
    assert partial  # the agent was mid-way (each of its workers held in a download)
    assert set(partial) == {"part-0.parquet.partial"}
    assert not list(landing.rglob("part-0.parquet"))  # nothing under a final name
    restarted = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    landed = {item["deliveryId"] for item in json.loads(restarted.stdout)["landed"]}
    assert landed == {releases.delivery_id(chain.agreements[supplier], v) for v in (1, 2)}
    expect_exactly_once(chain, 1, [supplier])
    expect_exactly_once(chain, 2, [supplier])


@pytest.mark.reliability("faults", "relay SIGKILLed between sending and marking sent")
def test_a_relay_killed_after_sending_before_marking_sends_again_and_nothing_doubles(
    chain: Chain, stack_settings: Settings, tmp_path: Path
) -> None:
    real = chain.settings
    # Publish while no broker answers: the events wait in the outbox.
    nowhere = f"127.0.0.1:{free_port()}"
    chain.settings = real.model_copy(update={"kafka_bootstrap_servers": nowhere})
    summary = chain.publish(chain.orders(1), "week-1")
    chain.settings = real
    assert summary.events_pending == pending(chain.db) > 0
    env = agent_environment(stack_settings, chain.db, tmp_path)

    status = held_process([DATASPACE, "relay"], env, "relay.sent-not-marked", tmp_path / "held")

    record.fault("relay SIGKILLed between sending and marking sent")
    assert status == -signal.SIGKILL
    assert pending(chain.db) == summary.events_pending  # sent, but the outbox does not know
    first = chain.receive_all(chain.agreements)  # the killed relay's sends arrive
    assert all(len(s.landed) == 1 for s in first.values())
    # The killed relay's lease on its batch ends after DEFAULT_LEASE; a relay then resends.
    later = utcnow() + DEFAULT_LEASE + timedelta(seconds=1)
    result = relay_once(chain.db, KafkaSender(stack_settings), now=lambda: later)
    assert pending(chain.db) == 0
    assert result.sent == summary.events_pending + len(chain.agreements)  # + the receipts
    second = chain.receive_all(chain.agreements)
    assert all((s.landed, s.duplicates) == ([], 1) for s in second.values())
    assert {s: landed_ids(first[s]) for s in chain.agreements} == {
        s: [releases.delivery_id(a, 1)] for s, a in chain.agreements.items()
    }
    expect_exactly_once(chain, 1)


def pending(db: Database) -> int:
    with db.transaction() as session:
        return outbox.pending_count(session)


# -- the control-plane database --------------------------------------------------------------


@contextmanager
def locked(db: Database) -> Iterator[threading.Event]:
    """Lock the control plane from another connection until the yielded event is set."""
    release, holding = threading.Event(), threading.Event()

    def hold() -> None:
        with db.engine.connect() as connection, connection.begin():
            # SQLite: every transaction begins IMMEDIATE, taking the database's write lock.
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("LOCK TABLE outbox, releases IN ACCESS EXCLUSIVE MODE")
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(15)
        yield release
    finally:
        release.set()
        holder.join()


@pytest.mark.reliability("faults", "control-plane database locked during a publish")
def test_a_locked_control_plane_fails_publish_clearly_or_waits_it_out(
    chain: Chain, db: Database
) -> None:
    source = tmp_input(chain)
    before = counts(db)
    with (
        Database(db.url, busy_timeout_s=0.5) as impatient,
        locked(db),
        pytest.raises(StoreBusy) as busy,
    ):
        publish(
                Node(chain.settings, impatient, chain.space.keys),
                product_id=chain.product, provider="xcmg", source=source,
            )  # fmt: skip
    record.fault("control-plane database locked: publish refused")
    assert "\n" not in str(busy.value)
    assert counts(db) == before  # nothing half-written
    with locked(db) as release:  # a patient publish waits for the lock, then goes through
        threading.Timer(1.0, release.set).start()
        with closing(Node(chain.settings, db, chain.space.keys)) as node:
            summary = publish(node, product_id=chain.product, provider="xcmg", source=source)
    record.fault("control-plane database locked: publish waited")
    assert (summary.status, summary.version, summary.events_pending) == ("accepted", 1, 0)
    chain.receive_all(chain.agreements)
    expect_exactly_once(chain, 1)


def tmp_input(chain: Chain) -> Path:
    path = chain.tmp / "inputs" / "week-1.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(chain.orders(1), path)
    return path
