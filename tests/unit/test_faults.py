"""Fault points: held only where, and only when, a test asked."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dataspace import faults
from tests.helpers import wait_for


def test_a_point_given_with_a_count_holds_only_the_nth_arrival(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = tmp_path / "held"
    monkeypatch.setattr(faults, "_reached", {})
    monkeypatch.setenv(faults.HOLD_ENV, "download.partial-written@2")
    monkeypatch.setenv(faults.HELD_FILE_ENV, str(held))

    faults.reach("relay.sent-not-marked")  # another point: not counted, not held
    faults.reach("download.partial-written")  # first arrival goes on
    assert not held.exists()
    second = threading.Thread(target=faults.reach, args=("download.partial-written",))
    second.daemon = True  # it holds until the process ends
    second.start()
    wait_for(held.exists, timeout=5)
    faults.reach("download.partial-written")  # third arrival goes on

    assert second.is_alive()
    assert faults._reached == {"download.partial-written": 3}


def test_without_the_switch_nothing_is_held_or_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults, "_reached", {})
    monkeypatch.delenv(faults.HOLD_ENV, raising=False)
    for _ in range(3):
        faults.reach("download.partial-written")
    assert faults._reached == {}


def test_a_held_point_with_a_release_file_goes_on_once_the_file_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held, release = tmp_path / "held", tmp_path / "release"
    release.touch()
    monkeypatch.setattr(faults, "_reached", {})
    monkeypatch.setenv(faults.HOLD_ENV, "receipt.landed-not-sent")
    monkeypatch.setenv(faults.HELD_FILE_ENV, str(held))
    monkeypatch.setenv(faults.RELEASE_FILE_ENV, str(release))
    waiting = threading.Thread(target=faults.reach, args=("receipt.landed-not-sent",))
    waiting.start()
    wait_for(held.exists, timeout=5)
    assert waiting.is_alive()

    release.unlink()

    waiting.join(timeout=5)
    assert not waiting.is_alive()
