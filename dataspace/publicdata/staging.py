"""Where a public-data release keeps its files while it runs, and how they go away.

The raw extract holds names, credit codes, phones and addresses: it must not outlive the run.

- Each run has one directory, ``<state_dir>/staging/public-release/<application>/<run>``,
  created 0700 (files in it are created 0600 by their writers).
- :func:`raw_extract` holds the raw file only for the one task that desensitizes it: the file
  is removed when the block ends, however it ends. SIGTERM, which Airflow sends a task it
  stops (mark failed, a timeout, the worker's shutdown), is turned into an exception inside the
  block so the removal runs before the process goes.
- :func:`remove_run` is the DAG's last task (it runs whatever happened upstream) and removes
  the run's directory; :func:`sweep` removes what a run killed outright (SIGKILL, a lost node)
  left behind, at the start of the next run. The DAG allows one active run, so every other
  run's directory is a leftover by then.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from dataspace.private_paths import private_directory

log = logging.getLogger(__name__)

STAGING = ("staging", "public-release")


class Terminated(Exception):
    """The process was asked to stop (SIGTERM) while it held raw data."""


def staging_root(state_dir: Path) -> Path:
    return state_dir.joinpath(*STAGING)


def run_directory(state_dir: Path, application: str, run: str) -> Path:
    """The run's own directory (0700), created if missing."""
    return private_directory(_run_path(state_dir, application, run))


@contextmanager
def raw_extract(directory: Path, name: str = "source.parquet") -> Iterator[Path]:
    """The path where the raw extract may be written; removed when the block ends."""
    path = directory / name
    try:
        with _terminate_raises():
            yield path
    finally:
        path.unlink(missing_ok=True)


def remove_run(state_dir: Path, application: str, run: str) -> None:
    """Remove the run's directory and everything in it (nothing left to remove is fine)."""
    shutil.rmtree(_run_path(state_dir, application, run), ignore_errors=True)


def _run_path(state_dir: Path, application: str, run: str) -> Path:
    """A run id holds ``:`` and ``+`` (``manual__2026-…+00:00``): its digest names the directory."""
    safe_run = hashlib.sha256(run.encode()).hexdigest()[:16]
    return staging_root(state_dir) / application / safe_run


def sweep(state_dir: Path, keep: Path | None = None) -> list[Path]:
    """Remove every run directory but ``keep``; return what was removed."""
    removed = []
    for directory in sorted(staging_root(state_dir).glob("*/*")):
        if directory.is_dir() and directory != keep:
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    if removed:
        log.warning("removed staging left by %d earlier public-data runs", len(removed))
    return removed


@contextmanager
def _terminate_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (then the previous handler runs)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; nothing to install here
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: FrameType | None) -> None:
        if callable(previous):
            previous(signum, frame)
        raise Terminated("The run was stopped (SIGTERM); its raw extract was removed.")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
