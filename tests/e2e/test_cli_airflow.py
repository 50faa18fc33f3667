"""`dataspace up --with-airflow | status | down` as a user runs them, on the session's broker
and store given as external services (so only Airflow is started here)."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from dataspace.config import Settings
from dataspace.stack.process import port_in_use
from tests.helpers import DATASPACE, free_port_block

pytestmark = pytest.mark.e2e

UP_TIMEOUT = 480  # standalone migrates SQLite and starts four processes on a busy machine


def run(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATASPACE_", "AIRFLOW"))}
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env={**clean, **env},
        timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.timeout(900)
def test_up_with_airflow_prints_the_ui_and_login_and_down_stops_it(
    stack_settings: Settings, tmp_path: Path
) -> None:
    s3 = stack_settings.s3()
    port = free_port_block(3)
    env = {
        "DATASPACE_STATE_DIR": str(tmp_path),
        "DATASPACE_KAFKA_BOOTSTRAP_SERVERS": stack_settings.bootstrap_servers,
        "DATASPACE_S3_ENDPOINT": s3.url,
        "DATASPACE_S3_ACCESS_KEY": s3.access_key,
        "DATASPACE_S3_SECRET_KEY": s3.secret_key.get_secret_value(),
        "DATASPACE_AIRFLOW_PORT": str(port),
        "COLUMNS": "250",
    }
    try:
        up = run(["up", "--with-airflow"], env, timeout=UP_TIMEOUT)
        assert up.returncode == 0, up.stdout + up.stderr
        password = json.loads(
            (tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated").read_text()
        )["admin"]
        assert f"Airflow UI: http://127.0.0.1:{port}  login admin / {password}" in up.stdout
        health = f"http://127.0.0.1:{port}/api/v2/monitor/health"
        with urllib.request.urlopen(health, timeout=10) as response:
            assert json.load(response)["metadatabase"]["status"] == "healthy"
        # Every DAG is stored by the time `up` returns, so a trigger right away finds it (the
        # CLI reads the metadata database; Airflow's own warnings precede the JSON line).
        listed = run(["airflow", "dags", "list", "-o", "json"], env)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert {dag["dag_id"] for dag in json.loads(listed.stdout.splitlines()[-1])} >= {
            path.stem for path in stack_settings.dags_dir.glob("*.py")
        }
        status = run(["status"], env)
        assert status.returncode == 0, status.stdout
        (row,) = [line for line in status.stdout.splitlines() if "Airflow" in line]
        assert "running" in row
    finally:
        down = run(["down"], env)
    assert down.returncode == 0
    assert "airflow" in down.stdout
    assert not port_in_use("127.0.0.1", port)
    assert list((tmp_path / "run").glob("*.pid")) == []
    assert "Airflow" not in run(["status"], env).stdout
