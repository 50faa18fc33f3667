"""`dataspace up | down | status`: the embedded stack as a whole.

Only services whose address is not configured are embedded; an external Kafka, S3 or
PostgreSQL is checked, never started or stopped. ``up`` is idempotent (a healthy service is
left alone) and all-or-nothing (a failure stops whatever this call started). ``down`` stops
only processes that a pid file says ``up`` started, and is safe to run twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dataspace.config import Settings
from dataspace.errors import ServiceError
from dataspace.private_paths import private_directory
from dataspace.stack import airflow, swift, tansu
from dataspace.stack.components import Component, Service
from dataspace.stack.probes import database_reachable, kafka_reachable, s3_reachable
from dataspace.stack.process import PidFile, is_alive, port_in_use, spawn, stop_group, wait_until

# A process that crashes while loading its configuration does so within this time.
SETTLE_SECONDS = 1.0
# A service that answered once may miss a probe while its other processes are still importing
# (Airflow's scheduler and DAG processor start next to the API server): give it this long.
HEALTH_GRACE_SECONDS = 30.0
# `status` calls a service degraded only when it misses every probe for this long: one slow
# answer from a busy machine is not a sick service.
STATUS_PROBE_SECONDS = 10.0
PORT_SETTING = {
    "kafka": "DATASPACE_KAFKA_PORT",
    "object-store": "DATASPACE_S3_PORT",
    "airflow": "DATASPACE_AIRFLOW_PORT",
}


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    label: str
    endpoint: str
    state: str  # running | stopped | degraded | external | unreachable
    pids: tuple[int, ...] = ()
    detail: str = ""


class Stack:
    """The services of one state directory."""

    def __init__(self, settings: Settings, *, with_airflow: bool = False) -> None:
        self.settings = settings
        self.with_airflow = with_airflow
        self.run_dir = settings.state_dir / "run"
        self.logs_dir = settings.logs_dir

    def embedded(self) -> list[Service]:
        services = []
        if self.settings.kafka_embedded:
            services.append(tansu.service(self.settings))
        if self.settings.s3_embedded:
            services.append(swift.service(self.settings))
        if self.with_airflow or self._airflow_started():
            services.append(airflow.service(self.settings))
        return services

    def _airflow_started(self) -> bool:
        """Airflow is part of the stack when asked for, or when an earlier `up` started it."""
        service = airflow.service(self.settings)
        return any(self.pid_file(c).path.exists() for c in service.components)

    def pid_file(self, component: Component) -> PidFile:
        return PidFile(self.run_dir / f"{component.name}.pid")

    def log_path(self, component: Component) -> Path:
        return self.logs_dir / f"{component.name}.log"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize `up` and `down` on one state directory."""
        # The embedded services keep their data (the object store's releases) below it.
        private_directory(self.settings.state_dir, ours=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with (self.run_dir / "stack.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    # -- up ---------------------------------------------------------------------------

    def up(self) -> list[ServiceStatus]:
        started: list[tuple[Component, int]] = []
        with self.locked():
            try:
                for service in self.embedded():
                    self._up_service(service, started)
            except BaseException:
                for component, pid in reversed(started):
                    stop_group(pid)
                    self.pid_file(component).remove()
                raise
        return self.status()

    def _up_service(self, service: Service, started: list[tuple[Component, int]]) -> None:
        running = [self.pid_file(c).running() for c in service.components]
        if all(running) and service.healthy():
            return
        self._stop_service(service)  # a partial or sick service is restarted whole
        self._check_ports(service)
        service.prepare()
        env = dict(os.environ)
        # Start every process first and wait afterwards: each takes seconds to import.
        for component in service.components:
            pid = spawn(
                component.argv(),
                log_path=self.log_path(component),
                cwd=self.logs_dir,
                env={**env, **component.env},
            )
            self.pid_file(component).write(pid)
            started.append((component, pid))
        pids = dict(started)
        for component in service.components:
            wait_until(
                component.ready,
                pid=pids[component],
                timeout=component.start_timeout,
                what=component.label,
                log_path=self.log_path(component),
            )
        time.sleep(SETTLE_SECONDS)
        for component in service.components:
            if not is_alive(pids[component]):
                raise ServiceError(
                    f"{component.label} exited during start-up; "
                    f"its log is at {self.log_path(component)}."
                )
        if not _healthy_within(service, HEALTH_GRACE_SECONDS):
            logs = ", ".join(str(self.log_path(component)) for component in service.components)
            raise ServiceError(
                f"The {service.label} started but does not answer health checks; see {logs}."
            )

    def _check_ports(self, service: Service) -> None:
        for component in service.components:
            if component.port and port_in_use("127.0.0.1", component.port):
                raise ServiceError(
                    f"Port {component.port} on 127.0.0.1 is already in use by another "
                    f"program, so the {service.label} cannot start; stop that program or "
                    f"set {PORT_SETTING[service.name]} to a free port."
                )

    # -- down -------------------------------------------------------------------------

    def down(self) -> list[str]:
        """Stop every process `up` started; return the names of those that were running."""
        stopped: list[str] = []
        with self.locked():
            for service in reversed(self.embedded()):  # Airflow first: it uses the others
                stopped += self._stop_service(service)
        return stopped

    def _stop_service(self, service: Service) -> list[str]:
        stopped = []
        for component in reversed(service.components):
            pid_file = self.pid_file(component)
            running = pid_file.running()
            if running is not None:
                stop_group(running.pid)
                stopped.append(component.name)
            pid_file.remove()
        return stopped

    # -- status -----------------------------------------------------------------------

    def status(self) -> list[ServiceStatus]:
        statuses = [self._embedded_status(service) for service in self.embedded()]
        statuses += self._external_statuses()
        return statuses

    def _embedded_status(self, service: Service) -> ServiceStatus:
        running = {c.name: self.pid_file(c).running() for c in service.components}
        pids = tuple(r.pid for r in running.values() if r is not None and is_alive(r.pid))
        if not pids:
            return ServiceStatus(service.name, service.label, service.endpoint, "stopped")
        missing = [name for name, r in running.items() if r is None]
        if missing:
            detail = f"not running: {', '.join(missing)}"
        elif not _healthy_within(service, STATUS_PROBE_SECONDS):
            detail = f"running but not answering health checks for {STATUS_PROBE_SECONDS:.0f} s"
        else:
            return ServiceStatus(service.name, service.label, service.endpoint, "running", pids)
        logs = self.logs_dir.resolve()
        return ServiceStatus(
            service.name,
            service.label,
            service.endpoint,
            "degraded",
            pids,
            f"{detail}; logs in {logs}",
        )

    def _external_statuses(self) -> list[ServiceStatus]:
        settings = self.settings
        database = settings.effective_database_url
        checks: list[tuple[str, str, str, Callable[[], str | None]]] = []
        if not settings.kafka_embedded:
            checks.append(
                (
                    "kafka",
                    "Kafka broker",
                    settings.bootstrap_servers,
                    lambda: kafka_reachable(settings),
                )
            )
        if not settings.s3_embedded:
            checks.append(
                (
                    "object-store",
                    "S3 object store",
                    str(settings.s3_endpoint),
                    lambda: s3_reachable(settings),
                )
            )
        checks.append(
            (
                "database",
                "Control-plane database",
                _redact(database),
                lambda: database_reachable(database),
            )
        )
        statuses = []
        for name, label, endpoint, probe in checks:
            problem = probe()
            healthy = "file" if name == "database" and settings.database_embedded else "external"
            state = "unreachable" if problem else healthy
            statuses.append(ServiceStatus(name, label, endpoint, state, (), problem or ""))
        return statuses


def _redact(url: str) -> str:
    """A database URL without its password, fit to print."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 (an unparsable URL is shown only as its scheme)
        return url.split(":", 1)[0] + ":…"


def _healthy_within(service: Service, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not service.healthy():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)
    return True
