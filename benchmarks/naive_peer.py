"""The peers ``benchmarks/scale.py`` compares the product with, each across processes.

- :func:`measure`: the naive peer doing the same work as ours. pandas reads the input,
  validates it with the same GX suite (Great Expectations 1.x, the plain way: an ephemeral
  context, a pandas data source, the suite, a validation definition), writes the whole
  release with s3fs, then each subscriber's slice (``frame[frame.supplier_id == s]``), then
  sends one JSON message per subscriber on one topic; each subscriber reads its slice with
  pandas through s3fs and counts its rows;
- :func:`measure_raw`: the hand-written path, one subscriber of the whole release:
  ``pq.write_table`` to the store, one message, download, SHA-256, land, read back.

The publishing side runs in a fresh child process per run (``python -m
benchmarks.naive_peer --child``), so its peak RSS is its own; the subscribers run in
``benchmarks/naive_subscriber.py`` hosts of up to ``per_host`` subscribers each. By default
a host has one consumer (``consumers="host"``) that hands each of its subscribers its message
in a thread of its own: what one writes to serve many subscribers from one process, and
the peer's strongest form (``"subscriber"``, one consumer and group per subscriber, costs
the idle consumers' fetches and heartbeats: at K = 1,000 on the embedded Tansu they kept
two cores busy and lost their sessions). Importing pandas, s3fs and GX, building the GX context,
the s3fs filesystem and the Kafka producer happen before the clock, as they do for ours (a
long-running publisher holds them). The clock runs from the start of the publish to the last
subscriber's read, in ``time.time()`` of the processes of one machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow.parquet as pq
from confluent_kafka import Producer

from benchmarks.memory import peak_rss_mb
from dataspace.dataplane.parquet_io import ROW_GROUP_ROWS, WRITER_OPTIONS

if TYPE_CHECKING:
    from benchmarks.scale_stack import BenchStack
    from dataspace.config import S3Endpoint, Settings

ROOT = Path(__file__).resolve().parent.parent
NAIVE_BUCKET, RAW_BUCKET = "bench-naive", "bench-raw"
PER_HOST = 100
RUN_TIMEOUT_S = 1800.0
CONSUMERS = ("host", "subscriber")  # see the module docstring


def measure(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The naive peer for each K of ``options['ks']`` on the input ``options['input']``."""
    # Imported here, not above: the publishing child imports this module, and its RSS is
    # the measured peer's own.
    from benchmarks.scale_world import SCHEMA, supplier  # noqa: PLC0415

    source, per_host = Path(options["input"]), int(options.get("per_host", PER_HOST))
    consumers = options.get("consumers", CONSUMERS[0])
    if consumers not in CONSUMERS:
        raise ValueError(f"consumers is one of {CONSUMERS}, not {consumers!r}")
    rows_of = _rows_per_supplier(source)
    _ensure_bucket(stack.settings.s3(), NAIVE_BUCKET)
    runs = []
    for k in options["ks"]:
        subscribers = [supplier(number) for number in range(1, k + 1)]
        prefix = f"{stack.run}/k{k}"
        job = {
            "mode": "naive",
            "input": str(source),
            "suite": str(stack.settings.expectations_dir / f"{SCHEMA}.json"),
            "bucket": NAIVE_BUCKET,
            "prefix": prefix,
            "subscribers": subscribers,
            "consumers": consumers,
        }
        try:
            run = _run(stack, root / f"naive-k{k}", job, per_host)
        finally:
            _remove_prefix(stack.settings.s3(), NAIVE_BUCKET, prefix)
        expected = sum(rows_of.get(s, 0) for s in subscribers)
        if run["rows_read"] != expected:
            raise RuntimeError(f"naive K={k}: read {run['rows_read']} rows, not {expected}")
        runs.append({"k": k, "rows_expected": expected, **run})
    return {"rows": options.get("rows"), "consumers": consumers, "per_host": per_host, "runs": runs}


def measure_raw(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """The hand-written path for the input ``options['input']``, one subscriber."""
    _ensure_bucket(stack.settings.s3(), RAW_BUCKET)
    prefix = f"{stack.run}/raw"
    job = {
        "mode": "raw",
        "input": str(options["input"]),
        "bucket": RAW_BUCKET,
        "prefix": prefix,
        "subscribers": ["raw"],
    }
    try:
        run = _run(stack, root / "raw", job, 1)
    finally:
        _remove_prefix(stack.settings.s3(), RAW_BUCKET, prefix)
    rows = pq.ParquetFile(options["input"]).metadata.num_rows
    if run["rows_read"] != rows:
        raise RuntimeError(f"raw: read {run['rows_read']} rows back, not {rows}")
    return {"rows": rows, **run}


# -- one run: subscriber hosts, then the publishing child --------------------------------------


def _run(stack: BenchStack, directory: Path, job: dict[str, Any], per_host: int) -> dict[str, Any]:
    from dataspace.adapters.kafka import ensure_topics  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    settings, subscribers = stack.settings, job["subscribers"]
    topic = f"bench-{job['mode']}-{stack.run}-{directory.name}"  # one topic, fresh per run
    ensure_topics(settings, [topic])
    connection = _connection(settings)
    groups = [subscribers[i : i + per_host] for i in range(0, len(subscribers), per_host)]
    with _hosts(directory, topic, groups, job, connection) as hosts:
        started = time.perf_counter()
        for host in hosts:
            host.wait_ready()
        join_s = time.perf_counter() - started
        child = _child(directory, {**job, **connection, "topic": topic})
        reports = [host.result() for host in hosts]
    done = {name: figures for report in reports for name, figures in report["done"].items()}
    errors = [error for report in reports for error in report["errors"]]
    if errors or len(done) != len(subscribers):
        raise RuntimeError(f"{len(done)} of {len(subscribers)} subscribers read; {errors[:3]}")
    last = max(figures["t"] for figures in done.values())
    reads = sorted(figures["read_s"] for figures in done.values())
    return {
        "seconds": round(last - child["started"], 3),
        "publish_s": round(child["published"] - child["started"], 3),
        "peak_rss_mb": child["peak_rss_mb"],
        "rows_read": sum(figures["rows"] for figures in done.values()),
        "hosts": len(hosts),
        "join_s": round(join_s, 3),
        "steps": child["steps"],
        "first_read_after_publish_s": round(
            min(figures["t"] for figures in done.values()) - child["published"], 3
        ),
        "subscriber_read_s": {
            "median": round(reads[len(reads) // 2], 3),
            "max": round(reads[-1], 3),
            "total": round(sum(reads), 3),
        },
        "subscriber_host_peak_rss_mb": max(report["peak_rss_mb"] for report in reports),
    }


def _connection(settings: Settings) -> dict[str, Any]:
    """What the children need to reach the stack: Kafka configs (SASL where the stack has
    it) and the store's endpoint for s3fs and pyarrow. Sent on stdin, never on disk."""
    endpoint = settings.s3()
    kafka = settings.kafka_consumer_config("unused")
    del kafka["group.id"]
    return {
        "kafka": kafka,
        "kafka_producer": settings.kafka_producer_config(),
        "s3fs": {
            "key": endpoint.access_key,
            "secret": endpoint.secret_key.get_secret_value(),
            "endpoint_url": endpoint.url,
            "client_kwargs": {"region_name": endpoint.region},
        },
        "arrow_s3": endpoint.arrow_kwargs(),
    }


class _Host:
    """One ``benchmarks.naive_subscriber`` process (see that module)."""

    def __init__(self, process: subprocess.Popen[str], out: Path) -> None:
        self.process, self.out = process, out

    def wait_ready(self) -> None:
        stdout: IO[str] | None = self.process.stdout
        line = stdout.readline() if stdout is not None else ""
        if line.strip() != "ready":
            self.process.wait(timeout=60)
            raise RuntimeError(f"a subscriber host did not get ready: {self._failure()}")

    def result(self) -> dict[str, Any]:
        self.process.wait(timeout=RUN_TIMEOUT_S)
        if self.process.returncode != 0 or not self.out.exists():
            raise RuntimeError(f"a subscriber host failed: {self._failure()}")
        report: dict[str, Any] = json.loads(self.out.read_text(encoding="utf-8"))
        return report

    def _failure(self) -> str:
        if self.out.exists():
            return str(json.loads(self.out.read_text(encoding="utf-8"))["errors"][:3])
        return f"exit {self.process.returncode}, see {self.out.with_suffix('.log')}"


@contextmanager
def _hosts(
    directory: Path,
    topic: str,
    groups: list[list[str]],
    job: dict[str, Any],
    connection: dict[str, Any],
) -> Iterator[list[_Host]]:
    """Start one subscriber host per group of subscribers; stopped (killed) on the way out
    if they have not finished by themselves."""
    with ExitStack() as stack:
        hosts = []
        for number, subscribers in enumerate(groups):
            out = directory / f"host-{number}.json"
            log = stack.enter_context(out.with_suffix(".log").open("w", encoding="utf-8"))
            host_job = {
                "mode": "slice" if job["mode"] == "naive" else "raw",
                "topic": topic,
                "group": f"{topic}-host{number}",
                "subscribers": subscribers,
                "consumers": job.get("consumers", CONSUMERS[0]),
                "kafka": connection["kafka"],
                "s3fs": connection["s3fs"],
                "arrow_s3": connection["arrow_s3"],
                "bucket": job["bucket"],
                "landing": str(directory / "landing"),
                "out": str(out),
                "timeout_s": RUN_TIMEOUT_S,
            }
            process = _python(["-m", "benchmarks.naive_subscriber"], log)
            stack.callback(_stop, process)
            assert process.stdin is not None  # noqa: S101 (stdin=PIPE in _python)
            process.stdin.write(json.dumps(host_job) + "\n")
            process.stdin.close()
            hosts.append(_Host(process, out))
        yield hosts


def _child(directory: Path, job: dict[str, Any]) -> dict[str, Any]:
    """Run the publishing side in a fresh ``python -m benchmarks.naive_peer --child``."""
    log_path = directory / "publisher.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = _python(["-m", "benchmarks.naive_peer", "--child"], log)
        try:
            stdout, _ = process.communicate(json.dumps(job) + "\n", timeout=RUN_TIMEOUT_S)
        finally:
            _stop(process)
    if process.returncode != 0:
        raise RuntimeError(f"the {job['mode']} publisher failed; see {log_path}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return result


def _python(arguments: list[str], log: IO[str]) -> subprocess.Popen[str]:
    """A child Python with its job to come on stdin (credentials stay off disk and argv)."""
    return subprocess.Popen(
        [sys.executable, *arguments],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=30)


# -- the publishing children -------------------------------------------------------------------


def publish_naive(job: dict[str, Any]) -> dict[str, Any]:
    """pandas + GX + s3fs: the release, the slices, one JSON message per subscriber."""
    # Only the naive child needs pandas, s3fs and GX.
    import pandas as pd  # type: ignore[import-untyped]  # noqa: PLC0415
    import s3fs  # type: ignore[import-untyped]  # noqa: PLC0415

    definition = _gx_validation(Path(job["suite"]))
    fs = s3fs.S3FileSystem(**job["s3fs"])
    producer = Producer(job["kafka_producer"])
    base, steps = f"{job['bucket']}/{job['prefix']}", {}
    started = time.time()
    frame = pd.read_parquet(job["input"])
    steps["read_s"] = time.time() - started
    outcome = definition.run(batch_parameters={"dataframe": frame}, result_format="BASIC")
    if not outcome.success:
        raise RuntimeError(f"the naive peer's validation failed: {outcome.describe()}")
    steps["validate_s"] = time.time() - started - sum(steps.values())
    with fs.open(f"{base}/release.parquet", "wb") as target:
        frame.to_parquet(target, index=False)
    steps["release_s"] = time.time() - started - sum(steps.values())
    notes, filtering = [], 0.0
    for subscriber in job["subscribers"]:
        sliced = time.perf_counter()
        part = frame[frame["supplier_id"] == subscriber]
        filtering += time.perf_counter() - sliced
        path = f"{base}/{subscriber}.parquet"
        with fs.open(path, "wb") as target:
            part.to_parquet(target, index=False)
        notes.append((subscriber, {"path": f"s3://{path}", "rows": len(part)}))
    steps["slices_s"] = time.time() - started - sum(steps.values())
    for subscriber, note in notes:
        producer.produce(job["topic"], key=subscriber.encode(), value=json.dumps(note).encode())
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("the naive producer did not deliver every message")
    published = time.time()
    steps["send_s"] = published - started - sum(steps.values())
    steps["slices_filter_s"] = filtering  # the masks' part of slices_s
    return _finished(started, published, steps)


def _gx_validation(suite_path: Path) -> Any:
    """A GX 1.x validation definition of the suite at ``suite_path`` over a whole pandas
    DataFrame (given at run time), in an ephemeral context."""
    # No usage statistics sent from a benchmark (they would also time the network).
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # noqa: PLC0415

    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(
        gx.ExpectationSuite(**json.loads(suite_path.read_text(encoding="utf-8")))
    )
    asset = context.data_sources.add_pandas("naive").add_dataframe_asset("release")
    batch = asset.add_batch_definition_whole_dataframe("whole")
    return context.validation_definitions.add(
        gx.ValidationDefinition(name="naive-release", data=batch, suite=suite)
    )


def publish_raw(job: dict[str, Any]) -> dict[str, Any]:
    """pyarrow reads the input and writes it to the store, then one message names it."""
    from pyarrow.fs import S3FileSystem  # noqa: PLC0415

    fs = S3FileSystem(**job["arrow_s3"])
    producer = Producer(job["kafka_producer"])
    path, steps = f"{job['bucket']}/{job['prefix']}/part-0.parquet", {}
    started = time.time()
    table = pq.read_table(job["input"])
    steps["read_s"] = time.time() - started
    pq.write_table(table, path, filesystem=fs, row_group_size=ROW_GROUP_ROWS, **WRITER_OPTIONS)
    del table
    steps["write_s"] = time.time() - started - sum(steps.values())
    producer.produce(job["topic"], key=b"raw", value=path.encode())
    if producer.flush(60):
        raise RuntimeError("the raw producer did not deliver its message")
    published = time.time()
    steps["send_s"] = published - started - sum(steps.values())
    return _finished(started, published, steps)


def _finished(started: float, published: float, steps: dict[str, float]) -> dict[str, Any]:
    return {
        "started": started,
        "published": published,
        "steps": {name: round(seconds, 3) for name, seconds in steps.items()},
        "peak_rss_mb": peak_rss_mb(),
    }


# -- the store ---------------------------------------------------------------------------------


def _ensure_bucket(endpoint: S3Endpoint, bucket: str) -> None:
    from dataspace.adapters.s3 import ensure_bucket, minio_client  # noqa: PLC0415

    ensure_bucket(minio_client(endpoint), bucket)


def _remove_prefix(endpoint: S3Endpoint, bucket: str, prefix: str) -> None:
    """Delete what a run wrote (the production-like store outlives the run)."""
    from minio.deleteobjects import DeleteObject  # noqa: PLC0415

    from dataspace.adapters.s3 import minio_client  # noqa: PLC0415

    client = minio_client(endpoint)
    names = [item.object_name for item in client.list_objects(bucket, prefix, recursive=True)]
    errors = list(client.remove_objects(bucket, (DeleteObject(n) for n in names if n)))
    if errors:
        raise RuntimeError(f"could not delete {len(errors)} objects under {bucket}/{prefix}")


def _rows_per_supplier(source: Path) -> dict[str, int]:
    import pyarrow.compute as pc  # noqa: PLC0415

    counts = pc.value_counts(pq.read_table(source, columns=["supplier_id"])["supplier_id"])
    return {str(item["values"]): int(item["counts"]) for item in counts.to_pylist()}


# -- trying it alone ----------------------------------------------------------------------------


def _child_main() -> None:
    job = json.loads(sys.stdin.readline())
    result = publish_naive(job) if job["mode"] == "naive" else publish_raw(job)
    print(json.dumps(result), flush=True)


def main() -> None:
    import argparse  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from benchmarks import scale_world  # noqa: PLC0415
    from benchmarks.scale_stack import open_stack  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k rows, K = 1 and 10")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--ks", default="1,10,100,1000")
    parser.add_argument("--consumers", choices=CONSUMERS, default=CONSUMERS[0])
    arguments = parser.parse_args()
    rows = 100_000 if arguments.quick else arguments.rows
    ks = [1, 10] if arguments.quick else [int(k) for k in arguments.ks.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-naive-") as temporary:
        root = Path(temporary)
        artifacts = scale_world.write_artifacts(root)
        source = root / "input.parquet"
        scale_world.write_input(rows, source)
        options = {
            "input": str(source),
            "rows": rows,
            "ks": ks,
            "per_host": PER_HOST,
            "consumers": arguments.consumers,
        }
        with open_stack("embedded", root, artifacts) as stack:
            result = {
                "naive": measure(stack, root, options),
                "raw": measure_raw(stack, root, options),
            }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    if "--child" in sys.argv[1:]:
        _child_main()
    else:
        main()
