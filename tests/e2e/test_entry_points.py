"""The provider's and subscriber's entry-point scripts run the `dataspace` command they name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dataspace.resources import data_root

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("script", "command"),
    [
        ("producers/publish.py", "publish"),
        ("producers/relay.py", "relay"),
        ("consumers/subscribe.py", "subscribe"),
    ],
)
def test_an_entry_point_is_its_command(script: str, command: str) -> None:
    ran = subprocess.run(
        [sys.executable, data_root() / script, "--help"],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert f"Usage: dataspace {command}" in ran.stdout


def test_an_entry_point_fails_like_its_command(tmp_path: object) -> None:
    ran = subprocess.run(
        [sys.executable, data_root() / "producers/publish.py", "--no-such-option"],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 2
    assert "No such option" in ran.stderr
    assert "Traceback" not in ran.stderr
