"""Process supervision with real (tiny) processes: pid files, group stop, start failures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dataspace.errors import ServiceError
from dataspace.stack.process import PidFile, is_alive, spawn, stop_group, wait_until


def sh(script: str, tmp_path: Path) -> int:
    return spawn(
        ["/bin/sh", "-c", script], log_path=tmp_path / "p.log", cwd=tmp_path, env=dict(os.environ)
    )


def test_stop_group_also_stops_forked_children(tmp_path: Path) -> None:
    leader = sh("sleep 60 & echo $! > child.pid; wait", tmp_path)
    child_file = tmp_path / "child.pid"

    def child_written() -> bool:  # the redirection creates the file before echo writes it
        return child_file.exists() and child_file.read_text().endswith("\n")

    wait_until(child_written, pid=leader, timeout=30, what="t", log_path=tmp_path / "p.log")
    child = int(child_file.read_text())
    assert is_alive(child)

    stop_group(leader)
    assert not is_alive(leader)
    assert not is_alive(child)


def test_pid_file_ignores_a_pid_that_now_belongs_to_someone_else(tmp_path: Path) -> None:
    pid_file = PidFile(tmp_path / "x.pid")
    pid = sh("sleep 60", tmp_path)
    pid_file.write(pid)
    assert pid_file.running() is not None

    # Same pid, different start time: what a reused pid looks like.
    record = pid_file.path.read_text().replace('"start_ticks": ', '"start_ticks": 1')
    pid_file.path.write_text(record)
    assert pid_file.running() is None
    assert not pid_file.path.exists()
    stop_group(pid)


def test_a_process_that_dies_during_start_up_names_its_log(tmp_path: Path) -> None:
    pid = sh("echo boom; exit 3", tmp_path)
    with pytest.raises(ServiceError, match=r"exited during start-up; its log is at .*p\.log"):
        wait_until(
            lambda: False, pid=pid, timeout=10, what="The thing", log_path=tmp_path / "p.log"
        )
    assert "boom" in (tmp_path / "p.log").read_text()


def test_a_process_that_never_gets_healthy_times_out(tmp_path: Path) -> None:
    pid = sh("sleep 60", tmp_path)
    try:
        with pytest.raises(ServiceError, match="did not become healthy within 1 s"):
            wait_until(lambda: False, pid=pid, timeout=1, what="The thing", log_path=tmp_path)
    finally:
        stop_group(pid)


def test_a_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match="not installed"):
        spawn([str(tmp_path / "nope")], log_path=tmp_path / "l", cwd=tmp_path, env={})
