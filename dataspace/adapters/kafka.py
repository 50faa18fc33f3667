"""Kafka clients (confluent-kafka) configured from the settings, and topic administration."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from dataspace.config import Settings
from dataspace.errors import ServiceError

ADMIN_TIMEOUT_SECONDS = 10.0


def ensure_topics(settings: Settings, topics: Iterable[str], partitions: int = 1) -> None:
    """Create the topics that do not exist yet. Idempotent: existing topics are left alone.

    Only missing topics are asked for: on a broker with ACLs a participant may read its own
    topics (which the hub created) without being allowed to create any.
    """
    admin = AdminClient(settings.kafka_producer_config())
    names = sorted(set(topics))
    try:
        existing = admin.list_topics(timeout=ADMIN_TIMEOUT_SECONDS).topics
    except KafkaException as exc:
        raise _unreachable(settings) from exc
    wanted = [NewTopic(name, num_partitions=partitions) for name in names if name not in existing]
    if not wanted:
        return
    futures = admin.create_topics(wanted, operation_timeout=ADMIN_TIMEOUT_SECONDS)
    for name, future in futures.items():
        try:
            future.result(timeout=ADMIN_TIMEOUT_SECONDS)
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            if error.code() in {
                KafkaError.TOPIC_AUTHORIZATION_FAILED,
                KafkaError.CLUSTER_AUTHORIZATION_FAILED,
            }:
                raise ServiceError(
                    f"The topic {name!r} does not exist on Kafka at "
                    f"{settings.bootstrap_servers}, and this principal may not create it; "
                    "the hub creates a participant's topics when the operator admits it, "
                    "so ask the operator to run `dataspace participant kafka-access`."
                ) from exc
            raise ServiceError(
                f"Kafka at {settings.bootstrap_servers} could not create topic {name!r}: "
                f"{error.str()}; check that the broker is up (`dataspace status`)."
            ) from exc
        except FutureTimeout as exc:
            raise _unreachable(settings) from exc


def _unreachable(settings: Settings) -> ServiceError:
    return ServiceError(
        f"Kafka at {settings.bootstrap_servers} did not answer within "
        f"{ADMIN_TIMEOUT_SECONDS:.0f} s; check that the broker is up (`dataspace status`)."
    )
