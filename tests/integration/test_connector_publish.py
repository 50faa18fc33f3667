"""Publishing from a provider's connector through the hub, across a real HTTP boundary: the hub
(uvicorn in a thread, a SQLite control plane, the operator's key only) records a manifest of
what the connector wrote into its own bucket, with the provider's signed request as proof."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select

from dataspace import demo_data
from dataspace.api.app import create_app
from dataspace.config import Settings
from dataspace.connector.release_desk import (
    HubDesk,
    held,
    manifest_of,
    publish_from_connector,
    send_held,
)
from dataspace.connector.state import Connector, ConnectorConfig, open_connector, save_config
from dataspace.controlplane import ledger
from dataspace.controlplane.releases import ReleasePlan
from dataspace.dataplane.layout import StoredObject, release_key, view_key
from dataspace.errors import Conflict, ServiceError
from dataspace.operations.stores import release_store
from dataspace.publishing.publish import UPLOAD_STAGE, PublishSummary
from dataspace.store.models import DeliveryRow, LedgerEntryRow, ReleaseRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.helpers import free_port, wait_for
from tests.worlds.publish_world import (
    LEADER,
    World,
    list_keys,
    make_world,
    operator_node,
    read_object,
    write_input,
)

pytestmark = pytest.mark.integration

ORDERS = demo_data.purchase_orders(0)


class Hub:
    """The hub app served by uvicorn in a thread, stopped and started again on one port."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        config = uvicorn.Config(
            create_app(self.settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="hub", daemon=True)
        self._thread.start()
        wait_for(lambda: server.started)

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._server = self._thread = None


@dataclass
class Setup:
    world: World
    hub: Hub
    directory: Path

    @property
    def space(self) -> Space:
        return self.world.space

    def provider_store_keys(self, connector: Connector) -> list[str]:
        return list_keys(connector.node.release_store(), f"{self.world.product}/")


@pytest.fixture
def setup(tmp_path: Path, stack_settings: Settings, unique: str) -> Iterator[Setup]:
    with operator_node(tmp_path / "hub") as space:
        world = make_world(space, stack_settings, unique)
        world.agree("supplier-01", 1)  # own rows, price hashed
        world.agree("supplier-02", 2)  # own rows, four columns
        directory = tmp_path / "xcmg-connector"
        (directory / "keys").mkdir(parents=True)
        # Registered in development mode; from now on only the connector holds the key.
        shutil.move(space.keys.path_of(LEADER), directory / "keys" / f"{LEADER}.pem")
        hub_settings = stack_settings.model_copy(
            update={"state_dir": tmp_path / "hub", "database_url": None}
        )
        hub = Hub(hub_settings)
        s3 = stack_settings.s3()
        save_config(
            directory,
            ConnectorConfig(
                LEADER,
                hub.url,
                settings={
                    "s3_endpoint": s3.url,
                    "s3_access_key": s3.access_key,
                    "s3_secret_key": s3.secret_key.get_secret_value(),
                    "release_bucket": f"prov-{unique}",
                    "kafka_bootstrap_servers": stack_settings.bootstrap_servers,
                },
            ),
        )
        hub.start()
        try:
            yield Setup(world, hub, directory)
        finally:
            hub.stop()


def recorded(world: World) -> tuple[list[tuple[int, str]], list[tuple[str, str]]]:
    with world.db.transaction() as session:
        releases = [(r.version, r.status) for r in session.scalars(select(ReleaseRow))]
        deliveries = [(d.id, d.subscriber_id) for d in session.scalars(select(DeliveryRow))]
    return releases, sorted(deliveries)


def test_a_connector_publishes_into_its_own_bucket_and_the_hub_records_its_manifest(
    setup: Setup, tmp_path: Path
) -> None:
    world = setup.world
    assert not world.space.keys.has(LEADER)
    with open_connector(setup.directory) as connector:
        summary = publish_from_connector(
            connector, product_id=world.product,
            source=write_input(ORDERS, tmp_path / "orders.parquet"),
        )  # fmt: skip
        stored = setup.provider_store_keys(connector)
        release = read_object(
            connector.node.release_store(), f"{world.product}/1/part-0.parquet", summary.sha256
        )

    assert (summary.status, summary.version, summary.held) == ("accepted", 1, False)
    assert release.equals(ORDERS)
    assert len(summary.delivered) == 2
    assert summary.relay_error is None
    assert summary.events_sent >= 3
    views = {f"{world.product}/1/views/{a}/part-0.parquet" for a in world.agreements.values()}
    assert views <= set(stored)
    assert list_keys(release_store(world.settings), f"{world.product}/") == []  # not the hub's
    releases, deliveries = recorded(world)
    assert releases == [(1, "accepted")]
    assert sorted(s for _, s in deliveries) == ["supplier-01", "supplier-02"]
    with world.db.transaction() as session:
        entry = session.scalars(
            select(LedgerEntryRow).where(LedgerEntryRow.action == "release.published")
        ).one()
        facts = (entry.actor, entry.sealer, bool(entry.attestation), entry.act_body or "")
    assert facts[:3] == (LEADER, "operator", True)
    assert f'"product":"{world.product}"' in facts[3]
    assert ledger.verify(world.db).ok


def test_a_manifest_whose_views_do_not_match_the_agreements_is_refused_and_nothing_recorded(
    setup: Setup,
) -> None:
    world = setup.world
    one, other = world.agreements["supplier-01"], world.agreements["supplier-02"]
    with open_connector(setup.directory) as connector:
        desk = HubDesk(connector)
        plan = desk.plan(world.product, LEADER, "snapshot", utcnow())
        before = (recorded(world), world.space.counts())
        real = [view(plan, one, "supplier-01"), view(plan, other, "supplier-02")]
        forged = manifest(plan, [*real, view(plan, "agr-forged", "supplier-03")])
        with pytest.raises(Conflict, match="not in force or not its consumer's: agr-forged"):
            connector.hub.post("/releases", forged)
        with pytest.raises(Conflict, match=f"missing a view: {other}"):
            connector.hub.post("/releases", manifest(plan, real[:1]))
        desk.give_back(plan)

    assert (recorded(world), world.space.counts()) == before
    assert recorded(world)[0] == []


def view(plan: ReleasePlan, agreement: str, subscriber: str) -> dict[str, object]:
    key = view_key(plan.product_id, plan.version, agreement)
    return {"agreementId": agreement, "subscriber": subscriber, "key": key,
            "sha256": "0" * 64, "rows": 1, "bytes": 10}  # fmt: skip


def manifest(plan: ReleasePlan, views: list[dict[str, object]]) -> dict[str, object]:
    release = StoredObject(release_key(plan.product_id, plan.version), "1" * 64, 1, 10)
    return manifest_of(plan, "accepted", release, deliveries=views)


class StopTheHubAtUpload:
    """A progress that stops the hub when the upload starts: reservation and recipients
    reached the hub, the manifest will not."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def start(self, stage: str, total_rows: int | None) -> None:
        if stage == UPLOAD_STAGE:
            self.hub.stop()

    def advance(self, rows: int) -> None:
        return None


def test_a_manifest_is_held_while_the_hub_is_away_and_recorded_once_when_it_is_back(
    setup: Setup, tmp_path: Path
) -> None:
    world = setup.world
    source = write_input(ORDERS, tmp_path / "orders.parquet")
    with open_connector(setup.directory) as connector:
        summary = publish_from_connector(
            connector, product_id=world.product, source=source,
            progress=StopTheHubAtUpload(setup.hub),
        )  # fmt: skip
        assert (summary.status, summary.held) == ("accepted", True)
        assert [p.name for p in held(setup.directory)] == [f"{world.product}@1.json"]
        assert recorded(world) == ([], [])
        assert send_held(connector).waiting == 1  # still away

        setup.hub.start()
        report = send_held(connector)
        assert (report.sent, report.refused, report.waiting) == ((f"{world.product}@1",), (), 0)
        assert held(setup.directory) == []
        after = (recorded(world), world.space.counts())

        # The answer was lost, say, and the connector sends the manifest again.
        again = connector.hub.post("/releases", resent_manifest(world, connector, summary))

    assert again["again"] is True
    assert after[0][0] == [(1, "accepted")]
    assert len(after[0][1]) == 2
    assert (recorded(world), world.space.counts()) == after
    assert ledger.verify(world.db).ok


def resent_manifest(
    world: World, connector: Connector, summary: PublishSummary
) -> dict[str, object]:
    """The manifest of a recorded release as its connector would send it again."""
    plan = ReleasePlan(summary.product_id, connector.participant, summary.version, "snapshot",
                       "", "", "settled")  # fmt: skip
    release = StoredObject(
        release_key(plan.product_id, plan.version), summary.sha256, summary.rows, summary.bytes
    )
    with world.db.transaction() as session:
        views = [
            {
                "agreementId": d.agreement_id,
                "subscriber": d.subscriber_id,
                "key": d.object_key,
                "sha256": d.sha256,
                "rows": d.row_count,
                "bytes": d.byte_size,
            }
            for d in session.scalars(select(DeliveryRow))
        ]
    return manifest_of(plan, "accepted", release, deliveries=views)


def test_a_hub_away_at_the_reservation_fails_the_publish_and_writes_nothing(
    setup: Setup, tmp_path: Path
) -> None:
    setup.hub.stop()
    with open_connector(setup.directory) as connector:
        with pytest.raises(ServiceError, match="cannot be reached"):
            publish_from_connector(
                connector, product_id=setup.world.product,
                source=write_input(ORDERS, tmp_path / "orders.parquet"),
            )  # fmt: skip
        assert setup.provider_store_keys(connector) == []
    assert held(setup.directory) == []
