"""Airflow for the embedded stack: ``airflow standalone`` (API server and UI, scheduler,
DAG processor, triggerer) with SQLite metadata under ``<state_dir>/airflow``.

Started only by ``dataspace up --with-airflow``; tracked by a pid file like the other
services, and stopped with its whole process group by ``down``. Standalone migrates its
metadata database itself and writes the generated login of ``admin`` to
``simple_auth_manager_passwords.json.generated`` in AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import os
import sysconfig

from dataspace.config import Settings
from dataspace.orchestration import airflow_environment
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


# The API server answers from one worker that also serves the UI; on two busy cores a health
# answer can take seconds.
HEALTH_TIMEOUT_SECONDS = 5.0


def service(settings: Settings) -> Service:
    health = f"{ui_url(settings)}/api/v2/monitor/health"

    def healthy() -> bool:
        return http_ok(health, timeout=HEALTH_TIMEOUT_SECONDS)

    def ready() -> bool:
        return healthy() and login(settings) is not None

    def prepare() -> None:
        settings.airflow_home.mkdir(parents=True, exist_ok=True)

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


def _path() -> str:
    """PATH with this virtual environment first: standalone starts `airflow scheduler` etc."""
    scripts = sysconfig.get_path("scripts")
    return os.pathsep.join([scripts, os.environ.get("PATH", os.defpath)])
