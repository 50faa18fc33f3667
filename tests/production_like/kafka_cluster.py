"""Helpers for the production-like Kafka cluster tests.

The cluster is three nodes started by ``infra/production-like/kafka.sh``; node N serves clients
on 127.0.0.1:2909(1+N) and its controller on 127.0.0.1:2919(1+N) (the broker port + 100).
Nodes are stopped, killed and started through that script, never by signalling a pid from here.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from confluent_kafka.admin import AdminClient, NewTopic

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "production-like" / "kafka.sh"
CONTROLLER_PORT_OFFSET = 100

T = TypeVar("T")


@dataclass(frozen=True)
class Cluster:
    """How to reach the cluster, from its env file."""

    bootstrap: str
    admin_options: dict[str, str]
    nodes: int

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Cluster:
        return cls(
            bootstrap=env["PRODLIKE_KAFKA_BOOTSTRAP"],
            admin_options=json.loads(env["PRODLIKE_KAFKA_ADMIN_OPTIONS"]),
            nodes=int(env["PRODLIKE_KAFKA_NODES"]),
        )

    def admin_config(self, **overrides: object) -> dict[str, object]:
        """librdkafka options of the cluster's admin user, plus ``overrides``."""
        return {"bootstrap.servers": self.bootstrap, **self.admin_options, **overrides}

    def user_config(self, username: str, password: str, **overrides: object) -> dict[str, object]:
        """librdkafka options of a SCRAM user other than the admin."""
        return self.admin_config(
            **{"sasl.username": username, "sasl.password": password}, **overrides
        )

    def admin(self) -> AdminClient:
        return AdminClient(self.admin_config())

    def broker_addresses(self) -> list[tuple[str, int]]:
        pairs = (address.rsplit(":", 1) for address in self.bootstrap.split(","))
        return [(host, int(port)) for host, port in pairs]

    def controller_addresses(self) -> list[tuple[str, int]]:
        return [(host, port + CONTROLLER_PORT_OFFSET) for host, port in self.broker_addresses()]


def unique(prefix: str) -> str:
    """A name no other test run uses: each test isolates its topics, groups and users."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def run_script(*args: str, timeout: float = 240) -> str:
    """Run ``kafka.sh args``; its output, or AssertionError with what it said."""
    done = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"kafka.sh {' '.join(args)} failed: {done.stdout}{done.stderr}"
    return done.stdout


def kill_broker(node: int) -> None:
    run_script("kill-broker", str(node))


def stop_broker(node: int) -> None:
    run_script("stop-broker", str(node))


def start_broker(node: int) -> None:
    """Start ``node`` again; returns once it is back in the ISR of every partition."""
    run_script("start-broker", str(node))


def wait_until(check: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.2)


@dataclass(frozen=True)
class PartitionState:
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def partition_state(admin: AdminClient, topic: str, partition: int = 0) -> PartitionState:
    metadata = admin.list_topics(topic, timeout=10)
    found = metadata.topics[topic].partitions[partition]
    return PartitionState(found.leader, tuple(found.replicas), tuple(found.isrs))


def create_topic(admin: AdminClient, topic: NewTopic) -> None:
    """Create ``topic`` and wait until every replica is in sync."""
    admin.create_topics([topic])[topic.topic].result(timeout=30)
    wait_until(
        lambda: _fully_in_sync(admin, topic.topic), timeout=30, what=f"{topic.topic} in sync"
    )


def _fully_in_sync(admin: AdminClient, topic: str) -> bool:
    try:
        state = partition_state(admin, topic)
    except KeyError:
        return False
    return state.leader >= 0 and len(state.isr) == len(state.replicas) > 0


def delete_topics(admin: AdminClient, *topics: str) -> None:
    for future in admin.delete_topics(list(topics)).values():
        future.result(timeout=30)


def _java_string_hash(text: str) -> int:
    value = 0
    for char in text:
        value = (31 * value + ord(char)) & 0xFFFFFFFF
    return value


def first_in_a_java_hash_map(prefix: str) -> str:
    """A fresh name that a java.util.HashMap (up to 4096 buckets) iterates before other keys.

    HashMap puts a key in bucket ``(h ^ h >>> 16) & (buckets - 1)``, h being String.hashCode,
    and iterates buckets in order: a name whose spread hash ends in twelve zero bits is in
    bucket 0 of every table up to 4096 buckets, so it comes before "admin" (bucket 9 of 16).
    """
    while True:
        name = unique(prefix)
        hashed = _java_string_hash(name)
        if (hashed ^ (hashed >> 16)) & 0xFFF == 0:
            return name


DESCRIBE_CLUSTER = 60


def answers_unauthenticated(host: str, port: int, timeout: float = 5) -> bool:
    """Whether ``host:port`` answers a DescribeCluster request sent without any SASL exchange.

    librdkafka cannot ask a KRaft controller anything (it speaks Metadata, which controllers do
    not serve), so the controller listener is probed with the one raw request that an admin
    client bootstrapping to controllers sends. A SASL listener closes the connection instead.
    """
    client_id = b"dataspace-probe"
    # Request header v2: api key, version, correlation id, client id, no tagged fields.
    header = struct.pack(">hhih", DESCRIBE_CLUSTER, 0, 7, len(client_id)) + client_id + b"\x00"
    body = b"\x00\x00"  # include_cluster_authorized_operations=false, no tagged fields
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.sendall(struct.pack(">i", len(request)) + request)
        try:
            reply = connection.recv(4)
        except (ConnectionResetError, TimeoutError):
            return False
    return len(reply) == 4
