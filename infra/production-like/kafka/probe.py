"""Health probes of the production-like Kafka cluster, for kafka.sh.

Reads how to reach the cluster from the environment, as a client would:
PRODLIKE_KAFKA_BOOTSTRAP and PRODLIKE_KAFKA_ADMIN_OPTIONS (the JSON of librdkafka options).
Passing the password through the environment keeps it out of `ps`.

    probe.py brokers N TIMEOUT    wait until the admin sees N brokers
    probe.py health               the cluster's facts, then one line per node:
                                  "node ID registered in-sync|lagging" or "node ID absent";
                                  exit 0 when healthy, 3 otherwise
    probe.py rejoined ID TIMEOUT  wait until node ID answers the admin itself, is registered,
                                  and is in every ISR it belongs to
    probe.py answering TIMEOUT    wait until every node authenticates the admin itself

Exit codes: 0 yes, 3 no (or not within TIMEOUT seconds), 2 usage.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

UNHEALTHY = 3


@dataclass(frozen=True)
class Facts:
    """What the cluster's metadata says: live brokers, and partitions short of replicas."""

    brokers: frozenset[int]
    partitions: int
    under_replicated: int
    offline: int
    missing_from_isr: dict[int, int]  # broker id -> partitions it replicates but is not in ISR

    def line(self, expected: int) -> str:
        ids = ",".join(str(b) for b in sorted(self.brokers)) or "none"
        return (
            f"brokers {len(self.brokers)}/{expected} ({ids}), {self.partitions} partitions, "
            f"{self.under_replicated} under-replicated, {self.offline} offline"
        )


def admin() -> AdminClient:
    options = json.loads(os.environ["PRODLIKE_KAFKA_ADMIN_OPTIONS"])
    options["bootstrap.servers"] = os.environ["PRODLIKE_KAFKA_BOOTSTRAP"]
    # A stopped node is expected during start-broker: do not print librdkafka's complaints.
    options["log_level"] = 0
    return AdminClient(options)


def answers(node: int) -> bool:
    """Whether node ``node`` itself authenticates the admin and serves metadata.

    The cluster's view (registered, back in the ISR) is not enough: a node can be in every ISR
    while it refuses SCRAM logins (see kafka.md). The client is given only that node's address,
    so it learns of no other broker unless that node authenticated it first; which broker then
    serves the metadata does not matter (librdkafka reports -1 for the bootstrap connection).
    """
    address = os.environ["PRODLIKE_KAFKA_BOOTSTRAP"].split(",")[node - 1]
    options = json.loads(os.environ["PRODLIKE_KAFKA_ADMIN_OPTIONS"])
    options.update({"bootstrap.servers": address, "log_level": 0})
    try:
        AdminClient(options).list_topics(timeout=5)
    except KafkaException:
        return False
    return True


def facts(client: AdminClient) -> Facts:
    metadata = client.list_topics(timeout=5)
    partitions = under = offline = 0
    missing: dict[int, int] = {}
    for topic in metadata.topics.values():
        for partition in topic.partitions.values():
            partitions += 1
            offline += partition.leader < 0
            under += len(partition.isrs) < len(partition.replicas)
            for replica in set(partition.replicas) - set(partition.isrs):
                missing[replica] = missing.get(replica, 0) + 1
    return Facts(frozenset(metadata.brokers), partitions, under, offline, missing)


def node_state(now: Facts, node: int) -> str:
    if node not in now.brokers:
        return "absent"
    if not answers(node):
        return "registered refusing-admin"
    return "registered lagging" if now.missing_from_isr.get(node) else "registered in-sync"


def wait_for(check: Callable[[Facts], bool], timeout: float) -> bool:
    client = admin()
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check(facts(client)):
                return True
        except KafkaException:
            pass  # not reachable yet: try again until the deadline
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def main(argv: list[str]) -> int:
    expected = int(os.environ.get("PRODLIKE_KAFKA_NODES", "3"))
    match argv:
        case ["brokers", count, timeout]:
            ok = wait_for(lambda f: len(f.brokers) >= int(count), float(timeout))
        case ["rejoined", node, timeout]:
            ok = wait_for(
                lambda f: (
                    int(node) in f.brokers
                    and not f.missing_from_isr.get(int(node))
                    and answers(int(node))
                ),
                float(timeout),
            )
        case ["answering", timeout]:
            ok = wait_for(
                lambda _f: all(answers(n) for n in range(1, expected + 1)), float(timeout)
            )
        case ["health"]:
            try:
                now = facts(admin())
            except KafkaException as e:
                print(f"no metadata: {e}")
                return UNHEALTHY
            print(now.line(expected))
            for node_id in range(1, expected + 1):
                print(f"node {node_id} {node_state(now, node_id)}")
            ok = len(now.brokers) == expected and not now.under_replicated and not now.offline
        case _:
            print(__doc__, file=sys.stderr)
            return 2
    return 0 if ok else UNHEALTHY


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
