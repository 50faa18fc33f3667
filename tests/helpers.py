"""Small test helpers shared by the tiers: polling instead of sleeping, free ports."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from infra.ports import free_port, free_port_block

__all__ = ["free_port", "free_port_block", "wait_for"]

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy, or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s: {check}")
