"""`serve --detach`, `subscribe --detach` and `stop`: a hub and connectors from one shell script.

Every command runs as a user types it (the `dataspace` executable, no DATASPACE_* variables of
this process). Each test owns its state directories and ports, and stops whatever it started
even when an assertion fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dataspace.identity.uscc import make_uscc
from dataspace.stack.process import PidFile, is_alive, stop_group
from tests.helpers import DATASPACE, free_port, wait_for

pytestmark = pytest.mark.e2e

OPERATOR_USCC = "12320000MB0000001D"
SUPPLIER_USCC = make_uscc(f"9132050{1:010d}")


def dataspace(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    done = dataspace(*args)
    assert done.returncode == 0, done.stderr
    return done


def health(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0).status_code
    except httpx.HTTPError:
        return None


def pid_in(path: Path) -> int:
    running = PidFile(path).running()
    assert running is not None, f"{path} names no running process"
    return running.pid


def processes_on(state: Path) -> list[int]:
    """Live processes whose command line names ``state``: what a test could leave behind."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and str(state).encode() in cmdline and is_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def one_sentence(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


@pytest.fixture
def hub_state(tmp_path: Path) -> Iterator[Path]:
    """An initialized hub; whatever a test leaves running under it is stopped afterwards."""
    state = tmp_path / "hub"
    ok("hub", "--state", str(state), "init", "--name", "X", "--uscc", OPERATOR_USCC,
       "--region", "CN-JS")  # fmt: skip
    yield state
    _stop_leftovers(tmp_path)


def _stop_leftovers(root: Path) -> None:
    for path in root.glob("*/run/*.pid"):
        running = PidFile(path).running()
        if running is not None:
            stop_group(running.pid)


def serve_hub(state: Path, port: int) -> subprocess.CompletedProcess[str]:
    return dataspace("hub", "--state", str(state), "serve", "--detach", "--port", str(port))


# -- hub ------------------------------------------------------------------------------------


def test_hub_serve_detach_returns_when_healthy_and_stop_stops_it(hub_state: Path) -> None:
    port = free_port()
    done = serve_hub(hub_state, port)
    assert done.returncode == 0, done.stderr
    assert f"http://127.0.0.1:{port}" in done.stdout
    assert health(port) == 200  # already ready when the command returned
    pid = pid_in(hub_state / "run" / "hub.pid")
    served = (hub_state / "logs" / "hub.log").read_text(encoding="utf-8")
    assert f"Serving the hub API on http://127.0.0.1:{port}" in served

    stopped = ok("hub", "--state", str(hub_state), "stop")
    assert f"pid {pid}" in stopped.stdout
    assert not is_alive(pid)
    assert not (hub_state / "run" / "hub.pid").exists()
    assert health(port) is None


def test_a_second_detach_is_refused_and_starts_nothing(hub_state: Path) -> None:
    port = free_port()
    assert serve_hub(hub_state, port).returncode == 0
    first = pid_in(hub_state / "run" / "hub.pid")

    again = serve_hub(hub_state, free_port())
    assert again.returncode == 4
    assert "already runs" in one_sentence(again)
    assert pid_in(hub_state / "run" / "hub.pid") == first
    assert processes_on(hub_state) == [first]


def test_stop_with_nothing_running_says_so(hub_state: Path) -> None:
    done = ok("hub", "--state", str(hub_state), "stop")
    assert "Nothing was running" in done.stdout


def test_a_port_in_use_fails_clearly_and_leaves_nothing(hub_state: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = serve_hub(hub_state, port)
    assert done.returncode == 6
    assert f"Port {port}" in one_sentence(done)
    assert not (hub_state / "run" / "hub.pid").exists()
    assert processes_on(hub_state) == []


def test_a_child_that_exits_during_start_up_is_named_with_its_log(hub_state: Path) -> None:
    # Bound but not listening: the pre-check cannot see it, the child fails to bind.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        done = serve_hub(hub_state, port)
    assert done.returncode == 6
    assert str(hub_state / "logs" / "hub.log") in one_sentence(done)
    assert not (hub_state / "run" / "hub.pid").exists()
    assert processes_on(hub_state) == []


# -- connector ------------------------------------------------------------------------------


def test_connector_stop_with_nothing_running_says_so(tmp_path: Path) -> None:
    done = ok("connector", "stop", "--state", str(tmp_path / "connector"))
    assert "Nothing was running" in done.stdout


def test_subscribe_detach_with_once_is_refused(tmp_path: Path) -> None:
    done = dataspace("connector", "subscribe", "--state", str(tmp_path), "--detach", "--once")
    assert done.returncode == 2
    assert "--once" in one_sentence(done)
    assert not (tmp_path / "run" / "subscribe.pid").exists()


@pytest.fixture
def connector_state(hub_state: Path) -> Path:
    """A supplier's connector registered with a hub running in the background. Its store and
    broker are unreachable addresses: starting and stopping needs neither."""
    hub_port = free_port()
    assert serve_hub(hub_state, hub_port).returncode == 0
    state = hub_state.parent / "supplier"
    ok("connector", "init", "--state", str(state), "--hub", f"http://127.0.0.1:{hub_port}",
       "--id", "sup-1", "--name", "S", "--uscc", SUPPLIER_USCC, "--role", "supplier",
       "--region", "CN-JS", "--s3-endpoint", f"http://127.0.0.1:{free_port()}",
       "--s3-access-key", "unused", "--s3-secret-key", "unused",
       "--bucket", "sup-1-releases", "--kafka", f"127.0.0.1:{free_port()}")  # fmt: skip
    return state


def test_connector_serve_and_subscribe_detach_then_stop(connector_state: Path) -> None:
    state = str(connector_state)
    port = free_port()
    served = ok("connector", "serve", "--state", state, "--port", str(port), "--detach")
    assert f"http://127.0.0.1:{port}" in served.stdout
    assert health(port) == 200
    ok("connector", "subscribe", "--state", state, "--detach")
    serve_pid = pid_in(connector_state / "run" / "serve.pid")
    agent_pid = pid_in(connector_state / "run" / "subscribe.pid")
    assert sorted(processes_on(connector_state)) == sorted([serve_pid, agent_pid])

    again = dataspace("connector", "serve", "--state", state, "--port", str(port), "--detach")
    assert again.returncode == 4
    assert "already runs" in one_sentence(again)

    stopped = ok("connector", "stop", "--state", state)
    assert f"pid {serve_pid}" in stopped.stdout
    assert f"pid {agent_pid}" in stopped.stdout
    wait_for(lambda: processes_on(connector_state) == [], timeout=5)
    assert list((connector_state / "run").glob("*.pid")) == []
    assert health(port) is None


# -- access logs ----------------------------------------------------------------------------

SECRET_TOKEN = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"
SECRET_QUERY = "query-secret-0123456789"


def secret_request(port: int, path: str) -> int:
    """A request carrying a bearer token and a ``token=`` in its query string; its status."""
    url = f"http://127.0.0.1:{port}{path}?limit=5&token={SECRET_QUERY}"
    headers = {"Authorization": f"Bearer {SECRET_TOKEN}"}
    return httpx.get(url, headers=headers, timeout=5.0).status_code


def logged_request(log: Path, path: str) -> str:
    """The access-log line of ``GET path``, once it is written."""

    def line() -> str | None:
        text = log.read_text(encoding="utf-8") if log.exists() else ""
        return next((entry for entry in text.splitlines() if f"GET {path}?" in entry), None)

    return wait_for(line, timeout=10)


def assert_no_secret(log: Path) -> None:
    text = log.read_text(encoding="utf-8")
    assert SECRET_TOKEN not in text
    assert SECRET_QUERY not in text
    assert log.stat().st_mode & 0o777 == 0o600


def test_hub_serve_writes_an_access_log_without_secrets(hub_state: Path) -> None:
    port = free_port()
    done = serve_hub(hub_state, port)
    assert done.returncode == 0, done.stderr
    log = hub_state / "logs" / "hub-access.log"
    assert f"access log: {log}" in done.stdout

    status = secret_request(port, "/participants")
    line = logged_request(log, "/participants")

    assert status == 401
    assert '"GET /participants?limit=5&token=[redacted]" 401 ' in line
    assert line.split()[1].startswith("127.0.0.1:")  # the client
    assert line.endswith("ms")
    assert_no_secret(log)


def test_connector_serve_writes_an_access_log_without_secrets(connector_state: Path) -> None:
    port = free_port()
    state = str(connector_state)
    served = ok("connector", "serve", "--state", state, "--port", str(port), "--detach")
    log = connector_state / "logs" / "connector-access.log"
    assert f"access log: {log}" in served.stdout
    started = (connector_state / "logs" / "serve.log").read_text(encoding="utf-8")
    assert f"on http://127.0.0.1:{port} (OpenAPI at /docs); access log: {log}" in started

    status = secret_request(port, "/grants/dlv-unknown")

    assert f'"GET /grants/dlv-unknown?limit=5&token=[redacted]" {status} ' in logged_request(
        log, "/grants/dlv-unknown"
    )
    assert_no_secret(log)
