"""Faults of issue 4, on the real stack: the broker killed during a publish, the broker losing
its log between relay and consumption, a subscriber killed mid-way. In each case every
subscriber ends with every due delivery landed exactly once.

The broker is killed with SIGKILL, so each test that kills it gets a Kafka broker of its own
(an embedded Tansu in its tmp dir, on a free port, started by ``dataspace.stack.stack.Stack``); its
object store stays the session's, which nobody kills.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from dataspace.adapters.kafka_producer import KafkaSender
from dataspace.agent.landed import LandedLog
from dataspace.config import Settings, load_settings
from dataspace.controlplane import ledger, releases
from dataspace.events.relay import as_record, relay_once
from dataspace.faults import HELD_FILE_ENV, HOLD_ENV
from dataspace.publishing.publish import UPLOAD_STAGE
from dataspace.stack.process import PidFile, is_alive
from dataspace.stack.stack import Stack
from dataspace.store import outbox
from dataspace.store.db import Database
from dataspace.store.models import DeliveryRow, OutboxRow
from dataspace.store.outbox import OutboxMessage
from tests.fixtures.controlplane import Space
from tests.helpers import DATASPACE, free_port, wait_for
from tests.worlds.chain_world import QUICK_JOIN, Chain, landed_ids, no_partials

pytestmark = pytest.mark.integration

# Every subscriber's own DeliveryAnnounced topic ends so: dataspace.to.<subscriber>.<this>.
ANNOUNCED = ".deliveries.announced.v1"


@dataclass(frozen=True)
class Broker:
    """A Kafka broker this test may kill: an embedded Tansu of its own."""

    stack: Stack

    @property
    def settings(self) -> Settings:
        return self.stack.settings

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: the memory-backed log is gone."""
        running = PidFile(self.stack.run_dir / "kafka.pid").running()
        assert running is not None, "the broker is not running"
        os.kill(running.pid, signal.SIGKILL)
        wait_for(lambda: not is_alive(running.pid))

    def restart(self) -> None:
        self.stack.up()  # restarts a dead service, leaves a healthy one alone


@pytest.fixture
def broker(stack_settings: Settings, tmp_path: Path, unique: str) -> Iterator[Broker]:
    store = stack_settings.s3()
    settings = load_settings(
        state_dir=tmp_path / "broker",
        kafka_bootstrap_servers=None,
        kafka_port=free_port(),
        s3_endpoint=store.url,
        s3_access_key=store.access_key,
        s3_secret_key=store.secret_key,
        s3_region=store.region,
        release_bucket=f"rel-{unique}",
    )
    stack = Stack(settings)
    assert [service.name for service in stack.embedded()] == ["kafka"]
    stack.up()
    try:
        yield Broker(stack)
    finally:
        stack.down()


@pytest.fixture
def chain(space: Space, broker: Broker, unique: str, tmp_path: Path) -> Chain:
    """Suppliers 01 (own rows), 02 (masked price) and 03 (projection) of ``xcmg``."""
    chain = Chain(space, broker.settings, unique, tmp_path)
    chain.agree(1, "own rows")
    chain.agree(2, "masked price")
    chain.agree(3, "projection")
    return chain


class KillAt:
    """Publish progress that kills the broker when publish reaches ``stage``."""

    def __init__(self, broker: Broker, stage: str) -> None:
        self.broker, self.stage, self.killed = broker, stage, False

    def start(self, stage: str, total_rows: int | None) -> None:
        if stage == self.stage and not self.killed:
            self.broker.kill()
            self.killed = True

    def advance(self, rows: int) -> None:
        return None


def pending(db: Database) -> int:
    with db.transaction() as session:
        return outbox.pending_count(session)


def unsent_announcements(db: Database) -> list[str]:
    """The keys (subscribers) of the DeliveryAnnounced events still in the outbox."""
    query = select(OutboxRow.key).where(
        OutboxRow.topic.endswith(ANNOUNCED), OutboxRow.sent_at.is_(None)
    )
    with db.transaction() as session:
        return sorted(session.scalars(query))


def relay_all(settings: Settings, db: Database) -> None:
    """What `dataspace relay` does until the outbox is empty (its back-off included)."""
    sender = KafkaSender(settings)

    def drained() -> bool:
        relay_once(db, sender)
        return pending(db) == 0

    wait_for(drained, timeout=60, interval=0.5)


def due_ids(chain: Chain, version: int) -> dict[str, list[str]]:
    return {s: [releases.delivery_id(a, version)] for s, a in chain.agreements.items()}


def test_a_broker_killed_during_publish_loses_nothing_after_relay(
    chain: Chain, broker: Broker
) -> None:
    suppliers = list(chain.agreements)
    killer = KillAt(broker, UPLOAD_STAGE)  # mid-way: the release and its views are being written

    summary = chain.publish(chain.orders(0), "week-0", progress=killer)

    assert killer.killed
    assert (summary.status, summary.events_sent) == ("accepted", 0)
    assert summary.events_pending == pending(chain.db)
    assert unsent_announcements(chain.db) == sorted(suppliers)
    assert summary.relay_error is not None
    assert len(summary.delivered) == len(suppliers)

    broker.restart()
    relay_all(broker.settings, chain.db)
    first = chain.receive_all(suppliers)
    second = chain.receive_all(suppliers)

    assert {s: landed_ids(first[s]) for s in suppliers} == due_ids(chain, 1)
    assert all(s.landed == s.rejected == s.refused == [] for s in second.values())
    for supplier in suppliers:
        assert chain.landed_files(supplier) == [chain.part(1)]
    assert sorted(chain.receipts()) == sorted((s, ids[0]) for s, ids in due_ids(chain, 1).items())
    assert ledger.verify(chain.db).ok


def test_a_broker_that_lost_its_log_is_made_good_by_resync_exactly_once(
    chain: Chain, broker: Broker
) -> None:
    suppliers = list(chain.agreements)
    summary = chain.publish(chain.orders(0), "week-0")
    assert (summary.events_pending, summary.relay_error) == (0, None)  # relayed, not consumed

    broker.kill()
    broker.restart()
    lost = chain.receive_all(suppliers)
    resynced = chain.receive_all(suppliers, resync=True)
    replay_announcements(broker.settings, chain.db)  # a relay that re-sends, at least once
    again = chain.receive_all(suppliers, resync=True)

    assert all(s.landed == [] for s in lost.values())
    assert {s: landed_ids(resynced[s]) for s in suppliers} == due_ids(chain, 1)
    assert all((s.landed, s.duplicates) == ([], 1) for s in again.values())
    for supplier in suppliers:
        assert chain.landed_files(supplier) == [chain.part(1)]
    assert sorted(chain.receipts()) == sorted((s, ids[0]) for s, ids in due_ids(chain, 1).items())
    assert ledger.verify(chain.db).ok


def replay_announcements(settings: Settings, db: Database) -> None:
    """Send every DeliveryAnnounced of the outbox again, byte for byte."""
    with db.transaction() as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.topic.endswith(ANNOUNCED)))
        messages = [
            OutboxMessage(row.id, row.topic, row.key, row.payload, dict(row.headers))
            for row in rows
        ]
    errors = KafkaSender(settings).send([as_record(message) for message in messages])
    assert set(errors) == {None}


def test_a_subscriber_killed_mid_way_lands_everything_exactly_once_on_restart(
    chain: Chain, broker: Broker, tmp_path: Path
) -> None:
    supplier = chain.supplier(1)
    versions = range(1, 5)
    for version in versions:
        assert chain.publish(chain.orders(version), f"week-{version}").events_pending == 0
    landing = chain.landing(supplier)
    command = [DATASPACE, "subscribe", "--as", supplier, "--landing", str(landing), "--json"]
    env = agent_environment(broker.settings, chain.db, tmp_path)

    # The agent's second download holds half-written until killed (ADR 0012), so the kill
    # lands mid-way whatever the machine's speed; the first lands before it is killed.
    held = tmp_path / "held"
    second = {**env, HOLD_ENV: "download.partial-written@2", HELD_FILE_ENV: str(held)}
    with subprocess.Popen(command, env=second, stdout=subprocess.DEVNULL) as agent:
        try:
            wait_for(held.exists, 60)
            wait_for(lambda: any(landing.rglob("part-0.parquet")), 60)
        finally:
            agent.send_signal(signal.SIGKILL)
    # A download cut off by the kill may leave a .partial file; it is never under a final name.
    with LandedLog(landing) as landed:
        before = landed.ids()
    restarted = subprocess.run(
        [*command, "--once"], env=env, capture_output=True, check=True, text=True, timeout=120
    )

    ids = {releases.delivery_id(chain.agreements[supplier], v) for v in versions}
    after = {item["deliveryId"] for item in json.loads(restarted.stdout)["landed"]}
    assert len(before) < len(ids)  # killed mid-way (a landing may not be logged yet)
    assert (after | before, after & before) == (ids, set())
    with LandedLog(landing) as landed:
        assert landed.ids() == ids
    assert chain.landed_files(supplier) == [chain.part(v) for v in versions]
    assert no_partials(landing)
    for version in versions:  # what is under the final name is the delivered object
        landed = (landing / chain.part(version)).read_bytes()
        assert hashlib.sha256(landed).hexdigest() == delivered_sha256(chain, supplier, version)
    assert sorted(delivery for _, delivery in chain.receipts()) == sorted(ids)
    assert {state for who, state in chain.deliveries().values() if who == supplier} == {"landed"}


def delivered_sha256(chain: Chain, supplier: str, version: int) -> str:
    delivery_id = releases.delivery_id(chain.agreements[supplier], version)
    with chain.db.transaction() as session:
        row = session.get(DeliveryRow, delivery_id)
        assert row is not None
        return row.sha256


def agent_environment(settings: Settings, db: Database, tmp_path: Path) -> dict[str, str]:
    """`dataspace subscribe` on this test's node: its database, keys, broker and bucket."""
    store = settings.s3()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    return {
        **env,
        "DATASPACE_STATE_DIR": str(tmp_path),
        "DATASPACE_DATABASE_URL": db.url.render_as_string(hide_password=False),
        "DATASPACE_KAFKA_PORT": str(settings.kafka_port),
        "DATASPACE_KAFKA_OPTIONS": json.dumps(QUICK_JOIN),
        "DATASPACE_S3_ENDPOINT": store.url,
        "DATASPACE_S3_ACCESS_KEY": store.access_key,
        "DATASPACE_S3_SECRET_KEY": store.secret_key.get_secret_value(),
        "DATASPACE_RELEASE_BUCKET": settings.release_bucket,
    }
