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
    """Create the topics that do not exist yet. Idempotent: existing topics are left alone."""
    admin = AdminClient(settings.kafka_producer_config())
    wanted = [NewTopic(name, num_partitions=partitions) for name in topics]
    futures = admin.create_topics(wanted, operation_timeout=ADMIN_TIMEOUT_SECONDS)
    for name, future in futures.items():
        try:
            future.result(timeout=ADMIN_TIMEOUT_SECONDS)
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise ServiceError(
                f"Kafka at {settings.bootstrap_servers} could not create topic {name!r}: "
                f"{exc.args[0].str()}; check that the broker is up (`dataspace status`)."
            ) from exc
        except FutureTimeout as exc:
            raise ServiceError(
                f"Kafka at {settings.bootstrap_servers} did not answer within "
                f"{ADMIN_TIMEOUT_SECONDS:.0f} s; check that the broker is up (`dataspace status`)."
            ) from exc
