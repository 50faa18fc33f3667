"""The production-like Kafka cluster: authentication, ACLs, replication defaults, failover.

Engine-level: these talk to the three-node cluster with confluent_kafka, not through the product.
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from tests.production_like.kafka_cluster import (
    Cluster,
    answers_unauthenticated,
    create_topic,
    delete_topics,
    first_in_a_java_hash_map,
    kill_broker,
    partition_state,
    start_broker,
    unique,
    wait_until,
)

pytestmark = pytest.mark.production_like

REFUSED = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}
QUIET = {"log_level": 0}  # refusals are what these tests expect; keep librdkafka's stderr clean
ALICE_PREFIX = "dataspace.to.alice."


@pytest.fixture
def cluster(production_like) -> Cluster:
    return Cluster.from_env(production_like("kafka"))


@pytest.fixture
def admin(cluster: Cluster) -> AdminClient:
    return cluster.admin()


def lists_topics(config: dict[str, object]) -> bool:
    try:
        AdminClient({**config, **QUIET}).list_topics(timeout=5)
    except KafkaException:
        return False
    return True


def test_unauthenticated_clients_and_wrong_passwords_are_refused(cluster: Cluster) -> None:
    assert lists_topics(cluster.admin_config()), "the admin itself must be served"
    for host, port in cluster.broker_addresses():
        address = f"{host}:{port}"
        assert not lists_topics({"bootstrap.servers": address}), f"PLAINTEXT served on {address}"
        wrong = cluster.admin_config(**{"bootstrap.servers": address, "sasl.password": "wrong"})
        assert not lists_topics(wrong), f"a wrong SCRAM password was served on {address}"
    for host, port in cluster.controller_addresses():
        assert not answers_unauthenticated(host, port), f"controller {host}:{port} answered"


def test_a_topic_created_without_settings_is_replicated_three_times(admin: AdminClient) -> None:
    topic = unique("prodlike.defaults.")
    create_topic(admin, NewTopic(topic))
    try:
        state = partition_state(admin, topic)
        assert len(state.replicas) == 3
        assert sorted(state.isr) == sorted(state.replicas)
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        config = admin.describe_configs([resource])[resource].result(timeout=10)
        assert config["min.insync.replicas"].value == "2"
    finally:
        delete_topics(admin, topic)


def first_event(consumer: Consumer, timeout: float) -> tuple[KafkaError | None, bytes | None]:
    """The first error or message ``consumer`` delivers within ``timeout`` seconds."""

    def poll() -> tuple[KafkaError | None, bytes | None] | None:
        message = consumer.poll(0.5)
        if message is None:
            return None
        return message.error(), message.value()

    return wait_until(poll, timeout, what="a message or an error")


def first_error(consumer: Consumer, timeout: float) -> KafkaError:
    """The first error ``consumer`` reports within ``timeout`` seconds, skipping messages."""

    def poll() -> KafkaError | None:
        message = consumer.poll(0.5)
        return None if message is None else message.error()

    return wait_until(poll, timeout, what="an error")


def delivered(consumer: Consumer, seconds: float) -> list[bytes]:
    """The messages (not errors) ``consumer`` delivers in the next ``seconds``."""
    values: list[bytes] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(message.value())
    return values


def produce(config: dict[str, object], topic: str, *values: bytes) -> list[KafkaError]:
    """Send ``values`` to ``topic``; the delivery errors (empty when all were written)."""
    errors: list[KafkaError] = []

    def report(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            errors.append(error)

    producer = Producer({**config, **QUIET, "message.timeout.ms": 10000})
    for value in values:
        producer.produce(topic, value, on_delivery=report)
    assert producer.flush(20) == 0, "messages still queued after 20 s"
    return errors


class Participant:
    """A SCRAM user created through the Admin API, removed (with its ACLs) at the end."""

    def __init__(self, cluster: Cluster, admin: AdminClient) -> None:
        self.cluster, self.admin = cluster, admin
        self.name, self.password = unique("participant-"), unique("pw-")
        self.group = unique("dataspace.group.")
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
        upsert = UserScramCredentialUpsertion(self.name, info, self.password.encode())
        admin.alter_user_scram_credentials([upsert])[self.name].result(timeout=10)

    def config(self, **overrides: object) -> dict[str, object]:
        return self.cluster.user_config(self.name, self.password, **overrides)

    def consumer(self, topic: str) -> Consumer:
        consumer = Consumer(
            self.config(
                **QUIET,
                **{
                    "group.id": self.group,
                    "auto.offset.reset": "earliest",
                    "session.timeout.ms": 6000,
                    "heartbeat.interval.ms": 500,
                },
            )
        )
        consumer.subscribe([topic])
        return consumer

    def grants(self) -> list[AclBinding]:
        principal = f"User:{self.name}"
        allow = (principal, "*", AclOperation.READ, AclPermissionType.ALLOW)
        return [
            AclBinding(
                ResourceType.TOPIC, "dataspace.to.alice.", ResourcePatternType.PREFIXED, *allow
            ),
            AclBinding(ResourceType.GROUP, self.group, ResourcePatternType.LITERAL, *allow),
        ]

    def revoke_all(self) -> None:
        everything = AclBindingFilter(
            ResourceType.ANY,
            None,
            ResourcePatternType.ANY,
            f"User:{self.name}",
            None,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        for future in self.admin.delete_acls([everything]).values():
            future.result(timeout=10)

    def remove(self) -> None:
        self.revoke_all()
        deletion = UserScramCredentialDeletion(self.name, ScramMechanism.SCRAM_SHA_512)
        self.admin.alter_user_scram_credentials([deletion])[self.name].result(timeout=10)


def error_code(event: tuple[KafkaError | None, bytes | None]) -> int | None:
    error, _value = event
    return None if error is None else error.code()


def test_a_participant_reads_only_what_its_acls_grant_until_they_are_revoked(
    cluster: Cluster, admin: AdminClient
) -> None:
    alice, bob = unique("dataspace.to.alice.x."), unique("dataspace.to.bob.x.")
    create_topic(admin, NewTopic(alice))
    create_topic(admin, NewTopic(bob))
    assert produce(cluster.admin_config(), alice, b"for alice") == []
    assert produce(cluster.admin_config(), bob, b"for bob") == []
    user = Participant(cluster, admin)
    try:
        written = produce(user.config(), alice, b"forged")
        assert [e.code() for e in written] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
        no_acl = user.consumer(alice)
        try:
            assert error_code(first_event(no_acl, 20)) in REFUSED
        finally:
            no_acl.close()

        for future in admin.create_acls(user.grants()).values():
            future.result(timeout=10)
        reader = user.consumer(alice)
        try:
            assert first_event(reader, 30) == (None, b"for alice")
            assert produce(user.config(), alice, b"forged") != [], "READ must not grant WRITE"
            other = user.consumer(bob)
            try:
                assert error_code(first_event(other, 20)) == KafkaError.TOPIC_AUTHORIZATION_FAILED
            finally:
                other.close()

            user.revoke_all()
            # A fetch the broker authorized just before the revocation may still be parked
            # there and deliver one batch; every later request is refused.
            assert produce(cluster.admin_config(), alice, b"maybe in flight") == []
            assert first_error(reader, 10).code() in REFUSED
            assert produce(cluster.admin_config(), alice, b"after the refusal") == []
            assert delivered(reader, seconds=3) == []
        finally:
            reader.close()
    finally:
        user.remove()
        delete_topics(admin, alice, bob)


MESSAGES = 2000


def produce_through_a_leader_kill(
    cluster: Cluster, topic: str, victim: int
) -> tuple[list[KafkaError], int]:
    """Send MESSAGES numbered messages, killing node ``victim`` midway; (errors, unflushed)."""
    errors: list[KafkaError] = []

    def report(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            errors.append(error)

    producer = Producer(
        cluster.admin_config(**QUIET, **{"enable.idempotence": True, "acks": "all", "linger.ms": 2})
    )
    killer = threading.Thread(target=kill_broker, args=(victim,))
    for number in range(MESSAGES):
        if number == MESSAGES // 2:
            killer.start()
        producer.produce(topic, str(number).encode(), on_delivery=report)
        producer.poll(0.002)
    killer.join()
    return errors, producer.flush(90)


def read_all(cluster: Cluster, topic: str) -> list[int]:
    """Every message of partition 0 up to its high watermark, as numbers."""
    consumer = Consumer(cluster.admin_config(**{"group.id": unique("prodlike.reader.")}))
    try:
        partition = TopicPartition(topic, 0, 0)
        _low, high = consumer.get_watermark_offsets(partition, timeout=10)
        consumer.assign([partition])
        numbers: list[int] = []
        deadline = time.monotonic() + 60
        while len(numbers) < high and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None:
                assert message.error() is None, message.error()
                numbers.append(int(message.value()))
        assert len(numbers) == high, f"read {len(numbers)} of {high} messages in 60 s"
        return numbers
    finally:
        consumer.close()


def test_an_idempotent_acks_all_producer_loses_nothing_when_the_leader_is_killed(
    cluster: Cluster, admin: AdminClient
) -> None:
    topic = unique("prodlike.failover.")
    create_topic(admin, NewTopic(topic))
    victim = partition_state(admin, topic).leader
    killed = False
    try:
        killed = True
        errors, unflushed = produce_through_a_leader_kill(cluster, topic, victim)
        assert (errors, unflushed) == ([], 0)
        assert read_all(cluster, topic) == list(range(MESSAGES))
        after = partition_state(admin, topic)
        assert after.leader not in (victim, -1)
        assert victim not in after.isr

        start_broker(victim)
        killed = False
        assert victim in partition_state(admin, topic).isr
    finally:
        if killed:
            start_broker(victim)
        delete_topics(admin, topic)


def test_scram_logins_survive_a_restart_after_users_were_deleted(
    cluster: Cluster, admin: AdminClient
) -> None:
    """A restarted node still authenticates every SCRAM user although users were deleted.

    Kafka 4.1.1-4.4.0 drop every SCRAM credential of a mechanism when a node rebuilds its
    metadata from the start of the log and the first user its ScramDelta's HashMap iterates
    was deleted (ScramDelta.apply); the node then refuses the admin, the other brokers' replication
    and every participant. The deleted users here are named so that they come first. The
    cluster survives because every node rebuilds from a metadata snapshot (see kafka.md).
    """
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    deleted = [first_in_a_java_hash_map("deleted-") for _ in range(3)]
    upserts = [UserScramCredentialUpsertion(name, info, b"unused") for name in deleted]
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result(timeout=10)
    deletions = [UserScramCredentialDeletion(n, ScramMechanism.SCRAM_SHA_512) for n in deleted]
    for future in admin.alter_user_scram_credentials(deletions).values():
        future.result(timeout=10)
    user = Participant(cluster, admin)  # after the deleted users in the metadata log
    victim = cluster.nodes
    host, port = cluster.broker_addresses()[victim - 1]
    only_victim = {"bootstrap.servers": f"{host}:{port}"}
    try:
        wait_until(
            lambda: lists_topics(user.config(**only_victim)), 10, "the participant's first login"
        )
        kill_broker(victim)
        start_broker(victim)  # returns once the node is back in every ISR
        assert lists_topics(cluster.admin_config(**only_victim)), "node refuses the admin"
        assert lists_topics(user.config(**only_victim)), "node refuses the participant"
    finally:
        user.remove()
