"""The authority's Airflow connection, as plain values for :mod:`dataspace.publicdata.sources`.

Only DAG tasks call this (Airflow resolves connections from its metadata database, its
secrets backends or ``AIRFLOW_CONN_*``); the core never imports Airflow.
"""

from __future__ import annotations

from dataspace.errors import InvalidInput
from dataspace.publicdata.sources import ConnectionFacts


def connection_of(connection_id: str) -> ConnectionFacts:
    """The connection ``connection_id``; InvalidInput (no retries) if Airflow has none."""
    from airflow.sdk import Connection  # noqa: PLC0415 (only inside a task)
    from airflow.sdk.exceptions import AirflowNotFoundException  # noqa: PLC0415

    try:
        found = Connection.get(connection_id)
    except AirflowNotFoundException as missing:
        raise InvalidInput(
            f"Airflow has no connection {connection_id!r}; add it (`dataspace publicdata "
            "connect`, or `dataspace airflow connections add`) or name another one."
        ) from missing
    return ConnectionFacts.from_airflow(found)
