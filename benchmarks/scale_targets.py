"""Issue 20's targets, judged on one report of ``benchmarks/scale.py``.

Each target is a ratio or a count from the same run (absolute figures are context only). A
target whose part did not run, or failed, is ``NOT RUN``: never a PASS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Figure = tuple[float, str]  # the value, and the context that explains it


@dataclass(frozen=True)
class Target:
    figure: str
    needs: tuple[str, ...]  # the parts whose results it reads
    relation: str  # ">=" or "<="
    limit: float
    unit: str
    value: Callable[[dict[str, Any]], Figure | None]  # None: not applicable to this run


def targets(report: dict[str, Any]) -> list[dict[str, str]]:
    parts = report["parts"]
    lines = [_judge(parts, target) for target in _targets(report["options"]["ks"])]
    return [line for line in lines if line is not None]


def _judge(parts: dict[str, Any], target: Target) -> dict[str, str] | None:
    wanted = f"{target.relation} {target.limit:g}{target.unit}"
    missing = [part for part in target.needs if part not in parts or "skipped" in parts[part]]
    if missing:
        skipped = [parts[p]["skipped"] for p in missing if p in parts and "skipped" in parts[p]]
        context = skipped[0] if skipped else f"part {', '.join(missing)} did not run or failed"
        return _line(target.figure, "-", wanted, "NOT RUN", context)
    try:
        judged = target.value(parts)
    except (KeyError, IndexError, StopIteration, ZeroDivisionError) as exc:
        return _line(target.figure, "-", wanted, "NOT RUN", f"no figure in the report ({exc!r})")
    if judged is None:
        return None
    measured, context = judged
    holds = measured >= target.limit if target.relation == ">=" else measured <= target.limit
    verdict = "PASS" if holds else "MISS"
    return _line(target.figure, f"{measured:,.2f}{target.unit}", wanted, verdict, context)


def _line(figure: str, measured: str, target: str, verdict: str, context: str) -> dict[str, str]:
    return {
        "figure": figure,
        "measured": measured,
        "target": target,
        "verdict": verdict,
        "context": context,
    }


# -- the figures ------------------------------------------------------------------------------


def _full(parts: dict[str, Any], big: bool = False) -> dict[str, Any]:
    full = sorted(parts["fanout"]["full"], key=lambda run: run["rows"])
    return dict(full[-1] if big else full[0])


def _sliced(parts: dict[str, Any], k: int) -> dict[str, Any]:
    return dict(next(run for run in parts["fanout"]["sliced"] if run["k"] == k))


def _ks(parts: dict[str, Any]) -> list[int]:
    """The K measured (a K that failed is the largest asked for, and is judged as such)."""
    return sorted(run["k"] for run in parts["fanout"]["sliced"])


def ours_vs_raw(parts: dict[str, Any]) -> Figure:
    ours, raw = _full(parts)["seconds"], parts["raw"]["seconds"]
    return raw / ours, f"raw {raw:.2f} s / ours {ours:.2f} s, {_full(parts)['rows']:,} rows"


def split_cost(parts: dict[str, Any]) -> Figure:
    medians = parts["split"]["medians"]
    split, single = medians["split"]["receipted"], medians["single"]["receipted"]
    return split / single, f"split {split:.2f} s / single node {single:.2f} s, both warm"


def vs_floor(parts: dict[str, Any]) -> Figure:
    ours, floor = _full(parts)["seconds"], parts["floor"]["floor_s"]
    slowest = parts["floor"]["slowest"]
    return ours / floor, f"ours {ours:.2f} s / floor {floor:.2f} s ({slowest})"


def marginal(parts: dict[str, Any]) -> Figure | None:
    ks = [k for k in _ks(parts) if k >= 10]
    if len(ks) < 2:
        return None
    low, high = ks[0], ks[1]
    a, b = _sliced(parts, low)["seconds"], _sliced(parts, high)["seconds"]
    per = (b - a) / (high - low) * 1000
    return per, f"K={low}: {a:.2f} s, K={high}: {b:.2f} s"


def _largest(parts: dict[str, Any]) -> int:
    return max(_ks(parts))


def all_landed(parts: dict[str, Any]) -> Figure:
    k = _largest(parts)
    run = _sliced(parts, k)
    if "error" in run:
        return 0.0, f"K={k} did not complete: {run['error'][:150]}"
    landed = run.get("landed", k)  # fanout.deliver waits for k receipts or fails
    return landed / k, f"{landed} of K={k} landed and receipted in {run['seconds']:.1f} s"


def per_subscriber(parts: dict[str, Any]) -> Figure:
    k = _largest(parts)
    seconds = _sliced(parts, k)["seconds"]
    return seconds / k * 1000, f"K={k}: {seconds:.1f} s"


def memory_k(parts: dict[str, Any]) -> Figure | None:
    ks = _ks(parts)
    if len(ks) < 2:
        return None
    big, small = _sliced(parts, ks[-1]), _sliced(parts, ks[-2])
    a, b = small["publisher_peak_rss_mb"], big["publisher_peak_rss_mb"]
    return b / a, f"publisher peak RSS K={ks[-1]}: {b:.0f} MB, K={ks[-2]}: {a:.0f} MB"


def naive_ratio(k: int) -> Callable[[dict[str, Any]], Figure]:
    def ratio(parts: dict[str, Any]) -> Figure:
        naive = next(run for run in parts["naive"]["runs"] if run["k"] == k)["seconds"]
        ours = _sliced(parts, k)["seconds"]
        return naive / ours, f"naive {naive:.2f} s / ours {ours:.2f} s"

    return ratio


def size_memory(parts: dict[str, Any]) -> Figure:
    small, big = _full(parts), _full(parts, big=True)
    a, b = small["publisher_peak_rss_mb"], big["publisher_peak_rss_mb"]
    return (
        b / a,
        f"publisher peak RSS {big['rows']:,} rows: {b:.0f} MB, {small['rows']:,}: {a:.0f} MB",
    )


def size_throughput(parts: dict[str, Any]) -> Figure:
    small, big = _full(parts), _full(parts, big=True)
    a, b = small["rows_per_s"], big["rows_per_s"]
    return b / a, f"{big['rows']:,} rows at {b:,.0f}/s, {small['rows']:,} at {a:,.0f}/s"


def event_p99(parts: dict[str, Any]) -> Figure:
    events = parts["events"]
    ours = max(events["ours"]["paced"], key=lambda p: p["rate_per_s"])
    bare = max(events["bare"]["paced"], key=lambda p: p["rate_per_s"])
    context = (
        f"p99 ours {ours['p99_ms']:.1f} ms / bare {bare['p99_ms']:.1f} ms at {ours['rate_per_s']}/s"
    )
    return ours["p99_ms"] / bare["p99_ms"], context


def event_burst(parts: dict[str, Any]) -> Figure:
    events = parts["events"]
    ours, bare = events["ours"]["events_per_s"], events["bare"]["events_per_s"]
    return float(ours), f"signed, through the outbox, verified; bare Kafka {bare:,.0f}/s"


def hub_rate(database: str) -> Callable[[dict[str, Any]], Figure]:
    def rate(parts: dict[str, Any]) -> Figure:
        figures = parts["hub-load"][database]
        context = (
            f"{figures['subscribers']} subscribers, {figures['releases_per_s']:.2f} releases/s"
        )
        return float(figures["deliveries_per_s"]), context

    return rate


def hub_p99(database: str) -> Callable[[dict[str, Any]], Figure]:
    def p99(parts: dict[str, Any]) -> Figure:
        figures = parts["hub-load"][database]
        context = f"p50 {figures['p50_s']:.2f} s, max {figures['max_s']:.2f} s"
        return float(figures["p99_s"]), context

    return p99


def _targets(ks: list[int]) -> list[Target]:
    return [
        Target("one full delivery: raw path time / ours", ("fanout", "raw"), ">=", 1.5, "×",
               ours_vs_raw),
        Target("the split: hub + connectors / one node", ("split",), "<=", 1.10, "×", split_cost),
        Target("one full delivery / the physical floor", ("fanout", "floor"), "<=", 2.0, "×",
               vs_floor),
        Target("marginal cost per sliced subscriber", ("fanout",), "<=", 20.0, " ms", marginal),
        Target("largest K: share landed and receipted", ("fanout",), ">=", 1.0, "", all_landed),
        Target("largest K: time per subscriber", ("fanout",), "<=", 25.0, " ms", per_subscriber),
        Target("publisher peak RSS: largest K / the K before", ("fanout",), "<=", 2.0, "×",
               memory_k),
        *[
            Target(f"naive peer / ours, K={k}", ("fanout", "naive"), ">=", 2.0, "×",
                   naive_ratio(k))
            for k in ks
        ],
        Target("release size: peak RSS 10·N / N", ("fanout",), "<=", 1.25, "×", size_memory),
        Target("release size: throughput 10·N / N", ("fanout",), ">=", 0.9, "×", size_throughput),
        Target("event p99: ours / bare Kafka", ("events",), "<=", 1.5, "×", event_p99),
        Target("signed events per second, burst", ("events",), ">=", 10_000, "/s", event_burst),
        *[
            Target(f"hub load on {db}: deliveries/s", ("hub-load",), ">=", 100.0, "/s",
                   hub_rate(db))
            for db in ("sqlite", "postgres")
        ],
        *[
            Target(f"hub load on {db}: p99 publish -> landed", ("hub-load",), "<=", 2.0, " s",
                   hub_p99(db))
            for db in ("sqlite", "postgres")
        ],
    ]  # fmt: skip
