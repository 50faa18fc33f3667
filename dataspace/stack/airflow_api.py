"""A small client of the node's Airflow REST API (v2): trigger a DAG run, follow it, and say
why it failed. The CLI uses it so a user never writes ``--conf`` JSON by hand.

It logs in as the ``admin`` user that ``airflow standalone`` generated (see
:mod:`dataspace.stack.airflow`); every call is on loopback.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from dataspace.config import Settings
from dataspace.errors import ServiceError
from dataspace.stack.airflow import login, ui_url

TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 2.0
FINISHED = ("success", "failed")


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    state: str
    failed: tuple[str, ...] = ()  # the failed tasks' ids
    reason: str | None = None  # the first failed task's error, as its log says it


class AirflowApi:
    def __init__(self, settings: Settings, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base = ui_url(settings)
        self.timeout = timeout
        credentials = login(settings)
        if credentials is None:
            raise ServiceError(
                "Airflow is not running on this node (no login was generated); start it with "
                "`dataspace up --with-airflow`."
            )
        body = dict(zip(("username", "password"), credentials, strict=True))
        self.token = self._call("POST", "/auth/token", body, auth=False)["access_token"]

    def get(self, path: str) -> Any:
        """The JSON answer to ``GET path`` (e.g. ``/api/v2/dags``)."""
        return self._call("GET", path)

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Start a run of ``dag_id`` with ``conf``; its run id."""
        run = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                         {"logical_date": None, "conf": conf})  # fmt: skip
        return str(run["dag_run_id"])

    def wait(self, dag_id: str, run_id: str, timeout: float) -> RunOutcome:
        """Follow the run until it succeeds or fails (or ``timeout`` seconds pass)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
        deadline = time.monotonic() + timeout
        while True:
            state = str(self._call("GET", path)["state"])
            if state in FINISHED:
                break
            if time.monotonic() > deadline:
                return RunOutcome(run_id, state)
            time.sleep(POLL_SECONDS)
        if state == "success":
            return RunOutcome(run_id, state)
        instances = self._call("GET", f"{path}/taskInstances")["task_instances"]
        failed = [i for i in instances if i.get("state") == "failed"]
        reason = self._reason(path, failed[0]) if failed else None
        return RunOutcome(run_id, state, tuple(str(i["task_id"]) for i in failed), reason)

    def _reason(self, run_path: str, instance: dict[str, Any]) -> str | None:
        """The failed task's exception message, from its structured log."""
        log_path = f"{run_path}/taskInstances/{instance['task_id']}/logs/{instance['try_number']}"
        try:
            content = self._call("GET", f"{log_path}?full_content=true").get("content", [])
        except ServiceError:
            return None
        for entry in content if isinstance(content, list) else []:
            for detail in entry.get("error_detail") or [] if isinstance(entry, dict) else []:
                if isinstance(detail, dict) and detail.get("exc_value"):
                    return str(detail["exc_value"])
        return None

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, auth: bool = True
    ) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (a loopback URL we built)
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.load(response)
        except urllib.error.HTTPError as refused:
            detail = refused.read().decode("utf-8", "replace")[:500]
            raise ServiceError(
                f"Airflow answered {refused.code} to {method} {path}: {detail}"
            ) from refused
        except (urllib.error.URLError, OSError) as down:
            raise ServiceError(
                f"Airflow at {self.base} did not answer ({down}); is it running? "
                "Start it with `dataspace up --with-airflow`."
            ) from down
