"""Request-size limits of the management API, checked before a route reads anything.

- A body larger than :data:`MAX_BODY` is refused with 413: at once when its Content-Length
  says so, else (a chunked body) as soon as the bytes read so far pass the limit, so the hub
  never holds more than that in memory for one request.
- A header line longer than :data:`MAX_HEADER` (a token is a few hundred bytes) or headers
  larger than :data:`MAX_HEADERS` in all are refused with 431 before any of them is parsed
  further. The HTTP server has read them, but no more than its own limit
  (``dataspace.cli.serving.MAX_INCOMPLETE_REQUEST``: it closes a connection past 64 KiB).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataspace.api.acts import MAX_BODY  # a release manifest of many deliveries fits in it
from dataspace.api.statuses import json_error

MAX_HEADER = 8 * 1024
MAX_HEADERS = 32 * 1024


class RequestLimits:
    """ASGI middleware enforcing the limits of the module docstring on every HTTP request."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _header_refusal(scope["headers"]) or self._declared_too_large(scope["headers"])
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, self._bounded(receive), send)

    def _declared_too_large(self, headers: Iterable[tuple[bytes, bytes]]) -> ASGIApp | None:
        for name, value in headers:
            if name.lower() != b"content-length" or not value.isdigit():
                continue
            # Longer than any limit's digits: refused before int() (Python caps its digits).
            if len(value) > len(str(self.max_body)) or int(value) > self.max_body:
                return json_error(413, "TooLarge", self._too_large())
        return None

    def _bounded(self, receive: Receive) -> Receive:
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    # FastAPI passes its own HTTPException on from reading a body unchanged.
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self._too_large())
            return message

        return bounded

    def _too_large(self) -> str:
        return f"The request body is larger than {self.max_body} bytes; send less."


def _header_refusal(headers: Iterable[tuple[bytes, bytes]]) -> ASGIApp | None:
    total = 0
    for name, value in headers:
        size = len(name) + len(value)
        if size > MAX_HEADER:
            return json_error(
                431,
                "HeadersTooLarge",
                f"The {name.decode('latin-1')[:64]} header is longer than {MAX_HEADER} bytes; "
                "send a shorter one (a token of `dataspace token` is a few hundred bytes).",
            )
        total += size
    if total > MAX_HEADERS:
        return json_error(
            431, "HeadersTooLarge", f"The request headers pass {MAX_HEADERS} bytes; send fewer."
        )
    return None
