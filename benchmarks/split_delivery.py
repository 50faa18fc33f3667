"""Split delivery benchmark (not a test): what the hub/connector split costs one delivery.

    .venv/bin/python benchmarks/split_delivery.py [--rows 1000000] [--rounds 3] [--quick]
        [--keep-environment] [--json-out FILE]

Starts its own embedded stack (Tansu + Swift) in a temporary directory and sets up both ways
of delivering one release of N purchase-order rows (the 11-column rows of
``benchmarks/delivery.py``) to ONE subscriber under an own-rows offer, every row being that
subscriber's, so that its view is an object of its own holding all N rows: the path most
subscribers take (a whole-release view would share the release object and skip the view's
write). The two deployments are set up in ``split_delivery_paths``:

- **single**: one node holding every key; the subscriber's agent runs in a thread of this
  process with ``LocalControlPlane``, as in ``benchmarks/delivery.py``;
- **split**: ``dataspace hub serve``, the provider's connector (its own key, S3 user and
  bucket; ``connector serve`` answers grants) and the subscriber's connector, whose agent
  (``connector subscribe``) is a process of its own (:mod:`dataspace.federation`).

Both agents run and are assigned before any timing. Each round publishes a new version of
each product four ways, in an order that rotates: ``publish(node, ...)`` and
``publish_from_connector(...)`` called in this process (warm: GX imported, clients open, as
a long-running publisher holds them), and ``dataspace publish`` and ``dataspace connector
publish`` as fresh processes, as a user types them. The clock runs from the start of the
publish until the subscriber's file is landed and its receipt recorded by that path's control
plane (the landing directory polled every 5 ms, then the node's or the hub's database).

Prints the medians, where the time goes, the ratios and the verdict against the issue's
target: the split may cost at most 10 % against the single-process path. Where
PYTHONDONTWRITEBYTECODE is set, the child processes get a bytecode cache in the temporary
directory (as an installed product has one), unless ``--keep-environment``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from benchmarks.delivery_world import write_artifacts  # noqa: E402
from benchmarks.split_delivery_paths import (  # noqa: E402
    SINGLE_NUMBER,
    SPLIT_NUMBER,
    BenchFederation,
    Deployment,
    single,
    split,
    timed_desks,
    write_inputs,
)
from dataspace.config import load_settings  # noqa: E402
from dataspace.node import open_node  # noqa: E402
from dataspace.stack.ports import free_port, free_port_block  # noqa: E402
from dataspace.stack.stack import Stack  # noqa: E402

TARGET = 1.10  # the issue: "the split may cost at most 10 % against the single-process path"
FULL_ROWS, QUICK_ROWS = 1_000_000, 100_000
PATHS = ("single", "split", "single-cli", "split-cli")
COMPARISONS = (
    ("split-cli", "single", "B/A: `connector publish` process vs publish() in process"),
    ("split-cli", "single-cli", "both as fresh CLI processes"),
    ("split", "single", "both called in a warm process (no CLI start-up)"),
)
SEGMENTS = (
    ("start -> release recorded (publish)", "start", "recorded"),
    ("recorded -> announcement relayed to Kafka", "recorded", "relayed"),
    ("relayed -> download started (agent, grant)", "relayed", "download"),
    ("download + verify + land", "download", "landed"),
    ("landed -> receipt recorded", "landed", "receipted"),
    ("total: start -> landed and receipted", "start", "receipted"),
)
console = Console(width=160)


# -- the run ----------------------------------------------------------------------------------


def children_bytecode(root: Path, keep: bool) -> str:
    """With PYTHONDONTWRITEBYTECODE set, every child process would compile each module changed
    since install on every start; give the children a bytecode cache under ``root`` instead,
    as an installed product has (this process's own flags were read at its start)."""
    if keep or not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "children inherit this environment"
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
    return "children cache bytecode under the temp directory (PYTHONPYCACHEPREFIX)"


def rounds(single_path: Deployment, split_path: Deployment, count: int) -> list[dict[str, Any]]:
    runs = []
    for number in range(count):
        for path in PATHS[number % 4 :] + PATHS[: number % 4]:
            deployment = single_path if path.startswith("single") else split_path
            how = "cli" if path.endswith("-cli") else "in-process"
            console.print(f"[dim]{time.strftime('%H:%M:%S')} round {number + 1}: {path}[/dim]")
            figures = deployment.deliver(how, deployment.inputs.full)
            runs.append({"path": path, "round": number + 1, **figures, "load1": _load()[0]})
    return runs


def run(args: argparse.Namespace) -> dict[str, Any]:
    loads = {"start": _load()}
    with tempfile.TemporaryDirectory(prefix="split-bench-") as tmp:
        root = Path(tmp)
        bytecode = children_bytecode(root, args.keep_environment)
        schemas, expectations = write_artifacts(root / "artifacts")
        settings = load_settings(
            state_dir=root / "node", kafka_port=free_port(), s3_port=free_port_block(4),
            schemas_dir=schemas, expectations_dir=expectations,
        )  # fmt: skip
        single_inputs, arrow_bytes = write_inputs(root, args.rows, SINGLE_NUMBER)
        split_inputs, _ = write_inputs(root, args.rows, SPLIT_NUMBER)
        stack = Stack(settings)
        stack.up()
        try:
            space = BenchFederation(root / "federation", settings)
            with (
                space,
                open_node(settings) as node,
                timed_desks(),
                single(node, space, single_inputs) as single_path,
                split(space, root, split_inputs) as split_path,
            ):
                loads["rounds"] = _load()
                runs = rounds(single_path, split_path, args.rounds)
                probes = {"single": single_path.probe(), "split": split_path.probe()}
                agent_start = {
                    "single": single_path.agent_start_s,
                    "split": split_path.agent_start_s,
                }
        finally:
            stack.down()
    loads["end"] = _load()
    return {
        "rows": args.rows, "rounds": args.rounds, "arrow_mb": round(arrow_bytes / 1e6, 1),
        "view_mb": round(runs[-1]["view_bytes"] / 1e6, 1), "bytecode": bytecode,
        "cores": os.cpu_count(), "load_average": loads, "runs": runs, "probes": probes,
        "agent_start_s": agent_start,
    }  # fmt: skip


def _load() -> tuple[float, float, float]:
    one, five, fifteen = os.getloadavg()
    return round(one, 2), round(five, 2), round(fifteen, 2)


# -- the report -------------------------------------------------------------------------------


def medians(report: dict[str, Any], path: str) -> dict[str, float | None]:
    """Median of every figure of ``path``'s runs, and of each segment (None if never seen)."""
    runs = [r for r in report["runs"] if r["path"] == path]

    def median(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(statistics.median(known), 3) if known else None

    figures = {
        name: median([r.get(name) for r in runs])
        for name in ("receipted", "publish_s", "call_s", "desk_s", "cli_start_s", "cli_exit_s")
    }
    for label, start, end in SEGMENTS:
        figures[label] = median([_segment(r, start, end) for r in runs])
    return figures


def _segment(run: dict[str, Any], start: str, end: str) -> float | None:
    marks = {"start": 0.0, **run}
    if start not in marks or end not in marks:
        return None
    return float(marks[end]) - float(marks[start])


def verdicts(report: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for b, a, what in COMPARISONS:
        ratio = report["medians"][b]["receipted"] / report["medians"][a]["receipted"]
        lines.append(
            {"comparison": f"{b} / {a}", "what": what, "ratio": round(ratio, 3),
             "limit": TARGET, "verdict": "PASS" if ratio <= TARGET else "MISS"}
        )  # fmt: skip
    return lines


def print_report(report: dict[str, Any]) -> None:
    table = Table(
        title=f"One delivery of {report['rows']:,} rows ({report['arrow_mb']} MB Arrow, a "
        f"{report['view_mb']} MB Parquet view) to one subscriber: publish start -> landed and "
        f"receipted, median of {report['rounds']} rounds (s)"
    )
    columns = ("path", "total", "min", "max", "publish", "publish()", "CLI start", "CLI exit")
    for column in (*columns, "desk"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for path in PATHS:
        m = report["medians"][path]
        totals = [r["receipted"] for r in report["runs"] if r["path"] == path]
        table.add_row(
            path, _s(m["receipted"]), _s(min(totals)), _s(max(totals)), _s(m["publish_s"]),
            _s(m["call_s"]), _s(m["cli_start_s"]), _s(m["cli_exit_s"]), _s(m["desk_s"]),
        )  # fmt: skip
    console.print(table)
    console.print(
        "[dim]publish = the call or the CLI process; publish() = the publish function inside "
        "it; CLI start = before publish() (interpreter, imports, open); CLI exit = after it, "
        "off the delivery's path; desk = control-plane calls of an in-process publish (the "
        "node's database, or HTTP to the hub incl. its record + relay)[/dim]"
    )
    print_segments(report)
    print_one_offs(report)
    print_extra_time(report)
    print_verdicts(report)


def print_extra_time(report: dict[str, Any]) -> None:
    extra = Table(title="Where B's extra time goes: split-cli against single (median s)")
    extra.add_column("part")
    extra.add_column("s", justify="right")
    for label, seconds in extra_time(report["medians"]):
        extra.add_row(label, _s(seconds))
    console.print(extra)
    console.print(
        "[dim]medians of each part, so they need not add up exactly; the CLI's exit "
        f"({_s(report['medians']['split-cli']['cli_exit_s'])} s) runs after the delivery[/dim]"
    )


def print_verdicts(report: dict[str, Any]) -> None:
    checks = Table(title=f"Target: the split costs at most {TARGET - 1:.0%} (B/A <= {TARGET})")
    for column in ("comparison", "what", "ratio", ""):
        checks.add_column(column)
    for line in report["verdicts"]:
        verdict = "[green]PASS[/green]" if line["verdict"] == "PASS" else "[red]MISS[/red]"
        checks.add_row(line["comparison"], line["what"], f"{line['ratio']:.3f}", verdict)
    console.print(checks)
    loads = report["load_average"]
    console.print(
        f"load average (1/5/15 min) at start {loads['start']}, before the rounds "
        f"{loads['rounds']}, at the end {loads['end']}; {report['cores']} cores; "
        f"bytecode: {report['bytecode']}"
    )


def print_segments(report: dict[str, Any]) -> None:
    table = Table(title="Where the time goes (median s; wall-clock marks, polled every 5 ms)")
    table.add_column("segment")
    for path in PATHS:
        table.add_column(path, justify="right")
    for b, a, _ in COMPARISONS:
        table.add_column(f"{b} - {a}", justify="right")
    for label, _, _ in SEGMENTS:
        values = [report["medians"][path][label] for path in PATHS]
        deltas = [_delta(report["medians"][b][label], report["medians"][a][label])
                  for b, a, _ in COMPARISONS]  # fmt: skip
        table.add_row(label, *(_s(v) for v in values), *(_s(d) for d in deltas))
    console.print(table)


def print_one_offs(report: dict[str, Any]) -> None:
    table = Table(title="Round trips and the agent's start (median s)")
    for column in ("what", "single", "split"):
        table.add_column(column, justify="left" if column == "what" else "right")
    probes = report["probes"]
    table.add_row(
        "grant (in process / via hub + provider's connector)",
        _s(probes["single"]["grant"], 4), _s(probes["split"]["grant"], 4),
    )  # fmt: skip
    hub_get = _s(probes["split"]["hub GET"], 4)
    table.add_row("one signed GET to the hub (/deliveries/due)", "", hub_get)
    starts = report["agent_start_s"]
    table.add_row(
        "agent start -> first small delivery receipted (once)",
        _s(starts["single"]), _s(starts["split"]),
    )  # fmt: skip
    console.print(table)


def extra_time(m: dict[str, dict[str, Any]]) -> list[tuple[str, float | None]]:
    """split-cli's time over single's, part by part (from the medians)."""
    b, warm, a = m["split-cli"], m["split"], m["single"]
    desk = _delta(warm["desk_s"], a["desk_s"])
    publish_delta = _delta(warm["call_s"], a["call_s"])
    agent = "relayed -> download started (agent, grant)"
    return [
        ("CLI start-up before publish(): interpreter, imports, open the connector",
         b["cli_start_s"]),
        ("publish() cold in a fresh process (GX import, first connections)",
         _delta(b["call_s"], warm["call_s"])),
        ("publish() warm: control-plane calls over HTTP to the hub", desk),
        ("publish() warm: the rest of the difference",
         _delta(publish_delta, desk)),
        ("announcement -> download: agent process (Kafka fetch, hub GET, grant via provider)",
         _delta(b[agent], a[agent])),
        ("download + verify + land",
         _delta(b["download + verify + land"], a["download + verify + land"])),
        ("receipt: HTTP to the hub vs the node's database",
         _delta(b["landed -> receipt recorded"], a["landed -> receipt recorded"])),
        ("total difference", _delta(b["receipted"], a["receipted"])),
    ]  # fmt: skip


def _delta(b: float | None, a: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _s(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help=f"default {FULL_ROWS:,} ({QUICK_ROWS:,} quick)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows")
    parser.add_argument(
        "--keep-environment", action="store_true", help="children inherit PYTHONDONTWRITEBYTECODE"
    )
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    args.rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    report = run(args)
    report["medians"] = {path: medians(report, path) for path in PATHS}
    report["verdicts"] = verdicts(report)
    print_report(report)
    text = json.dumps(report, ensure_ascii=False)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
