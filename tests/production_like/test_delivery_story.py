"""The delivery story on the production-like stack, each party its own process.

The hub (`dataspace hub serve`) and the connectors of a chain leader and two suppliers run as
separate processes (dataspace.federation) against the three-broker Kafka cluster with
SASL/SCRAM and ACLs, MinIO with one user and bucket per provider, and PostgreSQL with one
database and role per party. Nothing here is engine-specific code: the parties get the
engines' addresses and credentials as settings only.

What it proves beyond the embedded suite: each admitted participant reads Kafka as its own
principal and only its own topics; suspension takes that away at once; a broker killed during
a publish or during a delivery loses and duplicates nothing.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from dataspace.agent.subscriber import announcements_topic
from dataspace.config import Settings
from dataspace.events.registry import event_id_for
from dataspace.federation import Federation, Party
from dataspace.identity.uscc import make_uscc
from dataspace.scenario import own_rows_offer
from tests.helpers import wait_for
from tests.production_like.engines import engine_env, engine_script, read_env_file

pytestmark = pytest.mark.production_like

ORDERS_CSV = Path(__file__).resolve().parents[2] / "examples" / "purchase-orders-2026-W02.csv"
SUPPLIERS = ("supplier-01", "supplier-02")
PRODUCT = "purchase-orders"
REFUSED_AT_ONCE_SECONDS = 15.0
OPERATOR_USCC = make_uscc("12320000MB0000002")


@dataclass
class World:
    federation: Federation
    kafka: dict[str, Any]  # bootstrap and admin options
    leader: Party
    suppliers: dict[str, Party]
    # Where each supplier's announcements topic ended before this run: the cluster outlives a
    # run, and the CSV's rows name these very suppliers, so earlier runs used the same topics.
    first_offsets: dict[str, int]


def _uscc(n: int) -> str:
    return make_uscc(f"9132060{n:010d}")


def _database(name: str) -> str:
    return engine_script("postgres", "add-database", name)


def _own_bucket(participant: str) -> list[str]:
    env_file = Path(engine_script("minio", "add-provider", participant))
    given = read_env_file(env_file)
    return [
        "--s3-endpoint", given["PRODLIKE_S3_ENDPOINT"],
        "--s3-access-key", given["PRODLIKE_S3_ACCESS_KEY"],
        "--s3-secret-key", given["PRODLIKE_S3_SECRET_KEY"],
        "--bucket", given["PRODLIKE_S3_BUCKET"],
    ]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    kafka_env, minio_env = engine_env("kafka"), engine_env("minio")
    engine_env("postgres")
    run = uuid.uuid4().hex[:8]
    admin_options = json.loads(kafka_env["PRODLIKE_KAFKA_ADMIN_OPTIONS"])
    stack = Settings(
        kafka_bootstrap_servers=kafka_env["PRODLIKE_KAFKA_BOOTSTRAP"],
        kafka_options=admin_options,
        s3_endpoint=minio_env["PRODLIKE_MINIO_ENDPOINT"],
        s3_access_key=minio_env["PRODLIKE_MINIO_ROOT_USER"],
        s3_secret_key=minio_env["PRODLIKE_MINIO_ROOT_PASSWORD"],
    )
    hub_settings = {
        "DATASPACE_DATABASE_URL": _database(f"hub_{run}"),
        "DATASPACE_KAFKA_OPTIONS": json.dumps(admin_options),
        "DATASPACE_KAFKA_PARTICIPANT_PRINCIPALS": "true",
    }

    databases = [f"hub_{run}"]
    buckets: list[str] = []

    def own_database(participant: str) -> list[str]:
        databases.append(f"{participant.replace('-', '_')}_{run}")
        return ["--database-url", _database(databases[-1])]

    def own_bucket(participant: str) -> list[str]:
        buckets.append(f"{participant}-{run}")
        return _own_bucket(buckets[-1])

    federation = Federation(
        tmp_path_factory.mktemp("production-like"),
        stack,
        hub_settings=hub_settings,
        connector_options=own_database,
        own_store=own_bucket,
    )
    try:
        with federation:
            federation.start_hub(name="江苏省数据枢纽（生产类）", uscc=OPERATOR_USCC)
            leader = federation.join(
                "xcmg", name="XCMG", uscc=_uscc(1), roles=("chain_leader",),
                chains=("construction-machinery",), provider=True,
            )  # fmt: skip
            suppliers = {
                participant: federation.join(
                    participant,
                    name=participant,
                    uscc=_uscc(10 + n),
                    roles=("supplier",),
                    chains=("construction-machinery",),
                )
                for n, participant in enumerate(SUPPLIERS)
            }
            kafka = {"bootstrap.servers": stack.bootstrap_servers, **admin_options}
            yield World(federation, kafka, leader, suppliers, _ends(kafka))
    finally:  # the parties' databases, roles, users and buckets go with the run
        for database in databases:
            engine_script("postgres", "drop-database", database)
        for provider in buckets:
            engine_script("minio", "remove-provider", provider, "--purge-bucket")


def _connector_kafka(party: Party) -> dict[str, str]:
    """The librdkafka options a connector keeps in its own connector.json."""
    config = json.loads((party.state / "connector.json").read_text(encoding="utf-8"))
    settings = config["settings"]
    return {"bootstrap.servers": settings["kafka_bootstrap_servers"], **settings["kafka_options"]}


def _consumer(options: dict[str, Any], group: str) -> Consumer:
    """A consumer whose client-level errors (a refused login) are told by :func:`_first_error`
    like its fetch errors (an authorization refused)."""
    errors: list[KafkaError] = []
    consumer = Consumer({
        **options, "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": "false", "session.timeout.ms": "6000",
        "heartbeat.interval.ms": "500", "error_cb": errors.append, "log_level": 0,
    })  # fmt: skip
    _CLIENT_ERRORS[id(consumer)] = errors
    return consumer


_CLIENT_ERRORS: dict[int, list[KafkaError]] = {}


def _first_error(consumer: Consumer, seconds: float) -> KafkaError | None:
    """The first error the consumer meets within ``seconds`` (None if it reads quietly)."""
    told = _CLIENT_ERRORS.get(id(consumer), [])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is not None:
            error: KafkaError = message.error()
            if error.code() != KafkaError._PARTITION_EOF:
                return error
        if told:
            return told[0]
    return None


def _ends(kafka: dict[str, Any]) -> dict[str, int]:
    """The end offset of each supplier's announcements topic now (0 if it does not exist)."""
    consumer = Consumer({**kafka, "group.id": f"audit-{uuid.uuid4().hex}", "log_level": 0})
    try:
        topics = consumer.list_topics(timeout=10).topics
        return {
            supplier: consumer.get_watermark_offsets(
                TopicPartition(announcements_topic(supplier), 0), timeout=10
            )[1]
            if announcements_topic(supplier) in topics
            else 0
            for supplier in SUPPLIERS
        }
    finally:
        consumer.close()


def _announced(world: World, subscriber: str) -> list[str]:
    """The event ids of every DeliveryAnnounced on the subscriber's topic in this run, read
    as admin (a copy written again by a retried send shows twice)."""
    topic = announcements_topic(subscriber)
    first = world.first_offsets[subscriber]
    consumer = Consumer({**world.kafka, "group.id": f"audit-{uuid.uuid4().hex}",
                         "enable.auto.commit": "false"})  # fmt: skip
    try:
        consumer.assign([TopicPartition(topic, 0, first)])
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        ids: list[str] = []
        while len(ids) < high - first:
            message = consumer.poll(5)
            assert message is not None, f"{topic} stopped at {len(ids)} of {high} messages"
            assert message.error() is None, message.error()
            headers = dict(message.headers() or [])
            ids.append(headers["event-id"].decode())
        return ids
    finally:
        consumer.close()


def _landed(party: Party, version: int) -> list[Path]:
    return sorted((party.state / "landed" / PRODUCT / str(version)).glob("*.parquet"))


def _ledger(world: World, action: str, subject: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = world.federation.operator("ledger", "show", "--limit", "500")
    return [e for e in rows if e["action"] == action and subject in e["subject_ids"]]


def _partition_leader(world: World, topic: str) -> int:
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415

    metadata = AdminClient(world.kafka).list_topics(topic, timeout=10)
    return int(metadata.topics[topic].partitions[0].leader)


# -- onboarding: each participant its own principal -------------------------------------------


def test_each_admitted_participant_gets_its_own_kafka_principal(world: World) -> None:
    for participant in ("xcmg", *SUPPLIERS):
        admitted = world.federation.operator("participant", "admit", participant)
        assert admitted["kafka_access"]["state"] == "opened", admitted["kafka_access"]
    for participant, party in world.suppliers.items():
        status = world.federation.connector(party, "status")
        assert status["kafka_principal"] == participant
        options = _connector_kafka(party)
        assert options["sasl.username"] == participant
        assert options["sasl.mechanisms"] == "SCRAM-SHA-512"
        assert (party.state / "connector.json").stat().st_mode & 0o777 == 0o600
    # Each principal's password is its own: supplier-01's does not log in as supplier-02.
    impostor = {**_connector_kafka(world.suppliers["supplier-01"]), "sasl.username": "supplier-02"}
    consumer = _consumer(impostor, "dataspace-subscriber-supplier-02")
    try:
        consumer.subscribe([announcements_topic("supplier-02")])
        error = _first_error(consumer, REFUSED_AT_ONCE_SECONDS)
        assert error is not None
        assert error.code() == KafkaError._AUTHENTICATION
    finally:
        consumer.close()


def test_suppliers_conclude_agreements_across_their_own_connectors(
    world: World, tmp_path: Path
) -> None:
    offer = tmp_path / "offer.json"
    offer.write_text(json.dumps(own_rows_offer("urn:test:orders:own-rows")), encoding="utf-8")
    world.federation.connector(
        world.leader, "product", "create", "--id", PRODUCT, "--title-zh", "采购订单",
        "--title-en", "Purchase orders", "--schema", "purchase_orders", "--suite",
        "purchase_orders", "--chain", "construction-machinery", "--offer", str(offer),
    )  # fmt: skip
    world.federation.serve(world.leader)
    for party in world.suppliers.values():
        requested = world.federation.connector(
            party, "agreement", "request", "--product", PRODUCT, "--purpose", "supply-planning"
        )
        agreement = requested["agreement_id"]
        world.federation.connector(world.leader, "agreement", "sign", agreement)
        final = world.federation.connector(party, "agreement", "sign", agreement)
        assert final["state"] == "FINALIZED"
        world.federation.subscribe(party)


def _publish(world: World) -> dict[str, Any]:
    published: dict[str, Any] = world.federation.connector(
        world.leader, "publish", "--product", PRODUCT, str(ORDERS_CSV)
    )
    return published


def _lands_once_each(world: World, published: dict[str, Any]) -> None:
    """Every supplier lands its own rows of this version, receipted once, announced once."""
    version = published["version"]
    for participant, party in world.suppliers.items():
        landed = wait_for(lambda party=party: _landed(party, version), timeout=120)
        rows = pq.read_table(landed[0]).to_pylist()
        assert {row["supplier_id"] for row in rows} == {participant}
    for line in published["deliveries"]:
        delivery = f"dlv-{line['agreement_id']}-v{version}"
        receipts = wait_for(lambda d=delivery: _ledger(world, "delivery.received", d), timeout=60)
        assert [r["actor"] for r in receipts] == [line["subscriber"]]
    for line in published["deliveries"]:
        # On the subscriber's own topic: nothing lost. A send that timed out while the
        # cluster elected a new leader may have been written and is then written again by
        # the relay (at least once, ADR 0007): the agent passes over the copy by event id,
        # as "landed once" and "receipted once" above show.
        delivery = f"dlv-{line['agreement_id']}-v{version}"
        announced = _announced(world, line["subscriber"])
        assert event_id_for("DeliveryAnnounced", delivery) in announced


def test_a_release_reaches_each_supplier_as_its_own_principal(world: World) -> None:
    published = _publish(world)
    assert sorted(line["subscriber"] for line in published["deliveries"]) == list(SUPPLIERS)
    _lands_once_each(world, published)


# -- the ACLs -------------------------------------------------------------------------------


def test_a_supplier_reads_its_own_announcements_and_is_refused_on_another_suppliers(
    world: World,
) -> None:
    own = _connector_kafka(world.suppliers["supplier-01"])
    reader = _consumer(own, "dataspace-subscriber-supplier-01")
    try:  # its own topic: the announcements of the release above are there
        reader.assign([TopicPartition(announcements_topic("supplier-01"), 0, 0)])
        message = wait_for(lambda: reader.poll(1), timeout=30)
        assert message.error() is None, message.error()
        assert dict(message.headers())["event-type"] == b"DeliveryAnnounced"
    finally:
        reader.close()

    snooper = _consumer(own, "dataspace-subscriber-supplier-01")
    try:
        snooper.subscribe([announcements_topic("supplier-02")])
        error = _first_error(snooper, REFUSED_AT_ONCE_SECONDS)
        assert error is not None, "supplier-01 read supplier-02's announcements"
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        snooper.close()

    forger = Producer({**own, "enable.idempotence": "true", "message.timeout.ms": "10000"})
    reports: list[KafkaError | None] = []
    forger.produce(announcements_topic("supplier-02"), b"forged",
                   on_delivery=lambda err, _msg: reports.append(err))  # fmt: skip
    forger.flush(20)
    assert reports, "no delivery report for the forged message"
    assert reports[0] is not None, "supplier-01 wrote onto supplier-02's topic"
    assert reports[0].code() in {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    }


def test_suspension_takes_kafka_access_away_at_once_and_reinstatement_gives_it_back(
    world: World,
) -> None:
    party = world.suppliers["supplier-02"]
    world.federation.stop("supplier-02-agent")
    options = _connector_kafka(party)
    reader = _consumer(options, "dataspace-subscriber-supplier-02")
    try:
        reader.assign([TopicPartition(announcements_topic("supplier-02"), 0, 0)])
        assert wait_for(lambda: reader.poll(1), timeout=30).error() is None  # reads now

        suspended = world.federation.operator("participant", "suspend", "supplier-02")
        assert suspended["kafka_access"]["state"] == "closed"
        started = time.monotonic()
        reader.seek(TopicPartition(announcements_topic("supplier-02"), 0, 0))
        error = _first_error(reader, REFUSED_AT_ONCE_SECONDS)
        assert error is not None, "a suspended participant's open consumer kept reading"
        assert error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
        assert time.monotonic() - started < REFUSED_AT_ONCE_SECONDS
    finally:
        reader.close()
    fresh = _consumer(options, "dataspace-subscriber-supplier-02")
    try:  # and no new session authenticates
        fresh.subscribe([announcements_topic("supplier-02")])
        error = _first_error(fresh, REFUSED_AT_ONCE_SECONDS)
        assert error is not None
        assert error.code() == KafkaError._AUTHENTICATION
    finally:
        fresh.close()

    reinstated = world.federation.operator("participant", "reinstate", "supplier-02")
    assert reinstated["kafka_access"]["state"] == "opened"
    world.federation.subscribe(party)
    published = _publish(world)
    _lands_once_each(world, published)


# -- a broker killed ------------------------------------------------------------------------


@pytest.fixture
def restore_brokers() -> Iterator[list[int]]:
    killed: list[int] = []
    yield killed
    for node in killed:
        engine_script("kafka", "start-broker", str(node), timeout=180)


def _kill_soon(node: int, delay: float) -> threading.Thread:
    thread = threading.Thread(
        target=lambda: (time.sleep(delay), engine_script("kafka", "kill-broker", str(node)))
    )
    thread.start()
    return thread


def test_a_broker_killed_during_a_publish_loses_and_duplicates_nothing(
    world: World, restore_brokers: list[int]
) -> None:
    topic = announcements_topic("supplier-01")
    node = _partition_leader(world, topic)
    restore_brokers.append(node)
    killer = _kill_soon(node, 0.5)  # the publish command is starting when the leader dies
    published = _publish(world)
    killer.join()

    _lands_once_each(world, published)
    assert wait_for(lambda: _partition_leader(world, topic) not in {node, -1}, timeout=60)


def test_a_broker_killed_during_a_delivery_loses_and_duplicates_nothing(
    world: World, restore_brokers: list[int]
) -> None:
    for participant in SUPPLIERS:
        world.federation.stop(f"{participant}-agent")
    published = _publish(world)
    node = _partition_leader(world, announcements_topic("supplier-02"))
    restore_brokers.append(node)
    for party in world.suppliers.values():
        world.federation.subscribe(party)
    _kill_soon(node, 1.0).join()  # the agents are joining their groups and fetching

    _lands_once_each(world, published)
