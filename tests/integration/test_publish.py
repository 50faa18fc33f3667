"""Publishing a release end to end on the real stack and both databases: each subscriber gets
exactly its view, the announcement is durable before it is sent, and bad input, failed
quality and ended agreements deliver nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sqlalchemy import select

from dataspace import demo_data
from dataspace.adapters.kafka_producer import KafkaSender
from dataspace.agent.subscriber import announcements_topic
from dataspace.config import Settings
from dataspace.controlplane import agreements, ledger, releases
from dataspace.dataplane import views as views_module
from dataspace.errors import InvalidInput, NotFound, Unauthorized
from dataspace.events.envelope import decode
from dataspace.events.registry import event_id_for
from dataspace.events.relay import relay_once
from dataspace.node import Node
from dataspace.operations.stores import release_store
from dataspace.publishing import publish as publishing
from dataspace.publishing.publish import PublishSummary, publish
from dataspace.store import outbox
from dataspace.store.models import DeliveryRow, LedgerEntryRow, OutboxRow, ReleaseRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.helpers import free_port
from tests.worlds.publish_world import (
    LEADER,
    SUPPLIERS,
    World,
    consume,
    list_keys,
    make_world,
    read_object,
    write_input,
)

pytestmark = pytest.mark.integration

ANNOUNCED = [announcements_topic("supplier-01"), announcements_topic("supplier-02")]
ORDERS = demo_data.purchase_orders(0)


@pytest.fixture
def world(space: Space, stack_settings: Settings, unique: str) -> World:
    world = make_world(space, stack_settings, unique)
    world.agree("supplier-01", 1)  # own rows, price hashed
    world.agree("supplier-02", 2)  # own rows, four columns
    return world


def run(world: World, source: Path, **kwargs: object) -> PublishSummary:
    with closing(Node(world.settings, world.db, world.space.keys)) as node:
        return publish(
            node, product_id=world.product, provider=LEADER, source=source,
            **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip


def own_rows(supplier: str) -> pa.Table:
    return ORDERS.filter(pc.equal(ORDERS.column("supplier_id"), supplier))


def test_each_subscriber_receives_exactly_its_view_and_is_told_on_kafka(
    world: World, tmp_path: Path, unique: str
) -> None:
    summary = run(world, write_input(ORDERS, tmp_path / "orders.parquet"))

    assert (summary.status, summary.version, summary.rows) == ("accepted", 1, ORDERS.num_rows)
    assert summary.events_pending == 0
    assert summary.relay_error is None
    store = release_store(world.settings)
    assert read_object(store, f"{world.product}/1/part-0.parquet", summary.sha256).equals(ORDERS)
    with world.db.transaction() as session:
        rows = {d.subscriber_id: d for d in session.scalars(select(DeliveryRow))}
        release = session.scalars(select(ReleaseRow)).one()
        actions = list(session.scalars(select(LedgerEntryRow.action)))
        stored = (release.status, release.mode, release.sha256)
        views = {s: (d.id, d.object_key, d.sha256, d.row_count) for s, d in rows.items()}
    assert stored == ("accepted", "snapshot", summary.sha256)
    assert sorted(views) == ["supplier-01", "supplier-02"]

    masked = read_object(store, views["supplier-01"][1], views["supplier-01"][2])
    mine = own_rows("supplier-01")
    salt = world.space.keys.mask_salt(world.agreements["supplier-01"])
    assert masked.column_names == ORDERS.column_names
    assert masked.column("part_no").equals(mine.column("part_no"))
    prices = pc.cast(mine.column("unit_price_cny"), pa.string()).to_pylist()
    assert masked.column("unit_price_cny").to_pylist() == [
        hashlib.sha256(salt + price.encode()).hexdigest() for price in prices
    ]
    projected = read_object(store, views["supplier-02"][1], views["supplier-02"][2])
    columns = ["week", "supplier_id", "part_no", "quantity"]
    assert projected.equals(own_rows("supplier-02").select(columns))
    assert views["supplier-02"][3] == projected.num_rows

    assert actions[-3:] == ["release.published", "delivery.announced", "delivery.announced"]
    assert ledger.verify(world.db).ok
    events = consume(
        world.settings, ANNOUNCED, world.public_key_of,
        lambda e: e.body["product_id"] == world.product, group=f"announced-{unique}", count=2,
    )  # fmt: skip
    by_key = dict(events)
    assert sorted(by_key) == ["supplier-01", "supplier-02"]
    assert len(events) == 2
    for subscriber, event in by_key.items():
        delivery_id, _, sha256, row_count = views[subscriber]
        assert event.actor == LEADER
        assert event.body["subscriber_id"] == subscriber
        assert (event.body["delivery_id"], event.body["sha256"]) == (delivery_id, sha256)
        assert event.body["row_count"] == row_count
        assert event.event_id == event_id_for("DeliveryAnnounced", delivery_id)
        assert not any("url" in name or "key" in name for name in event.body)
        text = repr(dict(event.body))
        assert "http" not in text
        assert world.product + "/" not in text  # no object key


def test_views_are_derived_in_the_same_pass_as_the_release_not_read_back(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_back(*args: object) -> None:
        raise AssertionError("a publish read its release back from the store")

    monkeypatch.setattr(views_module, "_read", read_back)
    summary = run(world, write_input(ORDERS, tmp_path / "orders.parquet"))

    store = release_store(world.settings)
    with world.db.transaction() as session:
        delivery = session.scalars(
            select(DeliveryRow).where(DeliveryRow.subscriber_id == "supplier-02")
        ).one()
    columns = ["week", "supplier_id", "part_no", "quantity"]
    view = read_object(store, delivery.object_key, delivery.sha256)
    assert view.equals(own_rows("supplier-02").select(columns))
    assert len(summary.delivered) == 2


def test_the_gate_checks_the_batches_the_release_is_written_from_in_one_read(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    checked: list[int] = []
    real_read, real_add = publishing.read_input, publishing.Validation.add

    def read_input(path: Path, avro: Mapping[str, Any]) -> Iterator[pa.RecordBatch]:
        reads.append(path)
        return real_read(path, avro)

    def add(self: publishing.Validation, batch: pa.RecordBatch) -> None:
        checked.append(batch.num_rows)
        real_add(self, batch)

    monkeypatch.setattr(publishing, "read_input", read_input)
    monkeypatch.setattr(publishing.Validation, "add", add)
    source = write_input(ORDERS, tmp_path / "orders.parquet")
    summary = run(world, source)

    assert reads == [source]  # one read of the input serves the gate, release and views
    assert sum(checked) == summary.rows == ORDERS.num_rows
    assert summary.status == "accepted"
    assert len(summary.delivered) == 2


def test_an_input_that_does_not_match_the_schema_writes_nothing(
    world: World, tmp_path: Path
) -> None:
    names = ["week", "supplier_id", "part_number", "quantity", "unit_price_cny"]
    wrong = ORDERS.rename_columns(names)
    before = world.footprint()

    with pytest.raises(InvalidInput, match="missing column part_no; extra column part_number"):
        run(world, demo_data.write_csv(wrong, tmp_path / "orders.csv"))

    assert world.footprint() == before
    assert list_keys(release_store(world.settings), f"{world.product}/") == []


def test_a_failing_quality_suite_quarantines_the_release_and_delivers_nothing(
    world: World, tmp_path: Path
) -> None:
    spoiled = demo_data.spoiled(ORDERS, "quantity")
    summary = run(world, write_input(spoiled, tmp_path / "orders.parquet"))

    assert (summary.status, summary.deliveries, summary.report_key) == (
        "quarantined", (), f"{world.product}/1/quality-report.json",
    )  # fmt: skip
    store = release_store(world.settings)
    assert list_keys(store, f"{world.product}/") == [summary.report_key]
    with store.open_input(summary.report_key) as report:
        assert b"expect_column_values_to_be_between" in report.read()
    with world.db.transaction() as session:
        release = session.scalars(select(ReleaseRow)).one()
        assert (release.status, release.quality_report_key) == ("quarantined", summary.report_key)
        assert session.scalars(select(DeliveryRow)).all() == []
        sent = session.scalars(select(OutboxRow).order_by(OutboxRow.id.desc())).first()
        assert sent is not None
    event = decode(sent.payload, sent.headers, world.public_key_of, topic=sent.topic)
    assert (event.event_type, sent.key) == ("ReleaseQuarantined", LEADER)
    assert event.body["failed_checks"] == ["expect_column_values_to_be_between(quantity)"]
    assert len(event.body["report_sha256"]) == 64


def test_expired_revoked_and_exhausted_agreements_receive_nothing(
    world: World, tmp_path: Path
) -> None:
    now = utcnow()
    world.agree("supplier-03", 3, max_deliveries=1)
    world.space.member("supplier-04")
    world.agree("supplier-04", 3, valid_until=now + timedelta(days=1))
    source = write_input(ORDERS, tmp_path / "orders.parquet")
    first = run(world, source)  # now: members admitted after `now` are not valid before it
    assert sorted(d.subscriber for d in first.delivered) == [*SUPPLIERS, "supplier-04"]

    revoked = world.agreements["supplier-02"]
    agreements.revoke(world.db, world.space.keys, actor=LEADER, agreement_id=revoked)
    second = run(world, source, now=now + timedelta(days=2))

    assert [d.subscriber for d in second.delivered] == ["supplier-01"]
    reasons = {d.subscriber: str(d.reason) for d in second.deliveries}
    assert "ended (revoked)" in reasons["supplier-02"]
    assert "ended (exhausted)" in reasons["supplier-03"]
    assert "ended (expired)" in reasons["supplier-04"]
    with world.db.transaction() as session:
        delivered = [(d.subscriber_id, d.id) for d in session.scalars(select(DeliveryRow))]
    assert len(delivered) == 5  # four for version 1, one for version 2
    assert ("supplier-01", f"dlv-{world.agreements['supplier-01']}-v2") in delivered


def test_refusals_name_the_problem_and_write_nothing(world: World, tmp_path: Path) -> None:
    source = write_input(ORDERS, tmp_path / "orders.parquet")
    before = world.footprint()
    node = Node(world.settings, world.db, world.space.keys)

    with pytest.raises(Unauthorized, match="belongs to 'xcmg'"):
        publish(node, product_id=world.product, provider="supplier-01", source=source)
    with pytest.raises(NotFound, match="No product with id 'no-such-product'"):
        publish(node, product_id="no-such-product", provider=LEADER, source=source)
    with pytest.raises(InvalidInput, match="does not exist"):
        run(world, tmp_path / "missing.parquet")
    (tmp_path / "garbage.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        run(world, tmp_path / "garbage.parquet")

    assert world.footprint() == before


def test_a_crash_before_the_transaction_leaves_no_duplicate_on_retry(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_input(ORDERS, tmp_path / "orders.parquet")
    record = releases.record_publication

    def crash(*args: object, **kwargs: object) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(publishing.releases, "record_publication", crash)
    with pytest.raises(ConnectionError):
        run(world, source)
    orphans = list_keys(release_store(world.settings), f"{world.product}/")
    assert world.footprint()[:2] == (0, 0)

    monkeypatch.setattr(publishing.releases, "record_publication", record)
    summary = run(world, source)

    assert summary.version == 1
    assert len(summary.delivered) == 2
    assert list_keys(release_store(world.settings), f"{world.product}/") == orphans
    assert world.footprint()[:2] == (1, 2)


def test_a_dead_broker_keeps_events_pending_and_a_later_relay_sends_each_once(
    world: World, tmp_path: Path, unique: str
) -> None:
    dead = world.settings.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    with closing(Node(dead, world.db, world.space.keys)) as node:
        summary = publish(
            node, product_id=world.product, provider=LEADER,
            source=write_input(ORDERS, tmp_path / "orders.parquet"),
        )  # fmt: skip

    assert summary.status == "accepted"
    assert len(summary.delivered) == 2
    assert summary.events_sent == 0
    assert summary.events_pending >= 3
    assert summary.relay_error is not None

    later = utcnow() + timedelta(minutes=5)  # past the back-off of the failed attempt
    sent = relay_once(world.db, KafkaSender(world.settings), now=lambda: later)
    assert sent.failed == 0
    assert sent.sent == summary.events_pending
    assert relay_once(world.db, KafkaSender(world.settings), now=lambda: later).claimed == 0
    with world.db.transaction() as session:
        assert outbox.pending_count(session) == 0
    events = consume(
        world.settings, ANNOUNCED, world.public_key_of,
        lambda e: e.body["product_id"] == world.product, group=f"after-{unique}", count=2,
    )  # fmt: skip
    assert sorted(key for key, _ in events) == ["supplier-01", "supplier-02"]  # each once


def test_the_mask_salt_is_secret_stable_and_per_agreement(world: World) -> None:
    keys = world.space.keys
    first = keys.mask_salt("agr-000000000001")
    assert first == keys.mask_salt("agr-000000000001")
    assert first != keys.mask_salt("agr-000000000002")
    assert first != hashlib.sha256(b"agr-000000000001").digest()
    assert (keys.directory / "mask-salt.secret").stat().st_mode & 0o077 == 0
