"""One long-running command run in the background: ``serve --detach``, ``subscribe --detach``.

The command is started again as a child process: the `dataspace` executable of this
environment, with this process's environment and working directory and the same arguments
minus ``--detach``, in its own session. Its output goes to ``<state>/logs/<name>.log``, its pid
to ``<state>/run/<name>.pid``. :meth:`Background.start` returns only once the child is ready,
and leaves nothing running when it is not; :meth:`Background.stop` stops only the process its
pid file names. The supervision itself (pid files that survive pid reuse, stopping a whole
process group) is :mod:`dataspace.stack.process`, which also runs the embedded stack.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from dataspace.errors import Conflict, ServiceError
from dataspace.stack.process import PidFile, Running, port_in_use, spawn, stop_group, wait_until

log = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 60.0
# A process without an HTTP endpoint counts as ready once it has lived this long: time to
# import, read its settings and open its state, which is where a misconfigured one exits.
GRACE_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 1.0
# Where a client reaches a server that listens on every address.
LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # noqa: S104


def dataspace_command(*args: str) -> list[str]:
    """``args`` as a command line of the `dataspace` executable of this environment."""
    return [str(Path(sys.executable).parent / "dataspace"), *args]


def url_of(host: str, port: int) -> str:
    """The base URL a client on this machine reaches a server listening on ``host:port`` at."""
    reach = LOOPBACK.get(host, host)
    return f"http://[{reach}]:{port}" if ":" in reach else f"http://{reach}:{port}"


def answers_health(base_url: str) -> Callable[[], bool]:
    """A readiness check: ``GET base_url/health`` answers 200."""

    def ready() -> bool:
        try:
            probe = httpx.get(f"{base_url}/health", timeout=PROBE_TIMEOUT_SECONDS, trust_env=False)
        except httpx.HTTPError:
            return False
        return probe.is_success

    return ready


@dataclass(frozen=True)
class Background:
    """The background process ``name`` (hub, serve, subscribe) of one state directory.

    ``label`` names it in messages ("The hub's API server"); ``stop_command`` is what a user
    types to stop it. Start and stop on one state directory are serialized by a lock file.
    """

    state_dir: Path
    name: str
    label: str
    stop_command: str

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def pid_file(self) -> PidFile:
        return PidFile(self.run_dir / f"{self.name}.pid")

    @property
    def log_path(self) -> Path:
        return self.state_dir / "logs" / f"{self.name}.log"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.run_dir / f"{self.name}.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def running(self) -> Running | None:
        return self.pid_file.running()

    def start(
        self,
        argv: Sequence[str],
        *,
        ready: Callable[[], bool] | None = None,
        listens_on: tuple[str, int] | None = None,
        timeout: float = START_TIMEOUT_SECONDS,
    ) -> int:
        """Start ``argv`` in the background and wait until ``ready`` holds (or, without a
        check, until it has outlived a short grace period); its pid.

        Raises Conflict if this process already runs, ServiceError if ``listens_on`` is taken
        or the child exits or is not ready in time (then nothing of it is left running).
        """
        with self._locked():
            self._refuse_if_running()
            if listens_on is not None:
                self._refuse_if_taken(*listens_on)
            pid = spawn(argv, log_path=self.log_path, cwd=Path.cwd(), env=dict(os.environ))
            try:
                self.pid_file.write(pid)
                self._wait_ready(pid, ready, timeout)
            except BaseException:
                stop_group(pid)
                self.pid_file.remove()
                raise
        log.info("%s started in the background", self.name, extra={"pid": pid})
        return pid

    def _refuse_if_running(self) -> None:
        running = self.running()
        if running is not None:
            raise Conflict(
                f"{self.label} already runs in the background (pid {running.pid}); "
                f"stop it first with `{self.stop_command}`."
            )

    def _refuse_if_taken(self, host: str, port: int) -> None:
        if port_in_use(LOOPBACK.get(host, host), port):
            raise ServiceError(
                f"Port {port} on {host} is already in use by another program, so "
                f"{self.label[0].lower()}{self.label[1:]} cannot start; stop that program or "
                "choose another --port."
            )

    def _wait_ready(self, pid: int, ready: Callable[[], bool] | None, timeout: float) -> None:
        if ready is None:
            settled = time.monotonic() + GRACE_SECONDS
            ready = lambda: time.monotonic() >= settled  # noqa: E731
        wait_until(ready, pid=pid, timeout=timeout, what=self.label, log_path=self.log_path)

    def stop(self) -> int | None:
        """Stop the process the pid file names (SIGTERM, then SIGKILL); its pid, or None if
        nothing was running. Safe to call twice."""
        if not self.run_dir.is_dir():
            return None
        with self._locked():
            running = self.running()
            if running is not None:
                stop_group(running.pid)
            self.pid_file.remove()
        if running is None:
            return None
        log.info("%s stopped", self.name, extra={"pid": running.pid})
        return running.pid
