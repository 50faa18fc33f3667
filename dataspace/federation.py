"""Several parties on one machine: a hub and connectors, each its own process and directory.

``make demo`` and the end-to-end tests run a data space the way it is deployed: the hub
(``dataspace hub serve``) and every participant's connector (``dataspace connector ...``) are
separate OS processes with separate state directories and ports, that reach each other only
over HTTP, Kafka and presigned S3 URLs. :class:`Federation` starts them and runs commands as
each party would type them, with the `dataspace` command of this environment:

- every command is a child process whose environment carries no ``DATASPACE_*`` variable of
  this process: a connector learns everything from its own ``connector.json``, the hub from
  its state directory and the stack's addresses;
- a provider's connector gets its own S3 user and bucket on the embedded store
  (:func:`dataspace.stack.s3_users.ensure_s3_user`), which no other party's credentials reach;
- long-running processes (the hub, a provider's grant endpoint, a subscriber's agent) log to
  ``<root>/logs/<name>.log`` and are stopped by :meth:`Federation.close`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dataspace.background import answers_health, dataspace_command
from dataspace.closing import Closing
from dataspace.config import EMBEDDED_CONSUMER_TUNING, Settings
from dataspace.errors import DataspaceError, ServiceError
from dataspace.stack.ports import free_port

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0


class CommandFailed(DataspaceError):
    """A party's command exited non-zero; the message carries its exit code and stderr."""

    def __init__(self, args: list[str], code: int, stderr: str, stdout: str = "") -> None:
        super().__init__(f"`dataspace {' '.join(args)}` exited {code}: {stderr.strip()}")
        self.code = code
        self.stderr = stderr
        self.stdout = stdout  # a --json command says what failed here


@dataclass(frozen=True)
class Party:
    """One participant's connector: its id, its state directory and (providers) its port."""

    participant: str
    state: Path
    port: int | None = None

    @property
    def endpoint(self) -> str | None:
        return None if self.port is None else f"http://127.0.0.1:{self.port}"


@dataclass
class Federation(Closing):
    """A hub and connectors under ``root`` on the stack ``stack`` (see the module docstring)."""

    root: Path
    stack: Settings
    hub_port: int = field(default_factory=free_port)
    # Settings of the hub beyond the stack's addresses (DATASPACE_* names), e.g. its database
    # or its Kafka principal on a production-like stack.
    hub_settings: dict[str, str] = field(default_factory=dict)
    # Extra `connector init` options per participant (its own database, say).
    connector_options: Callable[[str], list[str]] = lambda _participant: []
    # A provider's own S3 user and bucket as `connector init` options; the embedded store's
    # by default (dataspace.stack.s3_users).
    own_store: Callable[[str], list[str]] | None = None
    parties: dict[str, Party] = field(default_factory=dict)
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def hub_state(self) -> Path:
        return self.root / "hub"

    @property
    def hub_url(self) -> str:
        return f"http://127.0.0.1:{self.hub_port}"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    # -- environments -----------------------------------------------------------------------

    def hub_environment(self) -> dict[str, str]:
        """The hub's process: its own state directory, the stack's broker and store."""
        s3 = self.stack.s3()
        return {
            **clean_environment(),
            "DATASPACE_STATE_DIR": str(self.hub_state),
            "DATASPACE_KAFKA_BOOTSTRAP_SERVERS": self.stack.bootstrap_servers,
            "DATASPACE_S3_ENDPOINT": s3.url,
            "DATASPACE_S3_ACCESS_KEY": s3.access_key,
            "DATASPACE_S3_SECRET_KEY": s3.secret_key.get_secret_value(),
            **self.hub_settings,
        }

    # -- commands ---------------------------------------------------------------------------

    def run(self, args: list[str], env: dict[str, str], *, check: bool = True) -> Any:
        """Run ``dataspace args --json``; its JSON output, or CommandFailed."""
        done = subprocess.run(
            dataspace_command(*args, "--json"), env=env, capture_output=True, check=False
        )
        if done.returncode != 0:
            failed = CommandFailed(
                args,
                done.returncode,
                done.stderr.decode(errors="replace"),
                done.stdout.decode(errors="replace"),
            )
            if check:
                raise failed
            return failed
        text = done.stdout.decode()
        return json.loads(text) if text.strip() else None

    def operator(self, *args: str, check: bool = True) -> Any:
        """A command the operator runs on the hub's machine (on the hub's state directory)."""
        return self.run(list(args), self.hub_environment(), check=check)

    def connector(self, party: Party | str, *args: str, check: bool = True) -> Any:
        """A command a participant runs on its own machine (on its connector's directory)."""
        party = self.parties[party] if isinstance(party, str) else party
        environment = {**clean_environment(), "DATASPACE_CONNECTOR_STATE": str(party.state)}
        return self.run(["connector", *args], environment, check=check)

    # -- parties ----------------------------------------------------------------------------

    def start_hub(self, *, name: str, uscc: str, region: str = "CN-JS") -> str:
        """Set up the hub (its operator key) and serve its API; its URL."""
        self.operator("hub", "init", "--name", name, "--uscc", uscc, "--region", region)
        self.serve_hub()
        return self.hub_url

    def serve_hub(self) -> None:
        """Start (or start again) the hub's API on its port."""
        self.spawn(
            "hub",
            ["hub", "serve", "--port", str(self.hub_port)],
            self.hub_environment(),
            ready=self.hub_url,
        )

    def join(
        self,
        participant: str,
        *,
        name: str,
        uscc: str,
        roles: tuple[str, ...],
        region: str = "CN-JS",
        chains: tuple[str, ...] = (),
        provider: bool = False,
        served: bool = False,
        directory: Path | None = None,
    ) -> Party:
        """``connector init`` on the participant's own directory (``directory``, default
        ``<root>/<participant>``); providers get an endpoint and their own S3 user and bucket,
        ``served`` consumers an endpoint (for the Dataspace Protocol's callbacks)."""
        state = directory or self.root / participant
        party = Party(participant, state, free_port() if provider or served else None)
        args = ["init", "--hub", self.hub_url, "--id", participant, "--name", name]
        args += ["--uscc", uscc, "--region", region, "--kafka", self.stack.bootstrap_servers]
        if self.stack.kafka_embedded:  # the embedded broker's consumer tuning (DESIGN §5)
            for option, value in EMBEDDED_CONSUMER_TUNING.items():
                args += ["--kafka-option", f"{option}={value}"]
        for role in roles:
            args += ["--role", role]
        for chain in chains:
            args += ["--chain", chain]
        args += self.connector_options(participant)
        if provider:
            if self.own_store is not None:
                args += self.own_store(participant)
            else:
                args += _embedded_store(participant, self.stack)
            args += ["--endpoint", party.endpoint or ""]
        elif served:
            args += ["--endpoint", party.endpoint or ""]
        self.connector(party, *args)
        self.parties.setdefault(participant, party)
        return party

    # -- long-running processes -------------------------------------------------------------

    def serve(self, party: Party | str) -> None:
        """Start a connector's service (grants, the Dataspace Protocol)."""
        party = self.parties[party] if isinstance(party, str) else party
        env = {**clean_environment(), "DATASPACE_CONNECTOR_STATE": str(party.state)}
        self.spawn(
            f"{party.participant}-serve",
            ["connector", "serve", "--port", str(party.port)],
            env,
            ready=party.endpoint,
        )

    def subscribe(self, party: Party | str) -> None:
        """Start a subscriber connector's delivery agent."""
        party = self.parties[party] if isinstance(party, str) else party
        env = {**clean_environment(), "DATASPACE_CONNECTOR_STATE": str(party.state)}
        self.spawn(f"{party.participant}-agent", ["connector", "subscribe"], env)

    def spawn(
        self, name: str, args: list[str], env: dict[str, str], *, ready: str | None = None
    ) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as log:
            self._processes[name] = subprocess.Popen(
                dataspace_command(*args), env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        if ready is not None:
            self._wait_ready(name, ready)

    def _wait_ready(self, name: str, base_url: str) -> None:
        ready = answers_health(base_url)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._processes[name].poll() is not None:
                raise ServiceError(f"{name} exited at start; see {self.logs / name}.log.")
            if ready():
                return
            time.sleep(0.1)
        raise ServiceError(f"{name} did not answer at {base_url} within {START_TIMEOUT_SECONDS} s.")

    def pid(self, name: str) -> int:
        return self._processes[name].pid

    def running(self, name: str) -> bool:
        process = self._processes.get(name)
        return process is not None and process.poll() is None

    def stop(self, name: str) -> None:
        """Stop one process (SIGTERM, then SIGKILL), and forget it."""
        process = self._processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def close(self) -> None:
        for name in list(self._processes):
            self.stop(name)


def _embedded_store(participant: str, stack: Settings) -> list[str]:
    from dataspace.stack.s3_users import ensure_s3_user  # noqa: PLC0415

    own = ensure_s3_user(stack, participant)
    return [
        "--s3-endpoint", own.s3.url, "--s3-access-key", own.access_key,
        "--s3-secret-key", own.secret_key.get_secret_value(),
        "--bucket", f"{participant}-releases",
    ]  # fmt: skip


def clean_environment() -> dict[str, str]:
    """This process's environment without its DATASPACE_* settings: a party's command
    learns its settings from its own directory, never from whoever started it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    env["COLUMNS"] = "200"
    return env
