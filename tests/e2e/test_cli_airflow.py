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

OFFER = Path(__file__).resolve().parents[2] / "examples" / "offers" / "public-energy-emissions.json"
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
        assert_a_failed_release_says_why(env)
    finally:
        down = run(["down"], env)
    assert down.returncode == 0
    assert "airflow" in down.stdout
    assert not port_in_use("127.0.0.1", port)
    assert list((tmp_path / "run").glob("*.pid")) == []
    assert "Airflow" not in run(["status"], env).stdout


def assert_a_failed_release_says_why(env: dict[str, str]) -> None:
    """`application release` runs the DAG on this Airflow (the scheduler, not dag.test()),
    waits, and when a task fails prints that task's own sentence and exits non-zero."""
    for args in (
        ["operator", "init", "--name", "枢纽", "--uscc", "12320000MB0000001D", "--region", "CN-JS"],
        ["participant", "register", "--id", "js-data-bureau", "--name", "数据局",
         "--uscc", "11320000MB0000002K", "--role", "public_data_authority", "--region", "CN-JS"],
        ["participant", "register", "--id", "op-grid", "--name", "运营商",
         "--uscc", "91320100MA0000004L", "--role", "authorized_operator", "--region", "CN-JS"],
        ["participant", "admit", "js-data-bureau"],
        ["participant", "admit", "op-grid"],
        ["product", "create", "--id", "energy-emissions", "--as", "js-data-bureau",
         "--title-zh", "企业用电与排放", "--title-en", "Energy", "--schema",
         "public_energy_emissions", "--suite", "public_energy_emissions", "--cadence", "monthly",
         "--offer", str(OFFER)],
    ):  # fmt: skip
        done = run(args, env)
        assert done.returncode == 0, done.stdout + done.stderr
    applied = run(["application", "apply", "--as", "op-grid", "--product", "energy-emissions",
                   "--scenario", "park-carbon", "--purpose", "carbon-accounting",
                   "--from", "2026-01-01T00:00:00Z", "--until", "2030-01-01T00:00:00Z",
                   "--json"], env)  # fmt: skip
    application = json.loads(applied.stdout)["application_id"]
    approved = run(["application", "approve", "--as", "js-data-bureau", application], env)
    assert approved.returncode == 0, approved.stdout + approved.stderr

    released = run(["application", "release", application, "--connection", "nowhere_s3",
                    "--object", "extracts/energy.csv"], env, timeout=600)  # fmt: skip

    assert released.returncode == 9, released.stdout + released.stderr
    assert "ingest_and_desensitize" in released.stdout  # the task that failed
    assert "Airflow has no connection 'nowhere_s3'" in released.stderr


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
