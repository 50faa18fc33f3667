"""Airflow on the CeleryExecutor: DAG runs triggered through the REST API, as the product's
``AirflowApi`` does, are scheduled by the scheduler and executed by the Celery worker.

The evidence that the worker ran a task is the worker's own log naming that task instance
(the line Airflow's Celery task writes before it runs a workload, and Celery's "succeeded"
for the same Celery task); the proof that only the worker executes is that with the worker
stopped a triggered task stays queued. Under the LocalExecutor both fail: the worker's log
never names the task, and the task runs without a worker.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dataspace.config import load_settings
from dataspace.stack.airflow import PASSWORD_FILE
from dataspace.stack.airflow_api import AirflowApi

pytestmark = pytest.mark.production_like

AIRFLOW_SH = Path(__file__).resolve().parents[2] / "infra" / "production-like" / "airflow.sh"
RUN_TIMEOUT_S = 300.0
QUEUED_HOLD_S = 30.0  # long enough for a LocalExecutor to have started and finished the task


@pytest.fixture
def airflow(
    production_like: Callable[[str], dict[str, str]], tmp_path: Path
) -> tuple[AirflowApi, dict[str, str]]:
    """The product's client, logged in to the production-like Airflow, and its env file."""
    env = production_like("airflow")
    # AirflowApi reads the login where `dataspace up --with-airflow` leaves it: give it a
    # state directory of its own holding this Airflow's login.
    login = tmp_path / "airflow" / PASSWORD_FILE
    login.parent.mkdir()
    login.write_text(json.dumps({env["PRODLIKE_AIRFLOW_USER"]: env["PRODLIKE_AIRFLOW_PASSWORD"]}))
    port = urllib.parse.urlsplit(env["PRODLIKE_AIRFLOW_URL"]).port
    settings = load_settings(state_dir=tmp_path, airflow_port=port)
    return AirflowApi(settings), env


def task_instances(api: AirflowApi, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    run = urllib.parse.quote(run_id, safe="")
    return api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances")["task_instances"]


def worker_host(log: Path) -> str | None:
    """The host in the Celery worker's node name (``celery@<host> ready.``)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    names = re.findall(r"celery@(\S+) ready\.", text)
    return names[-1] if names else None


def worker_lines(log: Path, instance_id: str) -> tuple[str, str]:
    """The worker log's "Executing workload" line for the task instance ``instance_id`` and
    Celery's line saying that the same Celery task succeeded ("" when missing)."""
    text = log.read_text(encoding="utf-8", errors="replace")
    executing = next(
        (line for line in text.splitlines()
         if "Executing workload in Celery" in line and instance_id in line),
        "",
    )  # fmt: skip
    celery_id = re.search(r"\[([0-9a-f-]{36})\] Executing workload", executing)
    succeeded = ""
    if celery_id:
        pattern = f"Task execute_workload[{celery_id.group(1)}] succeeded"
        succeeded = next((line for line in text.splitlines() if pattern in line), "")
    return executing, succeeded


def test_a_triggered_settlement_is_executed_by_the_celery_worker(
    airflow: tuple[AirflowApi, dict[str, str]],
) -> None:
    api, env = airflow
    run_id = api.trigger("settlement", {"month": "2026-11"})
    outcome = api.wait("settlement", run_id, RUN_TIMEOUT_S)
    assert outcome.state == "success", outcome

    (instance,) = task_instances(api, "settlement", run_id)
    assert instance["state"] == "success"
    log = Path(env["PRODLIKE_AIRFLOW_WORKER_LOG"])
    # Airflow records where the task ran: the Celery worker's host, from the Celery queue
    # that the worker consumes.
    assert instance["hostname"] == worker_host(log)
    assert instance["queue"] == "default"
    # The worker logs Celery's "succeeded" line after the task instance says success: wait.
    deadline = time.monotonic() + 30
    executing, succeeded = worker_lines(log, instance["id"])
    while not succeeded and time.monotonic() < deadline:
        time.sleep(0.5)
        executing, succeeded = worker_lines(log, instance["id"])
    assert executing, f"the Celery worker's log does not name task instance {instance['id']}"
    assert "task_id=settle_month" in executing
    assert f"run_id={run_id}" in executing
    assert succeeded, f"the Celery worker's log does not say it finished: {executing}"


@pytest.fixture
def worker_stopped() -> Iterator[None]:
    subprocess.run([AIRFLOW_SH, "stop-worker"], check=True, timeout=120)
    try:
        yield
    finally:
        subprocess.run([AIRFLOW_SH, "start-worker"], check=True, timeout=400)


def test_without_the_worker_a_triggered_task_stays_queued(
    airflow: tuple[AirflowApi, dict[str, str]], worker_stopped: None
) -> None:
    api, _ = airflow
    run_id = api.trigger("settlement", {"month": "2026-10"})
    deadline = time.monotonic() + RUN_TIMEOUT_S
    states: list[str | None] = []
    while states != ["queued"]:  # the scheduler has handed the task to the executor
        assert time.monotonic() < deadline, f"the task never got queued: {states}"
        time.sleep(1.0)
        states = [i["state"] for i in task_instances(api, "settlement", run_id)]

    hold_until = time.monotonic() + QUEUED_HOLD_S
    while time.monotonic() < hold_until:
        states = [i["state"] for i in task_instances(api, "settlement", run_id)]
        assert states == ["queued"], f"the task left the queue without a worker: {states}"
        time.sleep(2.0)

    subprocess.run([AIRFLOW_SH, "start-worker"], check=True, timeout=400)
    outcome = api.wait("settlement", run_id, RUN_TIMEOUT_S)
    assert outcome.state == "success", f"the queued task did not run once a worker came: {outcome}"
