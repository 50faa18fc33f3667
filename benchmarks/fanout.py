"""Fan-out and release size, through a hub and connectors as processes.

One fleet (``benchmarks/fleet.py``): the hub, the provider's connector (serving grants) and up
to K subscriber connectors, whose agents run in agent-host processes of at most
``per_host`` agents each. Each measurement publishes from a fresh provider process
(``benchmarks/publisher_host.py``: warm, one small release first) and runs from the start of
the timed publish until the hub has recorded every subscriber's receipt:

- **full**: one subscriber receives the whole release, at N rows and at the big N (10M): the
  single-delivery figure, and memory and throughput against release size;
- **sliced**: K = 1, 10, 100, 1,000 subscribers each receive their own rows of one N-row
  release (the rows name 1,000 suppliers: each view is ~N/1000 rows whatever K is). Only the
  agents of the first K subscribers run while K is measured (K grows: 10 runs while 10 is
  measured, all 1,000 at 1,000), as only they would exist.

Per run: seconds, the publisher's steps and peak RSS, the agent hosts' RSS, the spread of
landing times at the hub.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fleet import Fleet, open_fleet  # noqa: E402
from benchmarks.scale_stack import BenchStack  # noqa: E402

PUBLISHER = Path(__file__).resolve().parent / "publisher_host.py"
LAND_TIMEOUT_SECONDS = 600.0  # a K the machine cannot serve fails, the smaller K keep theirs
FULL_PRODUCT = "scale-full"


def measure(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """``options``: ``inputs`` {rows: path} (holding ``rows`` and ``big_rows``), ``warm_up``
    (a small input), ``rows``, ``big_rows``, ``ks``, ``per_host``."""
    ks, per_host = sorted(options["ks"]), int(options.get("per_host", 100))
    inputs = {int(rows): Path(path) for rows, path in options["inputs"].items()}
    warm_up = Path(options["warm_up"])
    full: list[dict[str, Any]] = []
    sliced: list[dict[str, Any]] = []
    started = time.perf_counter()
    with open_fleet(stack, root / "fleet", max(ks)) as fleet:
        setup_s = time.perf_counter() - started
        fleet.offer(FULL_PRODUCT, 1, sliced=False)
        join_s = fleet.run_agents(1, per_host)
        for rows in (options["rows"], options["big_rows"]):
            run = deliver(fleet, FULL_PRODUCT, 1, source=inputs[rows], warm_up=warm_up, root=root)
            full.append({"k": 1, "rows": rows, "join_s": round(join_s, 2), **run})
        for k in ks:
            product = f"scale-sliced-{k}"
            try:
                fleet.offer(product, k, sliced=True)
                join_s = fleet.run_agents(k, per_host)
                run = deliver(
                    fleet, product, k, source=inputs[options["rows"]], warm_up=warm_up, root=root
                )
            except Exception as exc:  # noqa: BLE001 (the smaller K keep their figures)
                sliced.append(
                    {
                        "k": k,
                        "rows": options["rows"],
                        "error": f"{type(exc).__name__}: {exc}"[:2000],
                    }
                )
                break  # a larger K would meet the same wall
            hosts = len(fleet.host_pids())
            sliced.append({"k": k, "rows": options["rows"], "join_s": round(join_s, 2),
                           "agent_hosts": hosts, **run})  # fmt: skip
    return {"setup_s": round(setup_s, 1), "per_host": per_host, "full": full, "sliced": sliced}


def deliver(
    fleet: Fleet, product: str, k: int, *, source: Path, warm_up: Path, root: Path
) -> dict[str, Any]:
    """One timed publish of ``source`` to the product's k subscribers, from a fresh provider
    process; its figures."""
    log = (root / "logs").resolve()
    log.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, str(PUBLISHER), "--state", str(fleet.provider.state),
        "--product", product, "--warm-up", str(warm_up), "--source", str(source),
    ]  # fmt: skip
    with (log / f"publisher-{product}.log").open("ab") as errors:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        stdin = process.stdin
        if stdin is None:
            raise RuntimeError("the publisher has no stdin")
        try:
            warm = _line(process, "warm")
            fleet.wait_landed(product, warm["version"], k, LAND_TIMEOUT_SECONDS)
            hosts_before = _hosts_rss(fleet)
            stdin.write("go\n")
            stdin.flush()
            published = _line(process, "published")
            if published["delivered"] != k or published["relay_error"]:
                raise RuntimeError(f"{product}: the publish delivered {published['delivered']}")
            seen = fleet.wait_landed(product, published["version"], k, LAND_TIMEOUT_SECONDS)
            process.wait(60)
        finally:
            if process.poll() is None:
                process.kill()
    times = sorted(
        t - published["started"] for t in fleet.landed_times(product, published["version"])
    )
    seconds = seen - published["started"]
    return {
        "seconds": round(seconds, 3),
        "publish_s": round(published["ended"] - published["started"], 3),
        "first_landed_s": round(times[0], 3),
        "median_landed_s": round(statistics.median(times), 3),
        "last_landed_s": round(times[-1], 3),
        "rows_per_s": round(published["rows"] / seconds),
        "release_mb": round(published["release_bytes"] / 1e6, 1),
        "delivered_rows": published["delivered_rows"],
        "delivered_mb": round(published["delivered_bytes"] / 1e6, 1),
        "publisher_peak_rss_mb": published["peak_rss_mb"],
        "publisher_peak_arrow_mb": published["peak_arrow_mb"],
        "publisher_steps": published["steps"],
        "agent_hosts_rss_mb": {"before": hosts_before, "after": _hosts_rss(fleet)},
    }


def _line(process: subprocess.Popen[str], event: str) -> dict[str, Any]:
    """The publisher's next JSON line, which must be ``event``."""
    line = process.stdout.readline() if process.stdout is not None else ""
    if not line:
        code = process.wait(30)
        raise RuntimeError(f"the publisher exited {code} before {event!r}; see its log")
    said: dict[str, Any] = json.loads(line)
    if said.get("event") != event:
        raise RuntimeError(f"the publisher said {said!r}, not {event!r}")
    return said


def _hosts_rss(fleet: Fleet) -> float:
    """The agent hosts' resident memory now, in MB (summed)."""
    total = 0
    for pid in fleet.host_pids():
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        except OSError:
            continue
        total += next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")
        )
    return round(total / 1024, 1)
