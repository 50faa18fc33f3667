"""The public_data_authorized_release DAG, run with dag.test() on the real stack: an approved
application releases desensitized, k-anonymous data to licensed operators only; a rejected
application and a k-anonymity violation release nothing."""

from __future__ import annotations

import collections
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataspace.controlplane import applications, ledger
from dataspace.dataplane.objects import ObjectStore
from dataspace.desensitize.transform import pseudonym
from dataspace.operations.stores import release_store
from dataspace.publicdata.dataset import enterprises
from tests.fixtures.airflow import AirflowHome, AirflowNode
from tests.worlds.public_data_world import OPERATORS, PublicWorld, make_public_world
from tests.worlds.publish_world import consume, list_keys

pytestmark = pytest.mark.e2e

DAG_ID = "public_data_authorized_release"
ANNOUNCED = "dataspace.deliveries.announced.v1"
LICENSED, REJECTED, PENDING = OPERATORS


@pytest.fixture
def world(airflow_node: AirflowNode, unique: str) -> PublicWorld:
    return make_public_world(airflow_node, unique)


def run(airflow_home: AirflowHome, application: str, **params: object) -> str:
    dag = airflow_home.dag(DAG_ID)
    return str(dag.test(run_conf={"application": application, **params}).state)


def stored_keys(world: PublicWorld) -> list[str]:
    return list_keys(release_store(world.node.settings), world.product)


def test_an_approved_application_releases_to_licensed_operators_only(
    airflow_home: AirflowHome, world: PublicWorld, unique: str, capfd: pytest.CaptureFixture[str]
) -> None:
    licensed = world.apply(LICENSED, "park-carbon-accounting")
    world.approve(licensed)
    world.reject(world.apply(REJECTED, "credit-scoring", purpose="credit-scoring"))
    world.apply(PENDING, "site-selection", purpose="site-selection")

    assert run(airflow_home, licensed) == "success"

    (release,) = world.releases()
    assert (release.version, release.status) == (1, "accepted")
    agreement = applications.show(world.db, licensed).agreement_id
    assert [(d.agreement_id, d.subscriber_id) for d in world.deliveries()] == [
        (agreement, LICENSED)
    ]
    table = _read(release_store(world.node.settings), release.object_key, release.sha256)
    _assert_desensitized(world, table)
    assert f"{world.product}/1/part-0.parquet" in stored_keys(world)
    actions = world.actions()
    for step in ("authorized", "ingested", "desensitized"):
        assert f"public_release.{step}" in actions
    assert "public_release.stopped" not in actions
    assert actions.index("public_release.desensitized") < actions.index("release.published")
    assert ledger.verify(world.db).ok
    events = consume(
        world.node.settings, ANNOUNCED, world.public_key_of,
        lambda e: e.body["product_id"] == world.product, group=f"pub-{unique}", count=1,
    )  # fmt: skip
    assert [key for key, _ in events] == [LICENSED]
    logged = "".join(capfd.readouterr())
    assert "public_release" in logged or "desensitiz" in logged  # the run's logs were captured
    assert world.node.keys.pseudonym_key(world.product).hex() not in logged


def _read(store: ObjectStore, key: str, sha256: str) -> pa.Table:
    import hashlib  # noqa: PLC0415

    with store.open_input(key) as source:
        data = source.read()
    assert hashlib.sha256(data).hexdigest() == sha256
    return pq.read_table(io.BytesIO(data))


def _assert_desensitized(world: PublicWorld, table: pa.Table) -> None:
    assert table.column_names == [
        "enterprise_ref", "city", "district", "period", "industry",
        "electricity_kwh", "so2_kg", "nox_kg", "co2_t",
    ]  # fmt: skip
    key = world.node.keys.pseudonym_key(world.product)
    everyone = enterprises()
    refs = {pseudonym(key, e.credit_code): e for e in everyone}
    released = set(table.column("enterprise_ref").to_pylist())
    assert released <= set(refs)
    assert len(released) < len(everyone)  # the lone enterprises were suppressed
    groups = collections.defaultdict(set)
    for row in table.select(["city", "district", "industry", "enterprise_ref"]).to_pylist():
        groups[(row["city"], row["district"], row["industry"])].add(row["enterprise_ref"])
    assert min(len(members) for members in groups.values()) >= 5
    assert set(table.column("period").to_pylist()) == {f"2025-{m:02d}" for m in range(1, 13)}
    text = str(table.to_pylist())
    for enterprise in everyone[:20]:
        assert enterprise.credit_code not in text
        assert enterprise.name not in text
        assert enterprise.phone not in text


def test_a_rejected_application_releases_nothing(
    airflow_home: AirflowHome, world: PublicWorld, capfd: pytest.CaptureFixture[str]
) -> None:
    rejected = world.apply(REJECTED, "credit-scoring", purpose="credit-scoring")
    world.reject(rejected)

    assert run(airflow_home, rejected) == "failed"

    assert world.releases() == []
    assert world.deliveries() == []
    assert stored_keys(world) == []
    actions = world.actions()
    assert "public_release.stopped" in actions
    assert "public_release.ingested" not in actions
    assert f"{rejected} is rejected, so nothing is released" in "".join(capfd.readouterr())


def test_a_k_anonymity_violation_stops_the_release(
    airflow_home: AirflowHome, world: PublicWorld, capfd: pytest.CaptureFixture[str]
) -> None:
    licensed = world.apply(LICENSED, "park-carbon-accounting")
    world.approve(licensed)

    # Thirty enterprises spread over twenty-odd districts and industries: no group reaches k.
    assert run(airflow_home, licensed, enterprises=30) == "failed"

    assert world.releases() == []
    assert world.deliveries() == []
    assert stored_keys(world) == []
    actions = world.actions()
    assert actions[-2:] == ["public_release.ingested", "public_release.stopped"]
    staged = list((world.node.settings.state_dir / "staging").rglob("*.parquet"))
    assert [p.name for p in staged] == ["source.parquet"]
    assert "k-anonymity with k=5 would suppress" in "".join(capfd.readouterr())
