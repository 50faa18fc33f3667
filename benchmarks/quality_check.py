"""Quality-check benchmark (not a test): re-validating a stored release on the embedded S3.

    .venv/bin/python benchmarks/quality_check.py [--rows 1000000]

Starts its own embedded stack in a temporary directory, writes one purchase-orders release of
``--rows`` rows, then measures, each in a fresh child process (so peak RSS is that phase's):

- raw:        read the stored object whole and hash it (the store's read speed: the limit);
- hash+gate:  :func:`dataspace.operations.quality.revalidate`, i.e. what the daily check does
              per product: hash the object, then stream it through the GX gate in batches.

Prints seconds, MB/s of stored Parquet, peak RSS and the ratio to raw, as a table and JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from dataspace.config import load_settings  # noqa: E402
from dataspace.dataplane.release import write_release  # noqa: E402
from dataspace.demo_data import PURCHASE_ORDERS_SCHEMA  # noqa: E402
from dataspace.operations.quality import revalidate  # noqa: E402
from dataspace.operations.stores import release_store  # noqa: E402
from dataspace.stack.ports import free_port, free_port_block  # noqa: E402
from dataspace.stack.stack import Stack  # noqa: E402

BATCH = 64 * 1024
MB = 1e6
PRODUCT = "purchase-orders"
SUITE = ROOT / "expectations" / "purchase_orders.json"


def batches(rows: int) -> Iterator[pa.RecordBatch]:
    rng = np.random.default_rng(7)
    for start in range(0, rows, BATCH):
        n = min(BATCH, rows - start)
        numbers = np.arange(start, start + n)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array([f"2026-W{1 + k % 52:02d}" for k in numbers % 52]),
                pa.array([f"supplier-{k:02d}" for k in numbers % 100]),
                pa.array([f"P-{k:05d}" for k in numbers % 5000]),
                pa.array(rng.integers(1, 400, n)),
                pa.array(rng.uniform(1, 900, n).round(2)),
            ],
            schema=PURCHASE_ORDERS_SCHEMA,
        )


def phase(name: str, key: str, sha256: str) -> dict[str, Any]:
    store = release_store(load_settings())
    started = time.perf_counter()
    if name == "raw":
        with store.open_input(key) as source:
            ok = hashlib.sha256(source.read()).hexdigest() == sha256
    else:
        checked = revalidate(store, 1, key, sha256, suite_path=SUITE)
        ok = checked.intact and checked.report.passed
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"phase": name, "seconds": round(seconds, 3), "ok": ok, "peak_rss_mb": round(peak / MB)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--sha256", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.key, args.sha256)))
        return
    with tempfile.TemporaryDirectory() as state:
        settings = load_settings(
            state_dir=Path(state), kafka_port=free_port(), s3_port=free_port_block(4)
        )
        stack = Stack(settings)
        stack.up()
        try:
            stored = write_release(
                release_store(settings), PRODUCT, 1, PURCHASE_ORDERS_SCHEMA, batches(args.rows)
            )
            env = settings.environment()
            results = [
                _child(name, stored.key, stored.sha256, env) for name in ("raw", "hash+gate")
            ]
        finally:
            stack.down()
    _report(args.rows, stored.bytes, results)


def _child(name: str, key: str, sha256: str, env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", name, "--key", key, "--sha256", sha256]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _report(rows: int, size: int, results: list[dict[str, Any]]) -> None:
    raw = results[0]["seconds"]
    print(f"{rows:,} rows, {size / MB:.1f} MB of Parquet")
    print(f"{'phase':<10} {'seconds':>8} {'MB/s':>8} {'peak RSS MB':>12} {'x raw':>6}")
    for item in results:
        item["mb_per_s"] = round(size / MB / item["seconds"], 1)
        item["x_raw"] = round(item["seconds"] / raw, 1)
        print(
            f"{item['phase']:<10} {item['seconds']:>8} {item['mb_per_s']:>8} "
            f"{item['peak_rss_mb']:>12} {item['x_raw']:>6}"
        )
    print(json.dumps({"rows": rows, "bytes": size, "results": results}))


if __name__ == "__main__":
    main()
