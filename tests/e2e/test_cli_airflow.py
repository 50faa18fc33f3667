"""`dataspace up --with-airflow | status | down` as a user runs them, on the session's broker
and store given as external services (so only Airflow is started here)."""

from __future__ import annotations

import configparser
import ipaddress
import json
import os
import shlex
import stat
import subprocess
import urllib.request
from pathlib import Path

import pytest

from dataspace.config import Settings
from dataspace.stack.components import venv_script
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
        assert listening_hosts(port) == {"127.0.0.1"}  # the UI and API on loopback only
        assert_plain_airflow_sees_this_node(up.stdout, tmp_path, stack_settings.dags_dir)
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


def listening_hosts(port: int) -> set[str]:
    """The addresses that a socket listening on ``port`` is bound to (Linux /proc tables)."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)  # 32-bit words in host (little-endian) order
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                hosts.add(str(ipaddress.ip_address(words)))
    return hosts


def assert_plain_airflow_sees_this_node(stdout: str, state_dir: Path, dags: Path) -> None:
    """The `export` lines `up` printed are all the plain `airflow` command needs, from any
    directory: airflow.cfg (0600) names this project's DAGs, no examples, loopback only."""
    exports = dict(
        shlex.split(line.strip().removeprefix("export "))[0].split("=", 1)
        for line in stdout.splitlines()
        if line.strip().startswith("export ")
    )
    home = state_dir / "airflow"
    assert exports == {"AIRFLOW_HOME": str(home), "DATASPACE_STATE_DIR": str(state_dir)}
    assert "`dataspace airflow ARGS`" in stdout
    assert stat.S_IMODE((home / "airflow.cfg").stat().st_mode) == 0o600
    config = configparser.ConfigParser(interpolation=None)
    config.read(home / "airflow.cfg")
    assert (config["core"]["dags_folder"], config["core"]["load_examples"]) == (str(dags), "False")
    assert config["api"]["host"] == "127.0.0.1"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATASPACE_", "AIRFLOW"))}
    listed = subprocess.run(
        [venv_script("airflow"), "dags", "list", "-o", "json"], capture_output=True, text=True,
        env={**clean, **exports}, cwd=state_dir.parent, timeout=120, check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    dag_ids = {dag["dag_id"] for dag in json.loads(listed.stdout.splitlines()[-1])}
    assert dag_ids == {path.stem for path in dags.glob("*.py") if not path.stem.startswith("_")}
