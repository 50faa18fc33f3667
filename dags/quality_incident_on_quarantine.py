"""When a release is quarantined, open a quality incident and tell the subscribers.

Scheduled by Kafka events, not by time: an AssetWatcher runs the Kafka message-queue trigger
on the ReleaseQuarantined topic in the triggerer. Its apply_function
(``dataspace.operations.incident_watch.quarantined_release``) verifies each signed Avro envelope
against the control plane and returns the event's facts, which arrive here as the asset
event's payload. The task opens the incident (control-plane record + ledger entry) and sends
each subscriber a signed DeliveryDelayed event (``dataspace/operations/incident_response.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.providers.apache.kafka.triggers.msg_queue import KafkaMessageQueueTrigger
from airflow.sdk import Asset, AssetWatcher, dag, get_current_context, task

# ROUTES["ReleaseQuarantined"].topic() in dataspace.events.registry, written out because
# importing the registry would parse Avro schemas whenever this file is parsed (a test
# checks that the two agree).
QUARANTINED_TOPIC = "dataspace.releases.quarantined.v1"
KAFKA_CONNECTION_ID = "dataspace_kafka"  # dataspace.orchestration renders it from the settings

quarantined_releases = Asset(
    "dataspace_release_quarantined",
    watchers=[
        AssetWatcher(
            name="release_quarantined_on_kafka",
            trigger=KafkaMessageQueueTrigger(
                topics=[QUARANTINED_TOPIC],
                apply_function="dataspace.operations.incident_watch.quarantined_release",
                kafka_config_id=KAFKA_CONNECTION_ID,
                poll_timeout=1,
                poll_interval=1,
            ),
        )
    ],
)


@dag(
    dag_id="quality_incident_on_quarantine",
    description="Open a quality incident and notify subscribers when a release is quarantined.",
    schedule=[quarantined_releases],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["dataspace", "quality", "event-driven"],
    default_args={
        "owner": "data-space-operator",
        "retries": 3,
        "retry_delay": timedelta(seconds=30),
    },
)
def quality_incident_on_quarantine() -> None:
    @task
    def open_incidents() -> list[dict[str, Any]]:
        from dataspace.node import open_node  # noqa: PLC0415 (imported when the task runs)
        from dataspace.operations.incident_response import respond  # noqa: PLC0415

        events = get_current_context()["triggering_asset_events"][quarantined_releases]
        with open_node() as node:
            return [respond(node, event.extra["payload"]) for event in events]

    open_incidents()


quality_incident_on_quarantine()
