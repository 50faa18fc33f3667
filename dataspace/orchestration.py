"""What every DAG task shares: the node's settings, and refusals that must not be retried.

Kept in the core (not in dags/) so a DAG file stays a short story and imports nothing heavy:
Airflow is imported here only inside the function that needs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dataspace.config import Settings
from dataspace.errors import DataspaceError, InvalidInput, NotFound, Refused

# The Airflow connection the Kafka triggers of dags/ use; its value comes from the settings.
KAFKA_CONNECTION_ID = "dataspace_kafka"
TRIGGER_GROUP = "dataspace-airflow-triggers"

# Errors about the request itself: retrying gives the same answer, so the task fails at once.
FINAL_ERRORS = (Refused, InvalidInput, NotFound)


@contextmanager
def final_refusals() -> Iterator[None]:
    """Turn a refusal into AirflowFailException (no retries) with the same one sentence.

    Other DataspaceErrors (a broker or store that is down, a busy database) propagate as
    they are and get the task's retries.
    """
    try:
        yield
    except FINAL_ERRORS as refusal:
        from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415

        raise AirflowFailException(str(refusal)) from refusal
    except DataspaceError:
        raise


def airflow_environment(
    settings: Settings, home: Path, *, trigger_group: str = TRIGGER_GROUP
) -> dict[str, str]:
    """The environment of every Airflow process of this node.

    SQLite metadata in ``home``, the repository's dags/ without examples, DAGs unpaused when
    created (they are code reviewed like the rest), the DATASPACE_* settings for the tasks,
    and the Kafka connection of the triggers (``AIRFLOW_CONN_DATASPACE_KAFKA``) rendered from
    the same settings, with the embedded broker's consumer tuning.
    """
    kafka = settings.kafka_consumer_config(trigger_group)
    connection = {
        "conn_type": "kafka",
        "extra": {name: str(value) for name, value in kafka.items()},
    }
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        # Workers reach the API server's execution API at localhost:8080 unless told otherwise.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": (
            f"http://127.0.0.1:{settings.airflow_port}/execution/"
        ),
        # The log servers of workers and triggerer default to fixed ports (8793, 8794): two
        # Airflows on one host (a test beside a developer's) would collide there.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.airflow_port + 1),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.airflow_port + 2),
        f"AIRFLOW_CONN_{KAFKA_CONNECTION_ID.upper()}": json.dumps(connection),
        **settings.environment(),
    }
