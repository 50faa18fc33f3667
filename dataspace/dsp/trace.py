"""Every protocol message a connector sends and accepts, one JSON line each (an audit trail).

``<state>/logs/dsp-messages.jsonl`` (0600), one exchange per line: ``side`` (``client``
when this connector sent the request, ``server`` when it answered one), the peer, the method
and path, the HTTP status, the request's message and the response's. Nothing secret is in a message
except a pull transfer's bearer token, which is written as ``"***"``. Thread-safe.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from dataspace.canonical import utc_iso
from dataspace.store.types import utcnow

FILE_NAME = "dsp-messages.jsonl"
HIDDEN = frozenset({"authorization"})


class MessageLog:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / FILE_NAME
        self._lock = threading.Lock()

    def record(
        self, side: str, peer: str, method: str, path: str, exchange: tuple[Any, int, Any]
    ) -> None:
        """One exchange: (request message, status, response message)."""
        request, status, response = exchange
        line = json.dumps({
            "at": utc_iso(utcnow()), "side": side, "peer": peer, "method": method, "path": path,
            "status": status, "request": _hidden(request), "response": _hidden(response),
        }, ensure_ascii=False)  # fmt: skip
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as out:
                out.write(line + "\n")


def _hidden(message: Any) -> Any:
    if isinstance(message, dict):
        if message.get("@type") == "EndpointProperty" and message.get("name") in HIDDEN:
            return {**message, "value": "***"}
        return {key: _hidden(value) for key, value in message.items()}
    if isinstance(message, list):
        return [_hidden(item) for item in message]
    return message


def read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
