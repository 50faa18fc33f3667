"""Data-plane benchmark (not a test): release + K sliced views on the embedded S3.

    .venv/bin/python benchmarks/dataplane.py [--rows 1000000] [--suppliers 100]

Starts its own embedded stack in a temporary directory, and in one run measures, each phase in
a fresh child process (so that peak RSS belongs to that phase alone):

- raw:      plain ``pq.write_table`` of the same rows (materialised) to the same S3: the limit;
- release:  ``write_release`` streaming from a batch generator;
- views K:  ``derive_views`` for K = 1, 10, 100 sliced subscribers (row filter + hash mask);
- release and views K=100 again at a quarter of the rows, to show that memory does not grow;
- partition: one ``partition`` per batch against one filter per subscriber, per batch; and
  the owners' rows then taken one take per owner against one gather (``split_rows``).

Prints a table and JSON: seconds, MB/s of Arrow data, peak RSS, peak Arrow pool bytes, ratios.
"""

from __future__ import annotations

import argparse
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

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from benchmarks import synthetic  # noqa: E402
from benchmarks.synthetic import BATCH  # noqa: E402
from dataspace.adapters.s3 import arrow_filesystem, ensure_bucket, minio_client  # noqa: E402
from dataspace.config import load_settings  # noqa: E402
from dataspace.dataplane.layout import release_key  # noqa: E402
from dataspace.dataplane.objects import ObjectStore  # noqa: E402
from dataspace.dataplane.parquet_io import WRITER_OPTIONS  # noqa: E402
from dataspace.dataplane.release import write_release  # noqa: E402
from dataspace.dataplane.slicing import filter_each, partition, split_rows  # noqa: E402
from dataspace.dataplane.views import ViewRequest, derive_views  # noqa: E402
from dataspace.policy.model import Mask, ViewSpec  # noqa: E402
from dataspace.policy.vocabulary import MaskMethod  # noqa: E402
from dataspace.stack.ports import free_port, free_port_block  # noqa: E402
from dataspace.stack.stack import Stack  # noqa: E402

MB = 1e6
PRODUCT = "purchase-orders"


def batches(rows: int, suppliers: int) -> Iterator[pa.RecordBatch]:
    """The shared synthetic orders, suppliers ``sup-000`` ... ``sup-<suppliers - 1>``."""
    return synthetic.batches(rows, suppliers, first_supplier=0)


def requests(count: int) -> list[ViewRequest]:
    spec = ViewSpec(
        columns=(
            "order_id",
            "supplier_id",
            "sku",
            "week",
            "quantity",
            "unit_price",
            "contact_phone",
        ),
        masks=(Mask("contact_phone", MaskMethod.HASH),),
        row_filter_column="supplier_id",
    )
    return [ViewRequest(f"sup-{n:03d}", f"agr-{n:03d}", spec, b"salt-%d" % n) for n in range(count)]


def phase(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one phase in this process and report its own measurements."""
    settings = load_settings(
        state_dir=args.state_dir, kafka_port=args.kafka_port, s3_port=args.s3_port
    )
    store = ObjectStore(arrow_filesystem(settings.s3()), "bench")
    arrow_bytes = sum(batch.nbytes for batch in batches(min(args.rows, BATCH), args.suppliers))
    arrow_bytes = arrow_bytes * args.rows / min(args.rows, BATCH)
    version = args.rows  # one release per size
    started = time.perf_counter()
    if name == "raw":
        table = pa.Table.from_batches(list(batches(args.rows, args.suppliers)))
        started = time.perf_counter()  # the raw path is given the rows in memory
        pq.write_table(
            table,
            store.path(f"raw/{args.rows}.parquet"),
            filesystem=store.filesystem,
            row_group_size=128 * 1024,
            **WRITER_OPTIONS,
        )
        written = store.filesystem.get_file_info(store.path(f"raw/{args.rows}.parquet")).size
    elif name == "release":
        schema = next(batches(1, args.suppliers)).schema
        stored = write_release(store, PRODUCT, version, schema, batches(args.rows, args.suppliers))
        written = stored.bytes
    else:
        count = int(name.split("-")[1])
        manifest = store.manifest(release_key(PRODUCT, version))
        if manifest is None:
            raise SystemExit("run the release phase first")
        views = derive_views(
            store, manifest.object, requests(count), product=f"views-{count}", version=version
        )
        written = sum(view.stored.bytes for view in views)
    seconds = time.perf_counter() - started
    return {
        "phase": name,
        "rows": args.rows,
        "seconds": round(seconds, 3),
        "arrow_mb": round(arrow_bytes / MB, 1),
        "mb_per_s": round(arrow_bytes / MB / seconds, 1),
        "written_mb": round(written / MB, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_arrow_mb": round(pa.default_memory_pool().max_memory() / MB, 1),
    }


def partition_benchmark(suppliers: int) -> dict[str, Any]:
    batch = next(batches(BATCH, suppliers))
    column = batch.column("supplier_id")
    owners = [f"sup-{n:03d}" for n in range(suppliers)]
    runs = partition(column, owners)
    work = {
        "partition": lambda: partition(column, owners),
        "filter_each": lambda: filter_each(column, owners),
        # the owners' rows once partitioned: one take per owner, or one gather + slices
        "take_each": lambda: [batch.take(run) for run in runs],
        "split_rows": lambda: split_rows(batch, runs),
    }
    timings = {}
    for label, function in work.items():
        function()  # warm the allocator
        started = time.perf_counter()
        for _ in range(5):
            function()
        timings[label] = round((time.perf_counter() - started) / 5 * 1000, 2)
    return {"batch_rows": BATCH, "owners": suppliers, "ms_per_batch": timings}


def child(name: str, rows: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--phase",
        name,
        "--rows",
        str(rows),
        "--suppliers",
        str(args.suppliers),
        "--state-dir",
        str(args.state_dir),
        "--kafka-port",
        str(args.kafka_port),
        "--s3-port",
        str(args.s3_port),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_all(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="dataplane-bench-") as state:
        args.state_dir = Path(state)
        args.kafka_port, args.s3_port = free_port(), free_port_block(4)
        settings = load_settings(
            state_dir=args.state_dir, kafka_port=args.kafka_port, s3_port=args.s3_port
        )
        stack = Stack(settings)
        stack.up()
        try:
            ensure_bucket(minio_client(settings.s3()), "bench")
            results = []
            for rows in (args.rows, args.rows // 4):
                phases = ["raw", "release", "views-1", "views-10", "views-100"]
                if rows != args.rows:
                    phases = ["release", "views-100"]
                results += [child(name, rows, args) for name in phases]
        finally:
            stack.down()
    report(results, partition_benchmark(args.suppliers), args.rows)


def report(results: list[dict[str, Any]], partitioning: dict[str, Any], rows: int) -> None:
    raw = next(r for r in results if r["phase"] == "raw")
    for result in results:
        result["time_vs_raw"] = round(result["seconds"] / raw["seconds"], 2)
    print(
        f"{'phase':<10}{'rows':>9}{'s':>8}{'MB/s':>8}{'out MB':>8}{'RSS MB':>8}"
        f"{'Arrow MB':>9}{'×raw':>7}"
    )
    for r in results:
        print(
            f"{r['phase']:<10}{r['rows']:>9}{r['seconds']:>8}{r['mb_per_s']:>8}{r['written_mb']:>8}"
            f"{r['peak_rss_mb']:>8}{r['peak_arrow_mb']:>9}{r['time_vs_raw']:>7}"
        )
    print(
        f"partition of one {BATCH}-row batch for {partitioning['owners']} owners (ms):",
        partitioning["ms_per_batch"],
    )
    print(json.dumps({"rows": rows, "phases": results, "partitioning": partitioning}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--suppliers", type=int, default=100)
    parser.add_argument("--phase")
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--kafka-port", type=int)
    parser.add_argument("--s3-port", type=int)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args)))
    else:
        run_all(args)


if __name__ == "__main__":
    main()
