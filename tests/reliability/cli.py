"""The `dataspace` command run in this process: its real entry point (``dataspace.cli.main``)
with the environment of a test's node, what it printed on stdout and stderr, and what it
logged. The same code path as the installed script minus the interpreter start-up, which
costs seconds a command here (Great Expectations and Airflow imports)."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

import pytest

from dataspace.cli import main


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str
    logged: str


def run_cli(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    env: dict[str, str],
    *args: str,
) -> Ran:
    """``dataspace *args`` with the DATASPACE_* variables of ``env``; logs at DEBUG."""
    with monkeypatch.context() as patched:
        for name in [n for n in os.environ if n.startswith("DATASPACE_")]:
            patched.delenv(name)
        for name, value in env.items():
            if name.startswith("DATASPACE_"):
                patched.setenv(name, value)
        patched.setattr(sys, "argv", ["dataspace", *args])
        capfd.readouterr()
        caplog.clear()
        for name in ("dataspace",):
            caplog.set_level(logging.DEBUG, logger=name)
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capfd.readouterr()
    return Ran(code, out, err, caplog.text)
