"""The event-driven DAG for real: a publish is quarantined on the real stack, its signed
ReleaseQuarantined event goes to Kafka, `airflow standalone` (started the way
`dataspace up --with-airflow` starts it) runs the Kafka trigger in its triggerer, and
quality_incident_on_quarantine opens the incident and tells the subscriber."""

from __future__ import annotations

import json
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from dataspace import demo_data
from dataspace.config import Settings
from dataspace.controlplane import incidents, ledger
from dataspace.events.registry import ROUTES
from dataspace.node import Node, open_node
from dataspace.operations.incident_response import respond
from dataspace.orchestration import airflow_environment
from dataspace.publishing.publish import publish
from dataspace.stack.components import venv_script
from dataspace.stack.stack import Stack
from tests.fixtures.airflow import AirflowHome, AirflowNode
from tests.helpers import free_port_block, wait_for
from tests.worlds.publish_world import LEADER, consume, make_world, write_input

pytestmark = pytest.mark.e2e

DAG_ID = "quality_incident_on_quarantine"
DELAYED = ROUTES["DeliveryDelayed"].topic("supplier-01")  # its addressee below
# Standalone migrates a fresh metadata database and starts four processes: ~2-3 minutes on
# a busy two-core machine; the trigger then needs a consumer-group join (~25 s).
START_TIMEOUT = 420


def airflow_settings(node: AirflowNode, stack: Settings) -> Settings:
    """The node's settings with the session's broker and store given as external services,
    so that a Stack of these settings starts Airflow only."""
    s3 = stack.s3()
    return node.settings.model_copy(
        update={
            "kafka_bootstrap_servers": stack.bootstrap_servers,
            "s3_endpoint": s3.url,
            "s3_access_key": s3.access_key,
            "s3_secret_key": s3.secret_key,
            "airflow_port": free_port_block(3),
        }
    )


def dag_runs(settings: Settings) -> list[dict[str, object]]:
    env = {**airflow_environment(settings, settings.airflow_home), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [venv_script("airflow"), "dags", "list-runs", DAG_ID, "-o", "json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    # Airflow prints warnings (no graphviz) on stdout before the JSON line.
    listed = [line for line in result.stdout.splitlines() if line.startswith("[")]
    if result.returncode != 0 or not listed:
        return []
    runs: list[dict[str, object]] = json.loads(listed[-1])
    return runs


@pytest.mark.timeout(900)
def test_a_quarantined_release_opens_an_incident_through_the_kafka_trigger(
    airflow_home: AirflowHome,
    airflow_node: AirflowNode,
    stack_settings: Settings,
    unique: str,
    tmp_path: Path,
) -> None:
    world = make_world(airflow_node.space, airflow_node.settings, unique)
    world.agree("supplier-01", 3)
    spoiled = demo_data.spoiled(demo_data.purchase_orders(0), "quantity")
    with closing(Node(world.settings, world.db, airflow_node.keys)) as node:
        summary = publish(
            node, product_id=world.product, provider=LEADER,
            source=write_input(spoiled, tmp_path / "orders.parquet"),
        )  # fmt: skip
    assert (summary.status, summary.events_pending) == ("quarantined", 0)
    assert incidents.list_incidents(world.db) == []

    settings = airflow_settings(airflow_node, stack_settings)
    stack = Stack(settings, with_airflow=True)
    assert [service.name for service in stack.embedded()] == ["airflow"]
    try:
        stack.up()
        opened = wait_for(lambda: incidents.list_incidents(world.db), timeout=START_TIMEOUT,
                          interval=2.0)  # fmt: skip
        runs = wait_for(
            lambda: [r for r in dag_runs(settings) if r.get("state") == "success"],
            timeout=120, interval=3.0,
        )  # fmt: skip
    finally:
        stack.down()

    (incident,) = opened
    assert (incident.product_id, incident.version, incident.provider) == (world.product, 1, LEADER)
    assert incident.notified == ("supplier-01",)
    assert incident.failed_checks
    assert str(runs[0]["run_id"]).startswith("asset_triggered__")
    assert "incident.opened" in world.space.actions()
    assert ledger.verify(world.db).ok
    events = consume(
        world.settings, DELAYED, world.public_key_of,
        lambda e: e.body["incident_id"] == incident.incident_id, group=f"delayed-{unique}", count=1,
    )  # fmt: skip
    ((key, event),) = events
    assert key == "supplier-01"
    assert (event.actor, event.body["version"]) == ("operator", 1)

    # The same event again (a redelivery) opens nothing new.
    entries = len(world.space.actions())
    payload = {
        "event_id": "x", "provider_id": LEADER, "product_id": world.product, "version": 1,
        "failed_checks": list(incident.failed_checks), "evaluated_expectations": 5,
    }  # fmt: skip
    with open_node(airflow_node.settings) as node:
        assert respond(node, payload)["incident"] == incident.incident_id
    assert len(world.space.actions()) == entries
