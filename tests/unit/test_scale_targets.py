"""benchmarks/scale_targets.py: how issue 20's figures are judged from one report.

The benchmark's figures are measured by ``benchmarks/scale.py``, never here; this checks only
that a figure is judged against its target the right way round, that a part that did not run
is never a PASS, and that the marginal cost reads the right pair of K.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.scale_targets import targets


def _run(k: int, seconds: float, rss: float = 500.0, rows: int = 1_000_000) -> dict[str, Any]:
    return {
        "k": k,
        "rows": rows,
        "seconds": seconds,
        "publisher_peak_rss_mb": rss,
        "rows_per_s": rows / seconds,
    }


def _report(**parts: Any) -> dict[str, Any]:
    return {"options": {"ks": [1, 10, 100, 1000]}, "parts": parts}


def _verdicts(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {line["figure"]: (line["verdict"], line["measured"]) for line in targets(report)}


FANOUT = {
    "full": [_run(1, 2.0), _run(1, 21.0, rss=560.0, rows=10_000_000)],
    "sliced": [_run(1, 2.0), _run(10, 2.2), _run(100, 3.1), _run(1000, 30.0, rss=1200.0)],
}


def test_ratios_are_judged_the_right_way_round() -> None:
    floor = {"floor_s": 0.8, "slowest": "put"}
    verdicts = _verdicts(_report(fanout=FANOUT, raw={"seconds": 3.2}, floor=floor))
    assert verdicts["one full delivery: raw path time / ours"] == ("PASS", "1.60×")
    assert verdicts["one full delivery / the physical floor"] == ("MISS", "2.50×")
    # (3.1 - 2.2) s over 90 more subscribers: 10 ms each
    assert verdicts["marginal cost per sliced subscriber"] == ("PASS", "10.00 ms")
    assert verdicts["largest K: time per subscriber"] == ("MISS", "30.00 ms")
    assert verdicts["release size: peak RSS 10·N / N"] == ("PASS", "1.12×")
    assert verdicts["release size: throughput 10·N / N"] == ("PASS", "0.95×")


def test_memory_at_the_largest_k_is_compared_with_the_k_before() -> None:
    verdicts = _verdicts(_report(fanout=FANOUT))
    assert verdicts["publisher peak RSS: largest K / the K before"] == ("MISS", "2.40×")


def test_a_part_that_did_not_run_is_never_a_pass() -> None:
    verdicts = _verdicts(_report(fanout=FANOUT, split={"skipped": "embedded stack only"}))
    assert verdicts["one full delivery: raw path time / ours"][0] == "NOT RUN"
    assert verdicts["the split: hub + connectors / one node"][0] == "NOT RUN"
    assert verdicts["signed events per second, burst"][0] == "NOT RUN"
    assert verdicts["hub load on postgres: p99 publish -> landed"][0] == "NOT RUN"
    lines = {line["figure"]: line for line in targets(_report(split={"skipped": "embedded only"}))}
    assert lines["the split: hub + connectors / one node"]["context"] == "embedded only"


def test_a_part_without_the_figure_is_not_run_rather_than_an_error() -> None:
    verdicts = _verdicts(_report(fanout=FANOUT, naive={"runs": [{"k": 10, "seconds": 9.0}]}))
    assert verdicts["naive peer / ours, K=10"] == ("PASS", "4.09×")
    assert verdicts["naive peer / ours, K=100"][0] == "NOT RUN"


def test_hub_load_is_judged_per_database() -> None:
    load = {
        "sqlite": {"subscribers": 100, "releases_per_s": 1.0, "deliveries_per_s": 64.0,
                   "p50_s": 0.9, "p99_s": 2.6, "max_s": 3.0},
        "postgres": {"subscribers": 100, "releases_per_s": 1.0, "deliveries_per_s": 101.0,
                     "p50_s": 0.5, "p99_s": 1.4, "max_s": 1.9},
    }  # fmt: skip
    verdicts = _verdicts(_report(**{"hub-load": load}))
    assert verdicts["hub load on sqlite: deliveries/s"] == ("MISS", "64.00/s")
    assert verdicts["hub load on sqlite: p99 publish -> landed"] == ("MISS", "2.60 s")
    assert verdicts["hub load on postgres: deliveries/s"] == ("PASS", "101.00/s")
    assert verdicts["hub load on postgres: p99 publish -> landed"] == ("PASS", "1.40 s")
