"""Health of the production-like Airflow, one line per process: ``<name> healthy|unhealthy``.

The API server's ``/api/v2/monitor/health`` speaks for itself, the scheduler, the DAG
processor and the triggerer (their heartbeats in the metadata database); the Celery worker
answers a ``ping`` broadcast through the broker, which is what the scheduler's tasks go
through too. With ``--dags`` it also says whether the API lists every DAG of the DAG folder
(until then a trigger answers "DAG not found"). Exit 0 if every line says healthy, 3 if not.

Runs in the environment airflow.sh renders (AIRFLOW_HOME, AIRFLOW__*); logs in as the
product's AirflowApi does, with the login in AIRFLOW_HOME. Celery, not Airflow, is imported:
this runs every half second while the stack starts, and importing Airflow takes seconds.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 5.0
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"  # noqa: S105 (a file name)
USER = "admin"
COMPONENTS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


def api_base() -> str:
    return f"http://127.0.0.1:{os.environ['AIRFLOW__API__PORT']}"


def fetch(path: str, *, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(api_base() + path, data=data, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        return json.load(response)


def api_health() -> dict[str, bool]:
    try:
        answer = fetch("/api/v2/monitor/health")
    except (urllib.error.URLError, OSError, ValueError):
        return {"api-server": False, **dict.fromkeys(COMPONENTS, False)}
    states = {
        name: (answer.get(key) or {}).get("status") == "healthy" for name, key in COMPONENTS.items()
    }
    return {"api-server": True, **states}


def worker_answers() -> bool:
    from celery import Celery  # noqa: PLC0415 (only this check needs it)

    app = Celery(broker=os.environ["AIRFLOW__CELERY__BROKER_URL"])
    try:
        return bool(app.control.ping(timeout=2.0))
    except OSError:  # the broker is down
        return False
    finally:
        app.close()


def dags_stored() -> bool:
    folder = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    expected = {path.stem for path in folder.glob("*.py") if not path.stem.startswith("_")}
    try:
        logins = json.loads((Path(os.environ["AIRFLOW_HOME"]) / PASSWORD_FILE).read_text("utf-8"))
        body = {"username": USER, "password": logins[USER]}
        token = fetch("/auth/token", body=body)["access_token"]
        listed = fetch("/api/v2/dags?limit=1000", token=token)["dags"]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return False
    return expected <= {dag.get("dag_id") for dag in listed}


def main(arguments: list[str]) -> int:
    states = {**api_health(), "celery-worker": worker_answers()}
    if "--dags" in arguments:
        states["dags"] = states["api-server"] and dags_stored()
    for name, healthy in states.items():
        print(name, "healthy" if healthy else "unhealthy")
    return 0 if all(states.values()) else 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
