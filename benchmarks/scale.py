"""Performance at scale (issue 20): every target from one command, on either stack.

    .venv/bin/python benchmarks/scale.py [--stack embedded|production-like] [--quick]
        [--only PART,...] [--json-out FILE] [--keep EARLIER.json]

or ``make benchmark`` (``make benchmark STACK=production-like``). The embedded stack (Tansu,
Swift) is started here in a temporary directory and stopped at the end; the production-like
engines must be running (``infra/production-like/stack up``). Parts, in the order they run:

- ``events``: announce -> received latency at 1,000 events/s, ours against bare Kafka, the
  announcing and the receiving side in separate processes; signed events per second in a
  burst (``event_path.py``);
- ``floor``: each stage of one delivery alone at its best setting; the slowest is the floor
  (``floor.py``);
- ``raw``: the hand-written path, one subscriber, the whole release (``naive_peer.py``);
- ``fanout``: the hub, the provider's connector and up to 1,000 subscriber connectors as
  processes; one full delivery at N and at 10·N rows, and K sliced subscribers
  (``fanout.py``, ``fleet.py``);
- ``naive``: the naive peer doing the same work for every K (``naive_peer.py``);
- ``split``: one delivery through hub and connectors against one node holding every key
  (``split_delivery.py``; the embedded stack only: its single-node side has no place on a
  stack of separate parties);
- ``hub-load``: 100 subscriber connectors and a release every second, with the hub on SQLite
  and on PostgreSQL (``hub_load.py``).

Prints every target with its figure and PASS/MISS, writes the whole report as JSON
(``--json-out``, default ``benchmark-results/scale-<stack>.json``) and draws the scale curves
as PNG files beside it (``scale_plots.py``). A part that fails is reported as such and the
others still run; the exit code is 1 if any part failed, 0 otherwise (a MISS is a figure, not
a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks import scale_world  # noqa: E402
from benchmarks.scale_stack import STACKS, BenchStack, open_stack  # noqa: E402
from benchmarks.scale_targets import targets  # noqa: E402

PARTS = ("events", "floor", "raw", "fanout", "naive", "split", "hub-load")
FULL = {
    "rows": 1_000_000,
    "big_rows": 10_000_000,
    "ks": [1, 10, 100, 1000],
    "per_host": 100,
    "event_seconds": 10,
    "burst_events": 20_000,
    "hub_subscribers": 100,
    "hub_seconds": 30,
    "hub_rows": 100_000,
    "split_rounds": 3,
}
QUICK = {
    **FULL,
    "rows": 100_000,
    "big_rows": 400_000,
    "ks": [1, 10, 50],
    "per_host": 25,
    "event_seconds": 2,
    "burst_events": 2_000,
    "hub_subscribers": 10,
    "hub_seconds": 5,
    "hub_rows": 20_000,
    "split_rounds": 1,
}
WARM_UP_ROWS = 20_000
console = Console(width=160)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", choices=STACKS, default="embedded")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--only", help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument(
        "--json-out", type=Path, help="default benchmark-results/scale-<stack>.json"
    )
    parser.add_argument(
        "--ks", help="the K of the fan-out, comma-separated (default 1,10,100,1000)"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="an earlier report of this stack: the parts not run now are taken from it",
    )
    args = parser.parse_args()
    parts = PARTS if not args.only else tuple(p.strip() for p in args.only.split(","))
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise SystemExit(
            f"--only takes parts of {', '.join(PARTS)}; {', '.join(unknown)} is not one."
        )
    out = args.json_out or ROOT / "benchmark-results" / f"scale-{args.stack}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    options = dict(QUICK if args.quick else FULL)
    if args.ks:
        try:
            options["ks"] = sorted({int(k) for k in args.ks.split(",")})
        except ValueError:
            raise SystemExit(
                f"--ks takes whole numbers separated by commas, not {args.ks!r}."
            ) from None
        if not 1 <= options["ks"][0] <= options["ks"][-1] <= scale_world.SUPPLIERS:
            raise SystemExit(f"--ks takes K from 1 to {scale_world.SUPPLIERS}, not {args.ks!r}.")
    report = run(args.stack, parts, options)
    if args.keep:
        keep(report, args.keep)
    report["targets"] = targets(report)
    print_targets(report)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    from benchmarks.scale_plots import draw  # noqa: PLC0415 (matplotlib only when drawing)

    drawn = draw(report, out.parent, f"scale-{args.stack}")
    console.print(f"JSON: {out}")
    for path in drawn:
        console.print(f"PNG:  {path}")
    raise SystemExit(1 if report["errors"] else 0)


def run(stack_name: str, parts: tuple[str, ...], options: dict[str, Any]) -> dict[str, Any]:
    report: dict[str, Any] = {
        "stack": stack_name,
        "quick": options["rows"] < FULL["rows"],
        "options": options,
        "machine": machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "parts": {},
        "seconds": {},
        "errors": {},
    }
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        root = Path(tmp)
        artifacts = scale_world.write_artifacts(root / "artifacts")
        inputs = write_inputs(root / "inputs", options, parts)
        options = {**options, "inputs": inputs, "input": inputs[options["rows"]],
                   "warm_up": inputs[WARM_UP_ROWS]}  # fmt: skip
        with open_stack(stack_name, root, artifacts) as stack:
            for part in parts:
                measured, directory = PART_RUNS[part], root / part
                _run_part(report, part, lambda m=measured, d=directory: m(stack, d, options))
    report["ended"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return report


def keep(report: dict[str, Any], earlier: Path) -> None:
    """Take the parts this run did not measure from an earlier report of the same stack and
    sizes; the report says which, and when they ran. A ratio pairs parts of one run only where
    both ran together: run the parts a ratio pairs in the same call."""
    try:
        kept: dict[str, Any] = json.loads(earlier.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"--keep {earlier}: not a readable report ({exc}).") from exc
    if (kept.get("stack"), kept.get("quick")) != (report["stack"], report["quick"]):
        raise SystemExit(
            f"--keep {earlier} is a report of another stack or size; give one of this."
        )
    taken = [part for part in kept.get("parts", {}) if part not in report["parts"]]
    for part in taken:
        report["parts"][part] = kept["parts"][part]
        report["seconds"][part] = kept["seconds"].get(part)
    report["kept"] = {"from": str(earlier), "started": kept.get("started"), "parts": taken}


def _run_part(report: dict[str, Any], part: str, call: Callable[[], dict[str, Any]]) -> None:
    console.print(f"[bold]{time.strftime('%H:%M:%S')} {part}[/bold]")
    started = time.perf_counter()
    try:
        report["parts"][part] = call()
    except Exception as exc:  # noqa: BLE001 (the other parts still run; the exit code says so)
        report["errors"][part] = f"{exc.__class__.__name__}: {exc}"
        console.print(f"[red]{part} failed:[/red] {exc}")
        traceback.print_exc()
    report["seconds"][part] = round(time.perf_counter() - started, 1)


def write_inputs(
    directory: Path, options: dict[str, Any], parts: tuple[str, ...]
) -> dict[int, str]:
    """The input files the parts publish, written before any timing: {rows: path}."""
    directory.mkdir(parents=True)
    sizes = {WARM_UP_ROWS, options["rows"]}
    if "fanout" in parts:
        sizes.add(options["big_rows"])
    if "hub-load" in parts:
        sizes.add(options["hub_rows"])
    written = {}
    for rows in sorted(sizes):
        path = directory / f"orders-{rows}.parquet"
        scale_world.write_input(rows, path)
        written[rows] = str(path)
    return written


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


# -- the parts --------------------------------------------------------------------------------


def _events(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import event_path  # noqa: PLC0415

    return event_path.measure(stack, root, options)


def _floor(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import floor  # noqa: PLC0415

    return floor.measure(stack, root, options)


def _raw(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import naive_peer  # noqa: PLC0415

    return naive_peer.measure_raw(stack, root, options)


def _fanout(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import fanout  # noqa: PLC0415

    return fanout.measure(stack, root, options)


def _naive(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import naive_peer  # noqa: PLC0415

    return naive_peer.measure(stack, root, options)


def _split(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """``split_delivery.py`` in a child process, on an embedded stack of its own."""
    if stack.production_like:
        return {"skipped": "the single-node side exists on the embedded stack only"}
    root.mkdir(parents=True, exist_ok=True)
    out = root / "split.json"
    command = [
        sys.executable, str(Path(__file__).resolve().parent / "split_delivery.py"),
        "--rows", str(options["rows"]), "--rounds", str(options["split_rounds"]),
        "--json-out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"split_delivery.py exited {done.returncode}: {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return {key: report[key] for key in ("rows", "rounds", "medians", "verdicts", "probes")}


def _hub_load(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    from benchmarks import hub_load  # noqa: PLC0415

    given = {
        "subscribers": options["hub_subscribers"],
        "seconds": options["hub_seconds"],
        "rows": options["hub_rows"],
        "input": options["inputs"][options["hub_rows"]],
        "hub_databases": ["sqlite", "postgres"],
    }
    return hub_load.measure(stack, root, given)


PART_RUNS: dict[str, Callable[[BenchStack, Path, dict[str, Any]], dict[str, Any]]] = {
    "events": _events,
    "floor": _floor,
    "raw": _raw,
    "fanout": _fanout,
    "naive": _naive,
    "split": _split,
    "hub-load": _hub_load,
}


# -- the report -------------------------------------------------------------------------------


def print_targets(report: dict[str, Any]) -> None:
    quick = " (QUICK sizes: not the issue's)" if report["quick"] else ""
    table = Table(title=f"Issue 20 targets on the {report['stack']} stack{quick}")
    for column in ("figure", "measured", "target", "verdict", "context"):
        table.add_column(column, justify="right" if column == "measured" else "left")
    colours = {"PASS": "green", "MISS": "red", "NOT RUN": "yellow"}
    for line in report["targets"]:
        verdict = line["verdict"]
        table.add_row(
            line["figure"],
            line["measured"],
            line["target"],
            f"[{colours[verdict]}]{verdict}[/{colours[verdict]}]",
            line["context"],
        )
    console.print(table)
    if report.get("kept"):
        kept = report["kept"]
        console.print(
            f"parts {', '.join(kept['parts'])} are from {kept['from']} ({kept['started']})"
        )
    for part, error in report["errors"].items():
        console.print(f"[red]{part} failed:[/red] {error}")
    timing = ", ".join(f"{part} {seconds:.0f} s" for part, seconds in report["seconds"].items())
    console.print(f"[dim]parts took: {timing}[/dim]")


if __name__ == "__main__":
    main()
