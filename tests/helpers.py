"""Small test helpers shared by the tiers: polling instead of sleeping, free ports."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from dataspace.config import Settings
from dataspace.stack.ports import free_port, free_port_block

__all__ = ["DATASPACE", "free_port", "free_port_block", "node_environment", "wait_for"]

T = TypeVar("T")
# The `dataspace` command of this virtual environment, for tests that run it as a user does.
DATASPACE = str(Path(sys.executable).parent / "dataspace")
# The `dataspace` command of this virtual environment, for tests that run it as a user does.


def wait_for(check: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy, or fail the test."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s: {check}")


def node_environment(state: Path, settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a `dataspace` command run on a test's node: this process's
    environment without its DATASPACE_* variables, then the node's state directory, the test
    stack's broker and store, its release bucket, and ``extra`` (e.g. DATASPACE_DATABASE_URL)."""
    s3 = settings.s3()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    env.update(
        {
            "DATASPACE_STATE_DIR": str(state),
            "DATASPACE_KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
            "DATASPACE_S3_ENDPOINT": s3.url,
            "DATASPACE_S3_ACCESS_KEY": s3.access_key,
            "DATASPACE_S3_SECRET_KEY": s3.secret_key.get_secret_value(),
            "DATASPACE_RELEASE_BUCKET": settings.release_bucket,
            "COLUMNS": "200",
            **extra,
        }
    )
    return env
