"""One line per HTTP request a server answered, for whoever runs it: an ASGI middleware.

A line is ``time client "METHOD path?query" status duration``. It never holds a secret: no
header is written (the Authorization header carries the caller's token), and the value of a
query parameter whose name says it is a secret (``token``, ``access_token``,
``X-Amz-Signature``...) is replaced by ``[redacted]``. The file is the operator's alone
(mode 0600); each line is one ``write`` to a file opened for appending, so servers may share it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from dataspace.closing import Closing
from dataspace.private_paths import PRIVATE_FILE_MODE, private_directory

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

REDACTED = "[redacted]"
# Names of query parameters that carry a secret: tokens, S3 presigned-URL signatures and
# credentials, passwords, keys. Matched anywhere in the name, case-insensitively.
SECRET_PARAMETER = re.compile(r"token|signature|credential|secret|password|passwd|key|auth|sig$",
                              re.IGNORECASE)  # fmt: skip


class AccessLogFile(Closing):
    """An access log file, created with mode 0600 (and set so when it existed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        private_directory(path.parent)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
        os.fchmod(self._fd, PRIVATE_FILE_MODE)

    def write(self, line: str) -> None:
        os.write(self._fd, (line + "\n").encode("utf-8", errors="replace"))

    def close(self) -> None:
        os.close(self._fd)


def redacted_target(path: str, query: bytes) -> str:
    """The request target as logged: the query with every secret parameter's value hidden."""
    if not query:
        return path
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    shown = "&".join(
        f"{quote(name)}={REDACTED if SECRET_PARAMETER.search(name) else quote(value)}"
        for name, value in pairs
    )
    return f"{path}?{shown}"


class AccessLogMiddleware:
    """Wraps an ASGI app; writes one line per HTTP request once its response has started
    (or failed: a request the app raised on is logged with status 500)."""

    def __init__(self, app: App, log: Callable[[str], None]) -> None:
        self._app = app
        self._log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            self._log(_line(scope, status, time.perf_counter() - started))


def _line(scope: Scope, status: int, seconds: float) -> str:
    client = scope.get("client")
    who = f"{client[0]}:{client[1]}" if client else "-"
    # The path is percent-decoded: quoted again, a "%0a" in it cannot forge a second line.
    path = quote(scope.get("path", ""), safe="/:@!$&'()*+,;=-._~")
    target = redacted_target(path, scope.get("query_string", b""))
    moment = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return f'{moment} {who} "{scope.get("method", "-")} {target}" {status} {seconds * 1000:.1f}ms'
