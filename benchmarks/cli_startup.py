"""Start-up time of the `dataspace` CLI, each command as a fresh process.

    .venv/bin/python benchmarks/cli_startup.py [--runs 10] [--cli "COMMAND"]

Runs `dataspace --help` and a control-plane read (`dataspace participant list` against a
database an `operator init` created beforehand) ``--runs`` times each, and prints median, min
and max wall-clock seconds against the target, with PASS or MISS, as a table and as JSON.
No services: the read opens the SQLite file in a fresh state directory. One warm-up run per
command is not counted. Where PYTHONDONTWRITEBYTECODE is set, every run compiles every module
from source; ``env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=/tmp/pyc`` measures with a
bytecode cache outside the tree. ``--cli`` measures
another build, e.g. ``--cli "env PYTHONPATH=/tmp/old .venv/bin/python -m dataspace.cli"``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The targets of the issue "a CLI that starts in a blink", in seconds (median).
TARGETS = {"--help": 0.4, "participant list": 1.0}
OPERATOR = ["--name", "江苏省数据枢纽", "--uscc", "12320000MB0000001D", "--region", "CN-JS"]


def executable() -> list[str]:
    """The `dataspace` script next to this interpreter (the virtualenv's), else on PATH."""
    beside = Path(sys.executable).with_name("dataspace")
    found = str(beside) if beside.exists() else shutil.which("dataspace")
    if found is None:
        raise SystemExit("no `dataspace` executable: install the project (pip install -e .)")
    return [found]


def seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(cli: list[str], runs: int, env: dict[str, str]) -> list[dict[str, Any]]:
    results = []
    for name, target in TARGETS.items():
        command = [*cli, *name.split()]
        seconds(command, env)  # warm-up: fills the bytecode cache, if there is one
        samples = [seconds(command, env) for _ in range(runs)]
        median = statistics.median(samples)
        results.append(
            {
                "command": name,
                "runs": runs,
                "median": round(median, 3),
                "min": round(min(samples), 3),
                "max": round(max(samples), 3),
                "target": target,
                "verdict": "PASS" if median <= target else "MISS",
            }
        )
    return results


def report(results: list[dict[str, Any]]) -> None:
    print(f"{'command':<18} {'runs':>4} {'median':>7} {'min':>7} {'max':>7} {'target':>7} {'x':>5}")
    for item in results:
        ratio = item["median"] / item["target"]
        print(
            f"{item['command']:<18} {item['runs']:>4} {item['median']:>7.3f} {item['min']:>7.3f} "
            f"{item['max']:>7.3f} {item['target']:>7.1f} {ratio:>5.2f} {item['verdict']}"
        )
    print(json.dumps({"results": results}, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--cli", help="the command to measure (default: the `dataspace` script)")
    args = parser.parse_args()
    cli = shlex.split(args.cli) if args.cli else executable()
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "DATASPACE_STATE_DIR": state}
        init = [*cli, "operator", "init", *OPERATOR]
        subprocess.run(init, env=env, check=True, capture_output=True)
        results = measure(cli, args.runs, env)
    report(results)


if __name__ == "__main__":
    main()
