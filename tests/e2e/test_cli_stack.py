"""The `dataspace` command as a user runs it: output, exit codes, no tracebacks."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import DATASPACE

pytestmark = pytest.mark.e2e


def run(args: list[str], state_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    clean.update({"DATASPACE_STATE_DIR": str(state_dir), "COLUMNS": "200", **env})
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env=clean, timeout=120, check=False
    )


def test_status_of_a_stack_never_started_says_stopped(tmp_path: Path) -> None:
    result = run(["status"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Kafka broker" in result.stdout
    assert result.stdout.count("stopped") == 2


def test_an_invalid_setting_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    result = run(["status"], tmp_path, DATASPACE_KAFKA_PORT="ninety")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "kafka_port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_up_on_a_busy_port_fails_clearly_and_leaves_nothing(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run(["up"], tmp_path, DATASPACE_KAFKA_PORT=str(port))
    assert result.returncode == 6
    assert "Traceback" not in result.stderr
    assert f"Port {port}" in result.stderr
    assert list((tmp_path / "run").glob("*.pid")) == []


def test_down_without_up_is_harmless(tmp_path: Path) -> None:
    result = run(["down"], tmp_path)
    assert result.returncode == 0
    assert "Nothing was running" in result.stdout
