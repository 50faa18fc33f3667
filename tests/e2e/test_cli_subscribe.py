"""`dataspace subscribe` as a user runs it: a summary and exit 0, or one line and non-zero."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dataspace.config import Settings
from dataspace.identity.keystore import KeyStore
from dataspace.store.db import Database, migrate
from tests.fixtures.controlplane import Space
from tests.helpers import DATASPACE
from tests.worlds.delivery_setup import PRODUCT, Provider, release_store

pytestmark = pytest.mark.e2e


def run(node: Path, stack: Settings, bucket: str, *args: str) -> subprocess.CompletedProcess[str]:
    s3 = stack.s3()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    env.update(
        {
            "DATASPACE_STATE_DIR": str(node),
            "DATASPACE_KAFKA_PORT": str(stack.kafka_port),
            "DATASPACE_KAFKA_OPTIONS": json.dumps(
                {"session.timeout.ms": "2000", "heartbeat.interval.ms": "300"}
            ),
            "DATASPACE_S3_ENDPOINT": s3.url,
            "DATASPACE_S3_ACCESS_KEY": s3.access_key,
            "DATASPACE_S3_SECRET_KEY": s3.secret_key.get_secret_value(),
            "DATASPACE_RELEASE_BUCKET": bucket,
            "COLUMNS": "200",
        }
    )
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.fixture
def node(tmp_path: Path) -> Path:
    return tmp_path / "node"


@pytest.fixture
def space(node: Path) -> Space:
    url = f"sqlite:///{node / 'control-plane.db'}"
    migrate(url)
    world = Space(Database(url), KeyStore(node / "keys"))
    world.operator("Jiangsu Data Hub")
    world.member("xcmg", role="chain_leader")
    world.product()
    return world


def test_subscribe_once_lands_and_prints_a_summary(
    space: Space, node: Path, stack_settings: Settings, unique: str
) -> None:
    bucket, subscriber = f"cli-{unique}", f"sup-{unique}"
    provider = Provider(space, release_store(stack_settings, bucket), stack_settings)
    delivered = provider.publish(provider.agreement(subscriber), 1)
    space.db.dispose()

    first = run(node, stack_settings, bucket, "subscribe", "--as", subscriber, "--once", "--json")
    second = run(node, stack_settings, bucket, "subscribe", "--as", subscriber, "--once")

    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert [item["deliveryId"] for item in summary["landed"]] == [delivered.delivery_id]
    landed = node / "landing" / subscriber / PRODUCT / "1" / "part-0.parquet"
    assert summary["landed"][0]["path"] == str(landed)
    with provider.store.open_input(delivered.stored.key) as source:
        assert landed.read_bytes() == source.read()
    assert second.returncode == 0, second.stderr
    assert "Landed 0 deliveries" in second.stdout


def test_an_unknown_subscriber_is_one_line_and_a_nonzero_exit(
    space: Space, node: Path, stack_settings: Settings, unique: str
) -> None:
    space.db.dispose()
    result = run(node, stack_settings, f"cli-{unique}", "subscribe", "--as", "ghost", "--once")

    assert result.returncode == 3
    assert "No participant with id 'ghost'" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (node / "landing").exists()
