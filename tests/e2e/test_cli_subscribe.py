"""`dataspace subscribe` as a user runs it: a summary and exit 0, or one line and non-zero."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from dataspace.config import Settings
from dataspace.identity.keystore import KeyStore
from dataspace.store.db import Database, migrate
from tests.fixtures.controlplane import Space
from tests.helpers import DATASPACE, wait_for
from tests.worlds.delivery_setup import PRODUCT, Provider, release_store

pytestmark = pytest.mark.e2e


def run(node: Path, stack: Settings, bucket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DATASPACE, *args],
        capture_output=True,
        text=True,
        env=environment(node, stack, bucket),
        timeout=120,
        check=False,
    )


def environment(node: Path, stack: Settings, bucket: str) -> dict[str, str]:
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
    return env


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


class Lines:
    """The lines a running process prints on stdout, read as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.seen.append(line.rstrip("\n"))

    def join(self) -> None:
        self._thread.join(timeout=10)

    def wait_for(self, text: str) -> str:
        return wait_for(lambda: next((line for line in self.seen if text in line), None), 60)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_a_running_subscribe_prints_a_line_per_change_and_stops_cleanly(
    space: Space, node: Path, stack_settings: Settings, unique: str, stop_signal: int
) -> None:
    bucket, subscriber = f"cli-{unique}", f"sup-{unique}"
    provider = Provider(space, release_store(stack_settings, bucket), stack_settings)
    agreement = provider.agreement(subscriber)
    with subprocess.Popen(
        [DATASPACE, "subscribe", "--as", subscriber],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(node, stack_settings, bucket),
    ) as agent:
        lines = Lines(agent)
        try:
            assigned = lines.wait_for(" assigned ")
            delivered = provider.publish(agreement, 1, rows=120)
            landed = lines.wait_for(f"landed {PRODUCT} v1 ({delivered.delivery_id}, 120 rows)")
        finally:
            agent.send_signal(stop_signal)
            agent.wait(timeout=60)
            lines.join()
        assert agent.stderr is not None
        errors = agent.stderr.read()

    assert agent.returncode == 0, errors
    assert "partitions of dataspace." in assigned
    assert "landed 0 (" in assigned
    assert "partitions, landed 1 (120 rows, " in landed
    assert str(node / "landing" / subscriber / PRODUCT / "1") in landed
    assert any("Landed 1 deliveries" in line for line in lines.seen)  # the summary
