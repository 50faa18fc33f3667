"""What a service of the embedded stack is made of: processes with a port and a health check."""

from __future__ import annotations

import sysconfig
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from dataspace.stack.process import port_in_use


@dataclass(frozen=True)
class Component:
    """One process of a service. ``ready`` must be cheap and must not raise."""

    name: str
    label: str
    argv: Callable[[], tuple[str, ...]]  # resolved at start, so `down` needs no binary
    port: int
    ready: Callable[[], bool]
    start_timeout: float = 30.0
    # Added to the caller's environment; not part of the identity (hash) of the component.
    env: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Service:
    """A part of the stack (the broker, the object store) and how to bring it up."""

    name: str
    label: str
    endpoint: str
    components: tuple[Component, ...]
    prepare: Callable[[], None] = lambda: None
    healthy: Callable[[], bool] = lambda: True
    credentials: dict[str, str] = field(default_factory=dict)


def venv_script(name: str) -> str:
    """A console script installed beside this interpreter (swift-object-server, ...)."""
    return str(Path(sysconfig.get_path("scripts")) / name)


def tcp_ready(port: int) -> Callable[[], bool]:
    return lambda: port_in_use("127.0.0.1", port)


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback URL we built)
            return bool(response.status == HTTPStatus.OK)
    except (urllib.error.URLError, OSError):
        return False
