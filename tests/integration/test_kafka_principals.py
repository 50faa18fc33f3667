"""Per-participant Kafka principals as the hub hands them out (ADR 0024), over a real database.

The broker side (the SCRAM credential, the ACLs taking effect, suspension refusing an open
consumer) needs a broker with an authorizer: tests/production_like/test_delivery_story.py.
Here: who may fetch a principal, what it holds, and what the hub says where the broker
authenticates no one (the embedded stack).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dataspace.adapters.kafka_access import ParticipantAccess
from dataspace.api.app import create_app
from dataspace.config import load_settings
from dataspace.controlplane import participants
from dataspace.operations import kafka_principals
from tests.fixtures.controlplane import Space
from tests.integration.test_api import auth

pytestmark = pytest.mark.integration

ADMIN = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "SCRAM-SHA-512",
         "sasl.username": "admin", "sasl.password": "hub-secret"}  # fmt: skip


def _client(tmp_path: Path, database_url: str, **settings: object) -> TestClient:
    return TestClient(
        create_app(load_settings(state_dir=tmp_path, database_url=database_url, **settings))
    )


@pytest.fixture
def managed(market: Space, database_url: str, tmp_path: Path) -> Iterator[TestClient]:
    client = _client(
        tmp_path, database_url, kafka_participant_principals=True,
        kafka_bootstrap_servers="kafka-1:9092", kafka_options=ADMIN,
    )  # fmt: skip
    with client:
        yield client


def test_a_participant_fetches_its_own_principal_and_no_one_elses(
    managed: TestClient, market: Space, tmp_path: Path
) -> None:
    market.member("supplier-02")
    path = "/participants/supplier-01/kafka-credentials"
    own = managed.get(path, headers=auth(market, "supplier-01"))

    assert own.status_code == 200, own.text
    given = own.json()
    assert given["bootstrap_servers"] == "kafka-1:9092"
    options = given["kafka_options"]
    assert options["sasl.username"] == "supplier-01"
    assert options["sasl.mechanisms"] == "SCRAM-SHA-512"
    assert options["security.protocol"] == "SASL_PLAINTEXT"  # the hub's own protocol
    assert "hub-secret" not in own.text  # never the hub's admin password
    # Derived from the hub's secret: the same each time, another for another participant.
    assert managed.get(path, headers=auth(market, "supplier-01")).json() == given
    other = managed.get(
        "/participants/supplier-02/kafka-credentials", headers=auth(market, "supplier-02")
    )
    assert other.json()["kafka_options"]["sasl.password"] != options["sasl.password"]
    assert (tmp_path / "keys" / kafka_principals.SECRET_FILE).stat().st_mode & 0o777 == 0o600

    for who in ("supplier-02", "xcmg", "operator"):
        refused = managed.get(path, headers=auth(market, who))
        assert refused.status_code == 403, (who, refused.text)
        assert "Only supplier-01" in refused.json()["message"]


def test_a_suspended_participant_gets_no_principal(managed: TestClient, market: Space) -> None:
    participants.suspend(market.db, market.keys, "supplier-01")
    refused = managed.get(
        "/participants/supplier-01/kafka-credentials", headers=auth(market, "supplier-01")
    )
    assert refused.status_code == 403
    assert "suspended" in refused.json()["message"]


def test_where_the_broker_authenticates_no_one_the_hub_says_so(
    market: Space, database_url: str, tmp_path: Path
) -> None:
    with _client(tmp_path, database_url) as client:
        refused = client.get(
            "/participants/supplier-01/kafka-credentials", headers=auth(market, "supplier-01")
        )
        suspended = client.post(
            "/participants/supplier-01/suspend", headers=auth(market, "operator")
        )
    assert refused.status_code == 409
    assert "authenticates no one" in refused.json()["message"]
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["kafka_access"]["state"] == "unmanaged"


def test_a_principal_may_read_only_its_own_prefix_group_and_the_member_topics() -> None:
    access = ParticipantAccess("supplier-0")
    granted = {(b.name, b.resource_pattern_type.name, b.operation.name) for b in access.bindings()}

    # The trailing '.': supplier-0's prefix does not cover supplier-01's topics.
    assert ("dataspace.to.supplier-0.", "PREFIXED", "READ") in granted
    # Literal group and dead-letter topic: a prefix would cover supplier-01's as well.
    assert ("dataspace-subscriber-supplier-0", "LITERAL", "READ") in granted
    dead = "dataspace.deadletter.dataspace-subscriber-supplier-0.v1"
    assert (dead, "LITERAL", "WRITE") in granted
    assert {op for _, pattern, op in granted if pattern == "PREFIXED"} == {"READ", "DESCRIBE"}
    writes = {name for name, _, op in granted if op == "WRITE"}
    assert writes == {dead}  # every event is the hub's to write
    assert all(b.principal == "User:supplier-0" and b.host == "*" for b in access.bindings())
