"""How the production-like tier finds its engines, and the scripts that manage them.

`infra/production-like/stack up` starts the engines and writes, per engine,
``<root>/<engine>.env``: ``export NAME='value'`` lines saying how to reach it. The tier reads
those files only and never starts an engine itself. Without an engine's file its tests are
skipped with the reason; with ``DATASPACE_PRODUCTION_LIKE_REQUIRED=1`` (set by
`make test-production-like`, which `.ci/run` runs) a missing engine fails them instead, so
CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra" / "production-like"
DEFAULT_ROOT = "/var/tmp/dataspace-production-like"  # noqa: S108 (the stack's documented home)


def production_like_root() -> Path:
    return Path(os.environ.get("DATASPACE_PRODLIKE_HOME", DEFAULT_ROOT))


def read_env_file(path: Path) -> dict[str, str]:
    """The ``export NAME='value'`` lines of an env file, as a mapping."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            values[name] = value
    return values


def engine_env(engine: str) -> dict[str, str]:
    """How to reach ``engine`` (kafka, minio, ceph, postgres, airflow, ...), or skip/fail."""
    path = production_like_root() / f"{engine}.env"
    if path.is_file():
        return read_env_file(path)
    reason = (
        f"the production-like {engine} is not running ({path} is missing); "
        f"start it with: infra/production-like/stack up {engine}"
    )
    if os.environ.get("DATASPACE_PRODUCTION_LIKE_REQUIRED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def engine_script(engine: str, *args: str, timeout: float = 300.0) -> str:
    """Run ``infra/production-like/<engine>.sh args``; its standard output (stripped)."""
    done = subprocess.run(
        ["bash", str(INFRA / f"{engine}.sh"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"{engine}.sh {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout.strip()
