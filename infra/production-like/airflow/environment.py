"""Render the environment of every process of the production-like Airflow.

It is the product's Airflow configuration (``dataspace.orchestration.airflow_environment``
and ``write_airflow_config``: DAG folder, API on loopback, execution-API URL, Kafka
connection, DATASPACE_* settings of the tasks, per-installation secrets) for the node whose
DATASPACE_* variables are in this process's environment, plus only what a province's
deployment changes: the CeleryExecutor, PostgreSQL metadata, Redis as the Celery broker, the
Celery result backend in the same PostgreSQL, and the ports of this stack.

Usage (airflow.sh calls it): ``environment.py AIRFLOW_HOME OUTPUT`` with
PRODLIKE_AIRFLOW_DB_URL, PRODLIKE_REDIS_URL and PRODLIKE_AIRFLOW_PASSWORD set. It writes
``OUTPUT`` (0600, ``export NAME='value'`` lines), rewrites the same options into
``AIRFLOW_HOME/airflow.cfg`` (so the plain ``airflow`` command with that AIRFLOW_HOME sees
PostgreSQL, not a stray SQLite file) and the admin login the API server accepts.
"""

from __future__ import annotations

import configparser
import io
import json
import os
import shlex
import sys
from pathlib import Path

from dataspace.config import load_settings
from dataspace.orchestration import airflow_environment, write_airflow_config
from dataspace.private_paths import open_private
from dataspace.stack.airflow import PASSWORD_FILE, USER

API_PORT = 28080
WORKER_LOG_PORT = 28793
TRIGGERER_LOG_PORT = 28794
WORKER_CONCURRENCY = 2


def differences(db_url: str, redis_url: str) -> dict[tuple[str, str], str]:
    """What this deployment changes in the product's options, by (section, option)."""
    return {
        ("core", "executor"): "CeleryExecutor",
        ("database", "sql_alchemy_conn"): db_url,
        ("celery", "broker_url"): redis_url,
        # Task states land in the metadata database, not in the broker: Redis may be
        # restarted without the scheduler losing what a worker reported.
        ("celery", "result_backend"): f"db+{db_url}",
        ("celery", "worker_concurrency"): str(WORKER_CONCURRENCY),
        # The product derives these from the API port (+1, +2); this stack gives them fixed
        # ports of its own, away from the embedded stack's.
        ("logging", "worker_log_server_port"): str(WORKER_LOG_PORT),
        ("logging", "trigger_log_server_port"): str(TRIGGERER_LOG_PORT),
        # The one user the product's AirflowApi logs in as (dataspace.stack.airflow.USER).
        ("core", "simple_auth_manager_users"): f"{USER}:admin",
    }


CONFIG_HEADER = (
    "# Written by infra/production-like/airflow.sh up: the product's options (see\n"
    "# dataspace.orchestration) with this stack's executor, databases, broker and ports.\n"
    "# The processes also get these options and the node's DATASPACE_* settings from\n"
    "# ../processes.env; `set -a; . ../processes.env` before running the airflow command.\n"
)


def rewrite_config(path: Path, options: dict[tuple[str, str], str]) -> None:
    config = configparser.ConfigParser(interpolation=None)
    config.read(path, encoding="utf-8")
    for (section, option), value in options.items():
        if not config.has_section(section):
            config.add_section(section)
        config.set(section, option, value)
    text = io.StringIO(CONFIG_HEADER)
    text.seek(0, io.SEEK_END)
    config.write(text)
    with open_private(path) as target:
        target.write(text.getvalue().encode("utf-8"))


def write_exports(path: Path, env: dict[str, str]) -> None:
    lines = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in sorted(env.items()))
    with open_private(path) as target:
        target.write(lines.encode("utf-8"))


def main(home: Path, output: Path) -> None:
    settings = load_settings(airflow_port=API_PORT)
    options = differences(os.environ["PRODLIKE_AIRFLOW_DB_URL"], os.environ["PRODLIKE_REDIS_URL"])
    write_airflow_config(settings, home)  # the product's options and its secrets, kept once
    rewrite_config(home / "airflow.cfg", options)
    env = airflow_environment(settings, home)
    env.update({f"AIRFLOW__{s.upper()}__{o.upper()}": value for (s, o), value in options.items()})
    write_exports(output, env)
    with open_private(home / PASSWORD_FILE) as target:
        target.write(json.dumps({USER: os.environ["PRODLIKE_AIRFLOW_PASSWORD"]}).encode("utf-8"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
