"""The hub under load: K subscriber connectors, a small release every second, deliveries
completed per second and publish -> landed latency (issue 20: >= 100/s with p99 <= 2 s for
K = 100, on a hub on SQLite and on one on PostgreSQL).

Per hub database, a :mod:`benchmarks.fleet` of K subscribers with agreements on one sliced
product, their agents running in agent hosts; one warm-up release lands first (this process
imports GX, every agent makes its connections). Then this process publishes the same input
(``rows`` rows over 1,000 suppliers: each of the first 100 subscribers gets ~rows/1000) once a
second for ``seconds`` s, as the provider's connector does (``publish_from_connector``); a
publish that takes longer than a second is followed at once by the next. When every delivery
has landed:

- ``deliveries_per_s``: landed deliveries / (last landed_at - first publish start);
- ``cpu_ms_per_delivery``: CPU of the hub, the provider's connector, this process and each agent
  host over the timed window, per landed delivery (the stack's engines not counted);
- ``latency_s`` (and ``p50_s``, ``p99_s``, ``max_s``): publish start -> the hub's
  ``landed_at`` of each delivery;
- ``releases_per_s`` (achieved), ``publish_s`` (p50/max of one publish call);
- where the time goes: ``segments_s`` (publish start -> the hub recorded the delivery, its
  ``created_at``; recorded -> landed), ``hub_requests`` (the hub's access log in the timed
  window, per route: count, p50/p99 ms, total s) and, with ``profile_hub``, ``hub_profile``:
  a sampling profile of the hub process (every thread's stack every 10 ms, taken in the hub by
  a ``sitecustomize`` this module writes; py-spy is not available, and cProfile sees only the
  main thread, not the worker threads that run the API's handlers); its ``waiting`` counts the
  samples of threads waiting for SQLite's writer turn or the receipts' group commit, apart.

``hub_source`` (``--hub-source DIR``) runs the hub alone on another source tree (DIR first on
its PYTHONPATH, holding a changed ``dataspace`` package), to measure a proposed product change.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from benchmarks.fleet import Fleet, open_fleet
from benchmarks.scale_stack import BenchStack, open_stack
from benchmarks.scale_world import write_artifacts, write_input
from dataspace.connector.release_desk import publish_from_connector
from dataspace.connector.state import open_connector
from dataspace.store.models import DeliveryRow, ReleaseRow

OPTIONS: dict[str, Any] = {
    "subscribers": 100,
    "seconds": 30,
    "rows": 100_000,
    "hub_databases": ["sqlite", "postgres"],
    "per_host": 25,
    "profile_hub": True,
    "input": None,  # a Parquet file of ``rows`` rows (scale_world.write_input); else written
    "hub_source": None,  # a directory holding a changed `dataspace` package for the hub only
}
QUICK = {**OPTIONS, "subscribers": 10, "seconds": 5}
TARGET_PER_S, TARGET_P99_S = 100.0, 2.0
LAND_TIMEOUT_SECONDS = 600.0
SAMPLES_ENV = "BENCH_HUB_SAMPLES"  # not DATASPACE_*: the hub's settings would refuse it
ID = re.compile(r"/(?=[^/]*\d)[^/]+")  # a path segment with a digit is an id


def measure(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """{hub database: figures} for each of ``options["hub_databases"]``."""
    given = {**OPTIONS, **options}
    root.mkdir(parents=True, exist_ok=True)
    if given.get("input"):  # the runner's input of ``rows`` rows, written once for every part
        source = Path(given["input"])
    else:
        source = root / "hub-load-input.parquet"
        write_input(int(given["rows"]), source)
    return {
        database: under_load(stack, root / f"hub-load-{database}", source, database, given)
        for database in given["hub_databases"]
    }


def under_load(
    stack: BenchStack, root: Path, source: Path, database: str, options: dict[str, Any]
) -> dict[str, Any]:
    """One fleet on a hub on ``database``, loaded for ``options["seconds"]`` s. The product
    is named after the database: fleets on one stack share the provider's bucket."""
    k, started, product = int(options["subscribers"]), time.perf_counter(), f"hub-load-{database}"
    samples = root / "hub-samples"
    samples.mkdir(parents=True, exist_ok=True)
    environment = _sampler(samples) if options["profile_hub"] else {}
    if options.get("hub_source"):  # a changed copy of the product, tried on the hub alone
        path = [str(options["hub_source"]), environment.get("PYTHONPATH", "")]
        environment["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    with open_fleet(stack, root, k, hub_database=database, hub_environment=environment) as fleet:
        fleet.offer(product, k, sliced=True)
        setup_s = time.perf_counter() - started
        agents_s = fleet.run_agents(k, per_host=int(options["per_host"]))
        with open_connector(fleet.provider.state) as provider:
            warm = _publish(provider, product, source)
            fleet.wait_landed(product, warm["version"], k, LAND_TIMEOUT_SECONDS)
            profiler = cProfile.Profile()
            processes = _processes(fleet)
            cpu_before = _cpu(processes)
            (samples / "start").touch()
            publishes = _load(provider, product, source, int(options["seconds"]), profiler)
        for done in publishes:
            fleet.wait_landed(product, done["version"], k, LAND_TIMEOUT_SECONDS)
        (samples / "stop").touch()
        cpu = {name: _cpu(processes)[name] - cpu_before[name] for name in processes}
        figures = _figures(fleet, product, publishes, k)
        access_log = fleet.space.hub_state / "logs" / "hub-access.log"
        figures["hub_requests"] = _requests(access_log, publishes[0]["started"])
        figures["segments_s"] = _segments(fleet, product, publishes)
        figures["publish_profile"] = _top(profiler, len(publishes))
        figures["hub_profile"] = _hub_profile(samples / f"{fleet.space.pid('hub')}.json")
        figures["agent_hosts"] = fleet.stop_agents()
        figures["cpu_ms_per_delivery"] = {
            name: round(seconds * 1000 / max(1, figures["landed"]), 1)
            for name, seconds in {**cpu, "all": sum(cpu.values())}.items()
        }
    return {
        "subscribers": k,
        "per_host": options["per_host"],
        "rows": options["rows"],
        "setup_s": round(setup_s, 1),
        "agents_start_s": round(agents_s, 1),
        **figures,
    }


def _processes(fleet: Fleet) -> dict[str, int]:
    """The fleet's processes whose CPU time is counted (the stack's engines are not)."""
    named = {
        "hub": fleet.space.pid("hub"),
        "provider_serve": fleet.space.pid(f"{fleet.provider.participant}-serve"),
        "publisher": os.getpid(),  # this process: publishing, and polling the hub's database
    }
    return named | {f"agent_host_{n}": pid for n, pid in enumerate(fleet.host_pids(), 1)}


def _cpu(processes: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each process has used so far (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in processes.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return used


def _hub_profile(path: Path) -> Any:
    """What the hub's sampler wrote at the stop mark (it looks every 10 ms)."""
    deadline = time.monotonic() + 5.0
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return json.loads(path.read_text()) if path.exists() else None


def _publish(provider: Any, product: str, source: Path) -> dict[str, Any]:
    started = time.time()
    summary = publish_from_connector(provider, product_id=product, source=source)
    ended = time.time()
    views = [line.rows for line in summary.delivered]
    return {"version": summary.version, "started": started, "ended": ended, "views": views}


def _load(
    provider: Any, product: str, source: Path, seconds: int, profiler: cProfile.Profile
) -> list[dict[str, Any]]:
    """A publish a second (or at once after one that took longer) for ``seconds`` s, each
    under ``profiler`` (a publish runs in this thread only)."""
    first, publishes = time.time(), []
    for tick in range(seconds):
        time.sleep(max(0.0, first + tick - time.time()))
        profiler.enable()
        try:
            publishes.append(_publish(provider, product, source))
        finally:
            profiler.disable()
    return publishes


def _top(profiler: cProfile.Profile, releases: int) -> dict[str, list[list[Any]]]:
    """The publish's own functions by cumulative seconds, and every function by its own
    seconds, per release."""
    table = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = [
        (f"{Path(file).name}:{function}", own / releases, cumulative / releases, file)
        for (file, _, function), (_, _, own, cumulative, _) in table.items()
    ]
    ours = sorted((r for r in rows if "/dataspace/" in r[3]), key=lambda r: -r[2])[:25]
    own = sorted(rows, key=lambda r: -r[1])[:15]
    return {
        "cumulative_s": [[name, round(c, 4)] for name, _, c, _ in ours],
        "own_s": [[name, round(o, 4)] for name, o, _, _ in own],
    }


def _figures(fleet: Fleet, product: str, publishes: list[dict[str, Any]], k: int) -> dict[str, Any]:
    latencies, landed = [], []
    for done in publishes:
        times = fleet.landed_times(product, done["version"])
        landed += times
        latencies += [moment - done["started"] for moment in times]
    began = publishes[0]["started"]
    per_s = len(landed) / (max(landed) - began)
    p99, spread = _quantile(latencies, 0.99), _spread(latencies)
    durations = [done["ended"] - done["started"] for done in publishes]
    views = [rows for done in publishes for rows in done["views"]]
    return {
        "releases": len(publishes),
        "deliveries": len(publishes) * k,
        "landed": len(landed),
        "deliveries_per_s": round(per_s, 1),
        "latency_s": spread,
        "p50_s": spread["p50"],
        "p99_s": spread["p99"],
        "max_s": spread["max"],
        "releases_per_s": round(len(publishes) / (publishes[-1]["ended"] - began), 2),
        "publish_s": {
            "p50": round(statistics.median(durations), 3),
            "max": round(max(durations), 3),
        },
        "view_rows_mean": round(statistics.fmean(views), 1) if views else 0,
        "passed": per_s >= TARGET_PER_S and p99 <= TARGET_P99_S,
    }


def _segments(fleet: Fleet, product: str, publishes: list[dict[str, Any]]) -> dict[str, Any]:
    """Publish start -> the hub recorded the delivery (created_at) -> landed (landed_at)."""
    started = {done["version"]: done["started"] for done in publishes}
    query = (
        select(ReleaseRow.version, DeliveryRow.created_at, DeliveryRow.landed_at)
        .join(ReleaseRow, ReleaseRow.id == DeliveryRow.release_id)
        .where(ReleaseRow.product_id == product, ReleaseRow.version.in_(started))
    )
    with fleet.hub.transaction(read_only=True) as session:
        rows = session.execute(query).all()
    recorded = [created.timestamp() - started[version] for version, created, _ in rows]
    landing = [
        landed.timestamp() - created.timestamp()
        for _, created, landed in rows
        if landed is not None
    ]
    return {"publish_to_recorded": _spread(recorded), "recorded_to_landed": _spread(landing)}


def _requests(access_log: Path, since: float) -> dict[str, dict[str, float]]:
    """The hub's requests from ``since`` on, per route (ids replaced by ``{id}``)."""
    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since))
    times: dict[str, list[float]] = {}
    for line in access_log.read_text("utf-8").splitlines():
        parts = line.split(" ")
        if len(parts) < 6 or parts[0] < moment:
            continue
        method, path = parts[2].strip('"'), parts[3].strip('"').split("?")[0]
        route = f"{method} {ID.sub('/{id}', path)}"
        times.setdefault(route, []).append(float(parts[5].removesuffix("ms")))
    return {
        route: {
            "count": len(ms),
            "p50_ms": round(_quantile(ms, 0.5), 1),
            "p99_ms": round(_quantile(ms, 0.99), 1),
            "total_s": round(sum(ms) / 1000, 2),
        }
        for route, ms in sorted(times.items(), key=lambda item: -sum(item[1]))
    }


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(_quantile(values, 0.5), 3),
        "p99": round(_quantile(values, 0.99), 3),
        "max": round(max(values), 3) if values else float("nan"),
    }


# -- a sampling profile of the hub process ----------------------------------------------------

SAMPLER = '''"""Written by benchmarks/hub_load.py: sample every thread's stack while this runs."""
import collections, json, os, sys, threading, time

# A thread whose innermost Python frame is one of these waits (in C) and is not counted.
IDLE = {("threading.py", "wait"), ("selectors.py", "select"), ("thread.py", "_worker"),
        ("queue.py", "get"), ("_asyncio.py", "run"), ("runners.py", "run"),
        ("threading.py", "_wait_for_tstate_lock")}
# The product's own lock waits: counted apart, so that "inclusive" is (mostly) running code.
WAITS = {("db.py", "_turn"): "sqlite writer turn", ("group_commit.py", "run"): "group commit"}


def _where(frame):
    return (os.path.basename(frame.f_code.co_filename), frame.f_code.co_name)


def _sample(directory, every=0.01):
    out, me = directory / f"{os.getpid()}.json", threading.get_ident()
    busy, leaves, counts = collections.Counter(), collections.Counter(), collections.Counter()
    waiting = collections.Counter()
    counting = False  # from the "start" mark to the "stop" mark the benchmark leaves

    def dump():
        top = lambda c, n: [[f"{f}:{fn}", v] for (f, fn), v in c.most_common(n)]
        out.write_text(json.dumps({
            "interval_s": every, "samples": counts["samples"], "busy": counts["busy"],
            "waiting": dict(waiting), "inclusive": top(busy, 40), "leaves": top(leaves, 25)}))

    # Written at the stop mark: uvicorn re-raises the SIGTERM it handled, so atexit never runs.
    while not (directory / "stop").exists():
        time.sleep(every)
        if not counting:
            counting = (directory / "start").exists()
            continue
        counts["samples"] += 1
        for ident, frame in sys._current_frames().items():
            if ident == me or _where(frame) in IDLE:
                continue
            if _where(frame) in WAITS:
                waiting[WAITS[_where(frame)]] += 1
                continue
            counts["busy"] += 1
            leaves[_where(frame)] += 1
            seen = set()
            while frame is not None:
                seen.add(_where(frame))
                frame = frame.f_back
            busy.update(seen)
    if counting:
        dump()


if os.environ.get("BENCH_HUB_SAMPLES"):
    _directory = __import__("pathlib").Path(os.environ["BENCH_HUB_SAMPLES"])
    _directory.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_sample, args=(_directory,), daemon=True).start()
'''


def _sampler(samples: Path) -> dict[str, str]:
    """The hub's environment that makes it profile itself into ``samples/<pid>.json``."""
    code = samples.parent / "hub-sampler"
    code.mkdir(parents=True, exist_ok=True)
    (code / "sitecustomize.py").write_text(SAMPLER, "utf-8")
    return {"PYTHONPATH": str(code), SAMPLES_ENV: str(samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description="The hub under load (issue 20).")
    parser.add_argument("--quick", action="store_true", help="10 subscribers, 5 s")
    parser.add_argument("--databases", default=None, help="e.g. sqlite or sqlite,postgres")
    parser.add_argument("--hub-source", default=None, help="run the hub on this source tree")
    parser.add_argument("--subscribers", type=int, default=None)
    parser.add_argument("--seconds", type=int, default=None)
    args = parser.parse_args()
    options = dict(QUICK if args.quick else OPTIONS)
    if args.databases:
        options["hub_databases"] = args.databases.split(",")
    for name in ("hub_source", "subscribers", "seconds"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    with tempfile.TemporaryDirectory(prefix="hub-load-") as scratch:
        root = Path(scratch)
        with open_stack("embedded", root, write_artifacts(root / "artifacts")) as stack:
            print(json.dumps(measure(stack, root, options), indent=2))


if __name__ == "__main__":
    main()
