"""`dataspace uscc make|check` and `dataspace airflow ...` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dataspace.identity.uscc import validate_uscc
from tests.helpers import DATASPACE

pytestmark = pytest.mark.e2e


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATASPACE_", "AIRFLOW"))}
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env={**clean, **(env or {})},
        timeout=120, check=False,
    )  # fmt: skip


def test_uscc_make_completes_a_prefix_into_a_code_that_check_accepts() -> None:
    made = run("uscc", "make", "91320412ma0000003")
    assert made.returncode == 0, made.stderr
    code = made.stdout.strip()
    assert code == "91320412MA0000003D"
    assert validate_uscc(code) == code
    checked = run("uscc", "check", code, "--json")
    assert json.loads(checked.stdout) == {"uscc": code, "valid": True}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("make", "91320412MA00"), "has 12 characters but must have exactly 17"),
        (("make", "91320412MA000000I"), "illegal character 'I' at position 17"),
        (("check", "91320412MA0000003X"), "check character must be 'D'"),
    ],
)
def test_a_bad_prefix_or_code_is_one_sentence_and_exit_2(args: tuple[str, ...], says: str) -> None:
    done = run("uscc", *args)
    assert done.returncode == 2
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_airflow_runs_on_the_stacks_home_whatever_the_shell_holds(tmp_path: Path) -> None:
    home = tmp_path / "state" / "airflow"
    home.mkdir(parents=True)
    (home / "airflow.db").touch()  # what `up --with-airflow` leaves; this command needs no more
    env = {"DATASPACE_STATE_DIR": str(tmp_path / "state"), "AIRFLOW_HOME": str(tmp_path / "mine")}
    done = run("airflow", "config", "get-value", "database", "sql_alchemy_conn", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"sqlite:///{home / 'airflow.db'}"
    assert not (tmp_path / "mine").exists()

    wrong = run("airflow", "dags", "no-such-command", env=env)
    assert wrong.returncode == 2  # Airflow's own usage error, passed on


def test_airflow_before_up_with_airflow_says_what_to_do(tmp_path: Path) -> None:
    done = run("airflow", "dags", "list", env={"DATASPACE_STATE_DIR": str(tmp_path)})
    assert done.returncode == 2
    assert "start it with `dataspace up --with-airflow`" in done.stderr
    assert "Traceback" not in done.stderr
