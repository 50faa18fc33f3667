"""What every DAG task shares: the Airflow configuration of this node (environment and
airflow.cfg from one mapping), refusals that must not be retried, and the node's birth, before
which a scheduled run has nothing to do.

Kept in the core (not in dags/) so a DAG file stays a short story and imports nothing heavy:
Airflow is imported here only inside the function that needs it.
"""

from __future__ import annotations

import base64
import configparser
import io
import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from dataspace.config import Settings
from dataspace.errors import ConfigError, DataspaceError, InvalidInput, NotFound, Refused
from dataspace.private_paths import open_private, private_directory

if TYPE_CHECKING:
    from dataspace.store.db import Database

# The Airflow connection the Kafka triggers of dags/ use; its value comes from the settings.
KAFKA_CONNECTION_ID = "dataspace_kafka"
TRIGGER_GROUP = "dataspace-airflow-triggers"
LOOPBACK = "127.0.0.1"
CONFIG_FILE = "airflow.cfg"
CONFIG_HEADER = (
    "# Written by `dataspace up --with-airflow`, which rewrites the options it sets (DAG folder,\n"
    "# examples, metadata database, API host and port, log-server ports) on each start and\n"
    "# keeps the others; comments are not kept.\n"
)
# Per-installation secrets that Airflow draws when it writes airflow.cfg itself; every process
# of one Airflow must share them (API tokens, the UI's sessions, encrypted connections).
_SECRETS: dict[tuple[str, str], Callable[[], str]] = {
    ("core", "fernet_key"): lambda: base64.urlsafe_b64encode(os.urandom(32)).decode("ascii"),
    ("api", "secret_key"): lambda: secrets.token_urlsafe(32),
    ("api_auth", "jwt_secret"): lambda: secrets.token_urlsafe(32),
}

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


def airflow_options(settings: Settings, home: Path) -> dict[tuple[str, str], str]:
    """The Airflow options of this node, by (section, option): the one source of both
    :func:`airflow_environment` and :func:`write_airflow_config`.

    SQLite metadata in ``home``, the repository's dags/ without examples, DAGs unpaused when
    created (they are code reviewed like the rest), and the API server on loopback only.
    """
    return {
        ("core", "dags_folder"): str(settings.dags_dir),
        ("core", "load_examples"): "False",
        ("core", "dags_are_paused_at_creation"): "False",
        ("database", "sql_alchemy_conn"): f"sqlite:///{home / 'airflow.db'}",
        # The API server serves the UI and the execution API on 0.0.0.0 unless told otherwise.
        ("api", "host"): LOOPBACK,
        ("api", "port"): str(settings.airflow_port),
        # Workers reach the API server's execution API at localhost:8080 unless told otherwise.
        ("core", "execution_api_server_url"): (
            f"http://{LOOPBACK}:{settings.airflow_port}/execution/"
        ),
        # The log servers of workers and triggerer default to fixed ports (8793, 8794): two
        # Airflows on one host (a test beside a developer's) would collide there.
        ("logging", "worker_log_server_port"): str(settings.airflow_port + 1),
        ("logging", "trigger_log_server_port"): str(settings.airflow_port + 2),
    }


def airflow_environment(
    settings: Settings, home: Path, *, trigger_group: str = TRIGGER_GROUP
) -> dict[str, str]:
    """The environment of every Airflow process of this node.

    AIRFLOW_HOME, :func:`airflow_options` as ``AIRFLOW__SECTION__OPTION``, the DATASPACE_*
    settings for the tasks, and the Kafka connection of the triggers
    (``AIRFLOW_CONN_DATASPACE_KAFKA``) rendered from the same settings, with the embedded
    broker's consumer tuning.
    """
    kafka = settings.kafka_consumer_config(trigger_group)
    connection = {
        "conn_type": "kafka",
        "extra": {name: str(value) for name, value in kafka.items()},
    }
    options = {
        f"AIRFLOW__{section.upper()}__{option.upper()}": value
        for (section, option), value in airflow_options(settings, home).items()
    }
    return {
        "AIRFLOW_HOME": str(home),
        **options,
        f"AIRFLOW_CONN_{KAFKA_CONNECTION_ID.upper()}": json.dumps(connection),
        **settings.environment(),
    }


def node_airflow_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with the node's Airflow one, for running the ``airflow``
    command on it; ConfigError (one sentence) if ``up --with-airflow`` never made it."""
    if not (settings.airflow_home / "airflow.db").exists():
        raise ConfigError(
            f"There is no Airflow in {settings.state_dir} yet; start it with "
            "`dataspace up --with-airflow`."
        )
    return {**os.environ, **airflow_environment(settings, settings.airflow_home)}


def write_airflow_config(settings: Settings, home: Path) -> Path:
    """Write ``home/airflow.cfg`` (0600: it names the metadata database) with
    :func:`airflow_options`, so that the plain ``airflow`` command with this AIRFLOW_HOME sees
    this node's DAGs, database and ports; return its path.

    Those options are rewritten each time (the settings may have changed); other sections and
    options, such as a user's own or the file Airflow wrote itself, are kept, but not their
    comments. Airflow generates its secrets only when it writes the file itself, and each
    process would otherwise draw its own, so they are generated here once and kept after.
    """
    path = home / CONFIG_FILE
    config = configparser.ConfigParser(interpolation=None)  # values hold Airflow's %(...)s
    try:
        config.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigError(
            f"{path} is not a valid Airflow configuration ({exc}); fix it or remove it, "
            "and `dataspace up --with-airflow` writes a new one."
        ) from exc
    wanted = airflow_options(settings, home)
    secrets_ = {key: make() for key, make in _SECRETS.items() if not config.get(*key, fallback="")}
    for (section, option), value in {**wanted, **secrets_}.items():
        if not config.has_section(section):
            config.add_section(section)
        config.set(section, option, value)
    text = io.StringIO()
    config.write(text)
    private_directory(home)
    with open_private(path) as target:
        target.write((CONFIG_HEADER + text.getvalue()).encode("utf-8"))
    return path


def node_began(db: Database) -> datetime | None:
    """When this node began: the time of the earliest entry of its ledger (None before any).

    The ledger, not a marker file, because it is where every other fact of the node lives: it
    is in the control-plane database that every task process of every host opens, it survives
    restarts and a fresh state directory, and it cannot disagree with what there is to settle.
    The earliest time, not the first sequence, so that a history recorded with explicit times
    (a demo or a migration that records October in November) counts from when it happened.
    """
    from sqlalchemy import func, select  # noqa: PLC0415 (`dataspace up` imports this module)

    from dataspace.store.models import LedgerEntryRow  # noqa: PLC0415

    with db.transaction(read_only=True) as session:
        return session.scalar(select(func.min(LedgerEntryRow.time)))


def skip_before_birth(db: Database, *, period: str, ended: datetime, nothing: str) -> None:
    """Skip the running task when ``period`` ended before the node began, saying so in one
    sentence: a scheduler that starts on a fresh node runs the period that just ended, which
    the node never saw. A task calls this only for the period its schedule chose; a period the
    user named still runs (they asked for it)."""
    began = node_began(db)
    if began is not None and ended > began:
        return
    from airflow.sdk.exceptions import AirflowSkipException  # noqa: PLC0415

    if began is None:
        raise AirflowSkipException(f"The node has recorded nothing yet; {nothing} for {period}.")
    raise AirflowSkipException(
        f"The node began on {began:%Y-%m-%d %H:%M} UTC; {period} ended before it; {nothing}."
    )


def scheduled_month(db: Database, logical_date: datetime) -> str:
    """The month a scheduled settlement settles, ``YYYY-MM``: the one before ``logical_date``
    (a run in a month settles the month before); the task is skipped if the node began after."""
    from dataspace.operations.metering import Month  # noqa: PLC0415 (imports pyarrow)

    month = Month.before(logical_date)
    skip_before_birth(db, period=f"month {month}", ended=month.end, nothing="nothing to settle")
    return str(month)


def scheduled_day(db: Database, logical_date: datetime) -> date:
    """The day a scheduled evaluation report covers: the day before ``logical_date`` (a run on
    the 1st reports the month that ended); the task is skipped if the node began after it."""
    day = (logical_date - timedelta(days=1)).date()
    ended = datetime.combine(day + timedelta(days=1), time(), UTC)
    skip_before_birth(db, period=f"the day {day}", ended=ended, nothing="nothing to report")
    return day
