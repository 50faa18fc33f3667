"""`dataspace serve` and `dataspace token` as an operator would use them: a real HTTP server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from dataspace.identity.uscc import make_uscc
from tests.helpers import DATASPACE, free_port, wait_for

pytestmark = pytest.mark.e2e


def environment(state_dir: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    return {**clean, "DATASPACE_STATE_DIR": str(state_dir)}


def cli(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def get(url: str, token: str | None = None) -> tuple[int, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


@dataclass
class Served:
    """`dataspace serve` on a node with an operator; ``stderr`` is what it printed, once stopped."""

    env: dict[str, str]
    port: int
    stderr: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def served(state_dir: Path) -> Iterator[Served]:
    env = environment(state_dir)
    cli(["operator", "init", "--name", "Hub", "--uscc", make_uscc("12320000MB0000001")], env)
    serving = Served(env, free_port())
    server = subprocess.Popen(
        [DATASPACE, "serve", "--port", str(serving.port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _answers(f"{serving.base}/health"), timeout=60)
        yield serving
    finally:
        server.send_signal(signal.SIGINT)
        _, serving.stderr = server.communicate(timeout=30)


def test_serve_answers_signed_requests_only(tmp_path: Path) -> None:
    with served(tmp_path) as serving:
        base = serving.base
        assert get(f"{base}/participants")[0] == 401

        token = cli(["token", "--as", "operator"], serving.env)
        status, body = get(f"{base}/participants", token)
        assert status == 200
        assert [p["participant_id"] for p in body] == ["operator"]  # type: ignore[attr-defined]

        assert _header_bytes_read_before_refusal(serving.port) < 1024 * 1024
        assert get(f"{base}/health")[0] == 200  # and it goes on serving


def test_serve_says_where_and_logs_each_request_without_its_secrets(tmp_path: Path) -> None:
    with served(tmp_path) as serving:
        token = cli(["token", "--as", "operator"], serving.env)
        status, _ = get(f"{serving.base}/participants?token=secret-in-the-query&limit=1", token)

    log = tmp_path / "logs" / "api-access.log"
    assert status == 200
    assert serving.stderr.splitlines()[0] == (
        f"Serving the API on {serving.base} (OpenAPI at /docs); access log: {log}"
    )
    text = log.read_text(encoding="utf-8")
    assert '"GET /participants?token=[redacted]&limit=1" 200 ' in text
    assert token not in text
    assert "secret-in-the-query" not in text
    assert log.stat().st_mode & 0o777 == 0o600


def _header_bytes_read_before_refusal(port: int) -> int:
    """How much of an endless header the server takes before it answers and closes.

    The client's send buffer is fixed small: left to autotune on loopback it grew to ~2.6 MB
    while a loaded server had not yet closed, and those bytes were counted as "taken"."""
    sent, chunk = 0, b"a" * 16384
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        conn.settimeout(10)
        conn.connect(("127.0.0.1", port))
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Huge: ")
        try:
            while sent < 16 * 1024 * 1024:
                conn.sendall(chunk)
                sent += len(chunk)
        except OSError:  # reset or broken pipe: the server stopped reading
            return sent
    return sent


def _answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except OSError:
        return False
