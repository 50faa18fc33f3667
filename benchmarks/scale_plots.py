"""The scale curves of one ``benchmarks/scale.py`` report, as PNG files beside its JSON.

- ``<stem>-fanout.png``: publish -> every receipt against K (ours and the naive peer, with
  the time per subscriber), and the publisher's and the agent hosts' memory against K;
- ``<stem>-release-size.png``: time, throughput and the publisher's peak memory against N;
- ``<stem>-events.png``: announce -> received p50 / p99 / max, ours against bare Kafka, per
  rate;
- ``<stem>-hub-load.png``: deliveries per second and p50 / p99 / max publish -> landed per
  hub database.

A figure whose part did not run is not drawn. Matplotlib draws off-screen (Agg).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def draw(report: dict[str, Any], directory: Path, stem: str) -> list[Path]:
    parts, drawn = report["parts"], []
    title = f"{report['stack']} stack{' (quick sizes)' if report['quick'] else ''}"
    for name, painter in PAINTERS.items():
        try:
            figure = painter(parts, title)
        except (KeyError, IndexError, ValueError):
            continue  # that part did not run, or failed
        path = directory / f"{stem}-{name}.png"
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        drawn.append(path)
    return drawn


def fanout(parts: dict[str, Any], title: str) -> Figure:
    sliced = sorted((r for r in parts["fanout"]["sliced"] if "seconds" in r), key=lambda r: r["k"])
    ks = [run["k"] for run in sliced]
    figure, (times, memory) = plt.subplots(1, 2, figsize=(12, 4.5))
    times.plot(ks, [r["seconds"] for r in sliced], "o-", label="ours: publish -> every receipt")
    times.plot(ks, [r["publish_s"] for r in sliced], "s--", label="ours: the publish call")
    times.plot(ks, [r["last_landed_s"] - r["first_landed_s"] for r in sliced], "^:",
               label="ours: first -> last landing")  # fmt: skip
    naive = {run["k"]: run["seconds"] for run in parts.get("naive", {}).get("runs", [])}
    if naive:
        shown = [k for k in ks if k in naive]
        times.plot(shown, [naive[k] for k in shown], "x-", label="naive peer (same work)")
    _log_k(times, "seconds (log)", f"Sliced fan-out of one {sliced[0]['rows']:,}-row release")
    times.set_yscale("log")
    memory.plot(ks, [r["publisher_peak_rss_mb"] for r in sliced], "o-",
                label="publishing connector: peak RSS")  # fmt: skip
    memory.plot(ks, [r["agent_hosts_rss_mb"]["after"] for r in sliced], "s--",
                label="all agent hosts: RSS after")  # fmt: skip
    _log_k(memory, "MB", "Memory against K")
    figure.suptitle(title)
    return figure


def release_size(parts: dict[str, Any], title: str) -> Figure:
    full = sorted(parts["fanout"]["full"], key=lambda run: run["rows"])
    if len(full) < 2:
        raise ValueError("one size only")
    rows = [run["rows"] for run in full]
    figure, (times, memory) = plt.subplots(1, 2, figsize=(12, 4.5))
    times.plot(rows, [r["seconds"] for r in full], "o-", label="publish -> landed (s)")
    times.plot(rows, [r["publish_s"] for r in full], "s--", label="the publish call (s)")
    throughput = times.twinx()
    throughput.plot(rows, [r["rows_per_s"] / 1e6 for r in full], "^:", color="tab:green",
                    label="rows/s (millions), right")  # fmt: skip
    throughput.set_ylabel("million rows/s")
    throughput.set_ylim(bottom=0)
    _log_n(times, "seconds", "One full delivery against release size")
    throughput.legend(loc="lower right", fontsize=8)
    memory.plot(rows, [r["publisher_peak_rss_mb"] for r in full], "o-", label="publisher peak RSS")
    memory.plot(rows, [r["publisher_peak_arrow_mb"] for r in full], "s--",
                label="publisher Arrow pool peak")  # fmt: skip
    _log_n(memory, "MB", "Memory against release size (flat is the target)")
    memory.set_ylim(bottom=0)
    figure.suptitle(title)
    return figure


def events(parts: dict[str, Any], title: str) -> Figure:
    figure, axis = plt.subplots(figsize=(8, 4.5))
    width, offset = 0.35, {"ours": -0.175, "bare": 0.175}
    labels: list[str] = []
    for path in ("ours", "bare"):
        paced = parts["events"][path]["paced"]
        labels = [f"{p['rate_per_s']}/s" for p in paced]
        for n, quantile in enumerate(("p50_ms", "p99_ms", "max_ms")):
            positions = [i * 3 + n + offset[path] for i in range(len(paced))]
            axis.bar(positions, [p[quantile] for p in paced], width,
                     label=f"{path} {quantile.removesuffix('_ms')}",
                     alpha=0.9 if path == "ours" else 0.5)  # fmt: skip
    axis.set_xticks([i * 3 + 1 for i in range(len(labels))], labels)
    axis.set_ylabel("ms, announce -> received (other process)")
    axis.set_title(f"Event path: signed, outbox, relay, verify vs bare Kafka ({title})")
    axis.legend(fontsize=8, ncol=2)
    return figure


def hub_load(parts: dict[str, Any], title: str) -> Figure:
    load = {db: parts["hub-load"][db] for db in ("sqlite", "postgres") if db in parts["hub-load"]}
    if not load:
        raise ValueError("no hub database measured")
    figure, (rate, latency) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(load)
    rate.bar(names, [load[db]["deliveries_per_s"] for db in names], color="tab:blue")
    rate.axhline(100, color="tab:red", linestyle="--", label="target 100/s")
    rate.set_ylabel("deliveries completed per second")
    rate.set_title("Hub under load")
    rate.legend(fontsize=8)
    for n, quantile in enumerate(("p50_s", "p99_s", "max_s")):
        latency.bar([i * 4 + n for i in range(len(names))],
                    [load[db][quantile] for db in names], 0.9,
                    label=quantile.removesuffix("_s"))  # fmt: skip
    latency.axhline(2.0, color="tab:red", linestyle="--", label="p99 target 2 s")
    latency.set_xticks([i * 4 + 1 for i in range(len(names))], names)
    latency.set_ylabel("seconds, publish start -> landed")
    latency.set_title("Publish -> landed per delivery")
    latency.legend(fontsize=8)
    figure.suptitle(title)
    return figure


def _log_k(axis: Axes, unit: str, title: str) -> None:
    _log_x(axis, "K subscribers (log)", unit, title)


def _log_n(axis: Axes, unit: str, title: str) -> None:
    _log_x(axis, "rows in the release (log)", unit, title)


def _log_x(axis: Axes, label: str, unit: str, title: str) -> None:
    axis.set_xscale("log")
    axis.set_xlabel(label)
    axis.set_ylabel(unit)
    axis.set_title(title)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="upper left", fontsize=8)


PAINTERS = {
    "fanout": fanout,
    "release-size": release_size,
    "events": events,
    "hub-load": hub_load,
}
