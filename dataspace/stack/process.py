"""Supervised background processes: started detached, tracked by pid files, stopped by group.

A pid file records the pid *and* the process's start time, so a pid that the kernel reused
for an unrelated program is never mistaken for ours and never signalled. Every process runs
in its own session (its own process group), so stopping it also stops any worker it forked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dataspace.errors import ServiceError

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Running:
    """A process that a pid file says we started, and that is still alive."""

    pid: int
    started_at: float


def _proc_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # The command name (field 2) may contain spaces or parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[1].split()
    state, start_ticks = fields[0], int(fields[19])
    return None if state in ("Z", "X") else start_ticks


def _reap(pid: int) -> None:
    """Collect an exited child so it does not linger as a zombie (no-op for non-children)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


class PidFile:
    """The record of one process we started: where it is, and whether it is still ours."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, pid: int) -> None:
        ticks = _proc_start_ticks(pid)
        record = {"pid": pid, "start_ticks": ticks, "started_at": time.time()}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record), encoding="utf-8")
        tmp.replace(self.path)

    def running(self) -> Running | None:
        """The live process this file names, or None (a stale file is removed)."""
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            self.path.unlink(missing_ok=True)
            return None
        pid = int(record["pid"])
        _reap(pid)
        if _proc_start_ticks(pid) != record.get("start_ticks"):
            self.path.unlink(missing_ok=True)
            return None
        return Running(pid=pid, started_at=float(record.get("started_at", 0.0)))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def spawn(argv: Sequence[str], *, log_path: Path, cwd: Path, env: dict[str, str]) -> int:
    """Start ``argv`` detached in its own session, output appended to ``log_path``.

    posix_spawn gives a bare pid with no ``Popen`` object, so nothing in this process waits
    for, or warns about, a service that is meant to outlive it.
    """
    if not Path(argv[0]).is_file():
        raise ServiceError(f"Cannot start {argv[0]}: the program is not installed.")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    old_cwd = Path.cwd()
    os.chdir(cwd)  # posix_spawn has no cwd argument; the CLI is single-threaded here.
    try:
        return os.posix_spawn(argv[0], list(argv), env, file_actions=actions, setsid=True)
    except OSError as exc:
        raise ServiceError(f"Cannot start {argv[0]}: {exc.strerror}.") from exc
    finally:
        os.chdir(old_cwd)


def is_alive(pid: int) -> bool:
    """True while any thread of the process lives.

    A killed multi-threaded process shows its main thread as a zombie while its other threads
    are still exiting and holding its sockets; it is dead only when all of them are gone.
    """
    _reap(pid)
    if _proc_start_ticks(pid) is not None:
        return True
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    return any(_task_alive(task) for task in tasks)


def _task_alive(task: Path) -> bool:
    try:
        state = (task / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def stop_group(pid: int, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM the process group led by ``pid``; SIGKILL it if it outlives ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_alive(pid) and not _group_alive(pid):
                return
            time.sleep(POLL_SECONDS)
    log.warning("process group %s survived SIGKILL", pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A group whose only members are zombies still answers signal 0.
    return any(_member_alive(entry, pgid) for entry in Path("/proc").iterdir())


def _member_alive(entry: Path, pgid: int) -> bool:
    if not entry.name.isdigit():
        return False
    try:
        fields = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return False
    return int(fields[2]) == pgid and fields[0] not in ("Z", "X")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    ready: Callable[[], bool],
    *,
    pid: int,
    timeout: float,
    what: str,
    log_path: Path,
) -> None:
    """Poll ``ready`` until it holds; fail clearly if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise ServiceError(f"{what} exited during start-up; its log is at {log_path}.")
        if ready():
            return
        time.sleep(POLL_SECONDS)
    raise ServiceError(
        f"{what} did not become healthy within {timeout:.0f} s; its log is at {log_path}."
    )
