"""The access log's line: what a request was, never what secret it carried."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dataspace.access_log import AccessLogFile, AccessLogMiddleware, redacted_target


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        (b"", "/x"),
        (b"limit=5", "/x?limit=5"),
        (b"token=abc&limit=5", "/x?token=[redacted]&limit=5"),
        (b"access_token=abc", "/x?access_token=[redacted]"),
        (b"X-Amz-Signature=abc&X-Amz-Credential=k%2F1", "/x?X-Amz-Signature=[redacted]&"
         "X-Amz-Credential=[redacted]"),
        (b"a=%0aforged", "/x?a=%0Aforged"),
    ],
)  # fmt: skip
def test_secret_parameters_are_redacted(query: bytes, shown: str) -> None:
    assert redacted_target("/x", query) == shown


async def _answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _fail(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("a bug")


def _request(app: Any, path: str, query: bytes, lines: list[str] | None = None) -> list[str]:
    lines = [] if lines is None else lines
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query,
        "client": ("10.0.0.7", 5123),
        "headers": [(b"authorization", b"Bearer the-token")],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        pass

    asyncio.run(AccessLogMiddleware(app, lines.append)(scope, receive, send))
    return lines


def test_one_line_per_request_without_the_authorization_header() -> None:
    (line,) = _request(_answer, "/grants/dlv-1", b"token=the-token")

    assert ' 10.0.0.7:5123 "GET /grants/dlv-1?token=[redacted]" 204 ' in line
    assert "the-token" not in line
    assert line.endswith("ms")


def test_a_request_the_app_failed_on_is_logged_as_500() -> None:
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="a bug"):  # the server still sees the bug
        _request(_fail, "/x", b"", lines)

    (line,) = lines
    assert '"GET /x" 500 ' in line


def test_a_newline_in_the_path_cannot_forge_a_line() -> None:
    (line,) = _request(_answer, '/x\n2026-01-01T00:00:00Z 1.2.3.4:1 "GET /admin" 200', b"")

    assert "\n" not in line
    assert "/x%0A2026" in line


def test_the_file_is_the_owners_alone(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "hub-access.log"
    path.parent.mkdir()
    path.write_text("before\n")
    path.chmod(0o644)

    with AccessLogFile(path) as log:
        log.write("after")

    assert path.read_text() == "before\nafter\n"
    assert path.stat().st_mode & 0o777 == 0o600
