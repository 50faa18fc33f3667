"""`up`, `down` and `status` of the embedded stack, with real processes."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import threading
from pathlib import Path

import pytest

import dataspace.stack.stack
from dataspace.adapters.s3 import ensure_bucket, minio_client
from dataspace.config import Settings, load_settings
from dataspace.errors import ServiceError
from dataspace.stack.process import is_alive
from dataspace.stack.stack import Stack
from tests.fixtures.stack import embedded_settings
from tests.helpers import free_port

pytestmark = pytest.mark.integration


def states(stack: Stack) -> dict[str, str]:
    return {status.name: status.state for status in stack.status()}


def all_pids(stack: Stack) -> set[int]:
    return {pid for status in stack.status() for pid in status.pids}


def test_lifecycle_up_twice_down_twice_and_data_survives(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "state")
    stack = Stack(settings)
    try:
        stack.up()
        pids = all_pids(stack)
        assert len(pids) == 7, "one broker and six Swift processes"
        assert states(stack) == {"kafka": "running", "object-store": "running", "database": "file"}

        stack.up()  # a second `up` leaves the healthy stack alone
        assert all_pids(stack) == pids

        client = minio_client(settings.s3())
        ensure_bucket(client, "survivor")
        client.put_object("survivor", "kept.txt", io.BytesIO(b"kept"), 4)

        assert set(stack.down()) >= {"kafka", "swift-proxy-server", "swift-object-expirer"}
        assert not any(is_alive(pid) for pid in pids)
        assert states(stack)["kafka"] == "stopped"
        assert states(stack)["object-store"] == "stopped"
        assert stack.down() == []  # safe to run twice

        stack.up()
        assert client.get_object("survivor", "kept.txt").read() == b"kept"
    finally:
        stack.down()
    assert list((tmp_path / "state" / "run").glob("*.pid")) == []


def test_a_port_in_use_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        busy_port = squatter.getsockname()[1]
        settings = load_settings(
            state_dir=tmp_path / "state", kafka_port=busy_port, s3_port=busy_port + 100
        )
        stack = Stack(settings)
        with pytest.raises(ServiceError, match=f"Port {busy_port} .* DATASPACE_KAFKA_PORT"):
            stack.up()
    assert all_pids(stack) == set()
    assert list((tmp_path / "state" / "run").glob("*.pid")) == []


def test_a_failure_midway_stops_what_this_up_started(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "state")
    # The broker starts, then the object store cannot: its account-server port is taken.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.s3_port + 3))
        squatter.listen()
        stack = Stack(settings)
        with pytest.raises(ServiceError, match="DATASPACE_S3_PORT"):
            stack.up()
    assert states(stack)["kafka"] == "stopped"
    assert all_pids(stack) == set()


def test_external_services_are_used_and_never_started(
    stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = stack_settings.s3()
    monkeypatch.setenv("DATASPACE_KAFKA_BOOTSTRAP_SERVERS", stack_settings.bootstrap_servers)
    monkeypatch.setenv("DATASPACE_S3_ENDPOINT", s3.url)
    monkeypatch.setenv("DATASPACE_S3_ACCESS_KEY", s3.access_key)
    monkeypatch.setenv("DATASPACE_S3_SECRET_KEY", s3.secret_key.get_secret_value())
    external = load_settings(state_dir=tmp_path / "external")
    stack = Stack(external)

    assert stack.embedded() == []
    statuses = {status.name: status for status in stack.up()}
    assert statuses["kafka"].state == "external"
    assert statuses["object-store"].state == "external"
    assert not (tmp_path / "external" / "run").exists() or not list(
        (tmp_path / "external" / "run").glob("*.pid")
    )
    assert stack.down() == []
    # down must not have touched the services it does not own
    assert states(Stack(stack_settings))["kafka"] == "running"


def test_an_unreachable_external_service_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("DATASPACE_KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    monkeypatch.setenv("DATASPACE_DATABASE_URL", f"postgresql+psycopg2://nobody@127.0.0.1:{port}/x")
    stack = Stack(
        load_settings(
            state_dir=tmp_path / "s",
            s3_endpoint="http://127.0.0.1:1",
            s3_access_key="a",
            s3_secret_key="b",
        )
    )
    statuses = {status.name: status for status in stack.status()}
    assert statuses["kafka"].state == "unreachable"
    assert statuses["object-store"].state == "unreachable"
    assert statuses["database"].state == "unreachable"
    assert os.fspath(tmp_path) not in statuses["database"].endpoint


@pytest.mark.postgres
def test_an_external_postgresql_is_reported_reachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = os.environ.get("DATASPACE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set DATASPACE_TEST_POSTGRES_URL to a PostgreSQL URL to run this test")
    monkeypatch.setenv("DATASPACE_DATABASE_URL", url)
    statuses = {s.name: s for s in Stack(load_settings(state_dir=tmp_path)).status()}
    assert statuses["database"].state == "external"
    assert statuses["database"].detail == ""


def test_status_waits_out_a_stall_but_reports_a_hung_service_degraded(
    stack_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = stack_settings.s3()
    monkeypatch.setenv("DATASPACE_S3_ENDPOINT", s3.url)
    monkeypatch.setenv("DATASPACE_S3_ACCESS_KEY", s3.access_key)
    monkeypatch.setenv("DATASPACE_S3_SECRET_KEY", s3.secret_key.get_secret_value())
    settings = load_settings(state_dir=tmp_path / "state", kafka_port=free_port())
    stack = Stack(settings)  # only the broker is embedded
    monkeypatch.setattr(dataspace.stack.stack, "STATUS_PROBE_SECONDS", 4.0)
    try:
        stack.up()
        (broker_pid,) = all_pids(stack)
        os.kill(broker_pid, signal.SIGSTOP)
        resume = threading.Timer(1.5, os.kill, (broker_pid, signal.SIGCONT))
        resume.start()
        assert states(stack)["kafka"] == "running", "a 1.5 s stall is not a sick broker"
        resume.join()

        os.kill(broker_pid, signal.SIGSTOP)
        (kafka,) = [status for status in stack.status() if status.name == "kafka"]
        assert kafka.state == "degraded"
        assert "not answering health checks" in kafka.detail
        assert str(settings.logs_dir.resolve()) in kafka.detail
    finally:
        with contextlib.suppress(ProcessLookupError, ValueError, UnboundLocalError):
            os.kill(broker_pid, signal.SIGCONT)
        stack.down()
