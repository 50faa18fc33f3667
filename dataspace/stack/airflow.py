"""Airflow for the embedded stack: ``airflow standalone`` (API server and UI, scheduler,
DAG processor, triggerer) with SQLite metadata under ``<state_dir>/airflow``.

Started only by ``dataspace up --with-airflow``; tracked by a pid file like the other
services, and stopped with its whole process group by ``down``. Before it starts, ``airflow.cfg``
in AIRFLOW_HOME is written with this node's options (see ``write_airflow_config``), so the
plain ``airflow`` command with that AIRFLOW_HOME sees the same Airflow. Standalone migrates its
metadata database itself and writes the generated login of ``admin`` to
``simple_auth_manager_passwords.json.generated`` in AIRFLOW_HOME. The API server listens on
127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import sysconfig
from pathlib import Path

from dataspace.config import CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE, Settings
from dataspace.errors import ServiceError
from dataspace.orchestration import airflow_environment, write_airflow_config
from dataspace.stack.components import Component, Service, http_ok, venv_script

# Migrating a fresh SQLite database takes ~20 s; four processes then import Airflow.
START_TIMEOUT_SECONDS = 300.0
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"  # noqa: S105 (a file name)
USER = "admin"


def ui_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.airflow_port}"


def login(settings: Settings) -> tuple[str, str] | None:
    """(user, password) that standalone generated, once it has written them."""
    try:
        passwords = json.loads((settings.airflow_home / PASSWORD_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    password = passwords.get(USER) if isinstance(passwords, dict) else None
    return (USER, str(password)) if password else None


def cli_environment(settings: Settings) -> dict[str, str]:
    """What a shell must export for the plain ``airflow`` command to act on this Airflow:
    AIRFLOW_HOME (its airflow.cfg holds the rest), and where the settings of the tasks that
    ``airflow dags test`` runs in that shell come from, as absolute paths (any directory)."""
    environment = {
        "AIRFLOW_HOME": str(settings.airflow_home),
        "DATASPACE_STATE_DIR": str(settings.state_dir),
    }
    config_file = Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
    if config_file.is_file():
        environment[CONFIG_FILE_ENV] = str(config_file.resolve())
    return environment


# The API server answers from one worker that also serves the UI; on two busy cores a health
# answer can take seconds.
HEALTH_TIMEOUT_SECONDS = 5.0


def service(settings: Settings) -> Service:
    health = f"{ui_url(settings)}/api/v2/monitor/health"

    def healthy() -> bool:
        return http_ok(health, timeout=HEALTH_TIMEOUT_SECONDS)

    def ready() -> bool:
        # Ready when a user can trigger every DAG: the DAG processor has stored them all.
        return healthy() and dags_stored(settings)

    def prepare() -> None:
        write_airflow_config(settings, settings.airflow_home)

    standalone = Component(
        name="airflow",
        label="Airflow (standalone)",
        argv=lambda: (venv_script("airflow"), "standalone"),
        port=settings.airflow_port,
        ready=ready,
        start_timeout=START_TIMEOUT_SECONDS,
        env={**airflow_environment(settings, settings.airflow_home), "PATH": _path()},
    )
    return Service(
        name="airflow",
        label="Airflow",
        endpoint=ui_url(settings),
        components=(standalone,),
        prepare=prepare,
        healthy=healthy,
    )


def dags_stored(settings: Settings) -> bool:
    """Whether Airflow's API lists a DAG for every file of the DAG folder (each file is named
    after its DAG id): until then ``airflow dags trigger`` answers that the DAG is not found."""
    from dataspace.stack.airflow_api import AirflowApi  # noqa: PLC0415 (it imports this module)

    expected = {path.stem for path in settings.dags_dir.glob("*.py") if path.stem[0] != "_"}
    try:
        api = AirflowApi(settings, timeout=HEALTH_TIMEOUT_SECONDS)
        listed = api.get("/api/v2/dags?limit=1000")
    except (ServiceError, ValueError, KeyError, TypeError):  # not up, or not answering yet
        return False
    return expected <= {dag.get("dag_id") for dag in listed.get("dags", [])}


def _path() -> str:
    """PATH with this virtual environment first: standalone starts `airflow scheduler` etc."""
    scripts = sysconfig.get_path("scripts")
    return os.pathsep.join([scripts, os.environ.get("PATH", os.defpath)])
