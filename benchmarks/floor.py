"""The physical floor of one full delivery: its slowest single stage, measured alone.

A delivery of one release reads the provider's input, encodes the release once, PUTs it to
the store, GETs it back, hashes it and decodes it. Each stage is measured here alone, on the
same input and the same stack as the run it is compared with, at its best setting (best of
:data:`TRIALS` for every setting tried):

- ``read_input``: the Parquet input to an Arrow table, threads on and off;
- ``encode``: the table to Parquet bytes in memory with the product's ``WRITER_OPTIONS`` and
  ``ROW_GROUP_ROWS``;
- ``put``: those bytes to the stack's store: one ``put_object`` of the minio SDK, multipart
  with a few part sizes (three parts in flight, the SDK's default), pyarrow's S3 output
  stream (background multipart);
- ``get``: the object back whole: minio, four ranged GETs in parallel, pyarrow's stream;
- ``sha256``: the digest of the bytes;
- ``decode``: the bytes to an Arrow table, threads on and off.

No delivery can take less than its slowest stage, so ``floor_s`` (the max) is a lower bound
that a path which overlaps its stages perfectly would approach.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from dataspace.adapters.s3 import arrow_filesystem, ensure_bucket, minio_client
from dataspace.dataplane.parquet_io import ROW_GROUP_ROWS, WRITER_OPTIONS

if TYPE_CHECKING:
    from minio import Minio
    from pyarrow.fs import S3FileSystem

    from benchmarks.scale_stack import BenchStack

TRIALS = 3
BUCKET = "bench-floor"
MiB = 1024 * 1024
PART_SIZES = (8 * MiB, 16 * MiB, 32 * MiB)
RANGES = 4


def measure(stack: BenchStack, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Every stage of one delivery of ``options['input']`` alone (see the module docstring)."""
    del root  # nothing is written locally
    source = Path(options["input"])
    trials: dict[str, dict[str, float]] = {}
    trials["read_input"] = {
        f"threads={on}": best(partial(pq.read_table, source, use_threads=on))
        for on in (True, False)
    }
    data, trials["encode"] = encode_trials(pq.read_table(source))
    endpoint = stack.settings.s3()
    client, fs = minio_client(endpoint), arrow_filesystem(endpoint)
    ensure_bucket(client, BUCKET)
    key = f"{stack.run}/floor.parquet"
    try:
        trials["put"] = put_trials(client, fs, key, data)
        trials["get"] = get_trials(client, fs, key, len(data))
    finally:
        client.remove_object(BUCKET, key)
    trials["sha256"] = {"hashlib": best(lambda: hashlib.sha256(data).digest())}
    trials["decode"] = {
        f"threads={on}": best(partial(decode, data, use_threads=on)) for on in (True, False)
    }
    stages = {stage: min(times.values()) for stage, times in trials.items()}
    slowest = max(stages, key=lambda stage: stages[stage])
    return {
        "rows": pq.ParquetFile(source).metadata.num_rows,
        "bytes": len(data),
        "stages": stages,
        "floor_s": stages[slowest],
        "slowest": slowest,
        "best_settings": {
            stage: min(times, key=times.__getitem__) for stage, times in trials.items()
        },
        "trials": trials,
    }


def best(step: Callable[[], Any], trials: int = TRIALS) -> float:
    """The shortest of ``trials`` runs of ``step``, in seconds."""
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return round(min(times), 4)


def encode(table: pa.Table) -> bytes:
    """The release once, as the product encodes it."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS, **WRITER_OPTIONS)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def decode(data: bytes, *, use_threads: bool) -> pa.Table:
    return pq.read_table(pa.BufferReader(data), use_threads=use_threads)


def encode_trials(table: pa.Table) -> tuple[bytes, dict[str, float]]:
    """The encoded release and the time it took (one setting: the product's)."""
    return encode(table), {"zstd-1, no dictionary": best(lambda: encode(table))}


def put_trials(client: Minio, fs: S3FileSystem, key: str, data: bytes) -> dict[str, float]:
    def minio_put(part_size: int) -> None:
        client.put_object(BUCKET, key, io.BytesIO(data), len(data), part_size=part_size)

    def arrow_put() -> None:
        with fs.open_output_stream(f"{BUCKET}/{key}") as target:
            target.write(data)

    single = max(5 * MiB, len(data))  # at least the object: one PUT
    trials = {"minio single PUT": best(lambda: minio_put(single))}
    for size in PART_SIZES:
        if size < len(data):
            trials[f"minio multipart {size // MiB} MiB"] = best(partial(minio_put, size))
    trials["pyarrow output stream"] = best(arrow_put)
    return trials


def get_trials(client: Minio, fs: S3FileSystem, key: str, size: int) -> dict[str, float]:
    def minio_get(offset: int = 0, length: int = 0) -> bytes:
        response = client.get_object(BUCKET, key, offset=offset, length=length)
        try:
            return bytes(response.read())
        finally:
            response.close()
            response.release_conn()

    def ranged() -> bytes:
        step = -(-size // RANGES)
        with ThreadPoolExecutor(RANGES) as pool:
            parts = pool.map(
                lambda start: minio_get(start, min(step, size - start)), range(0, size, step)
            )
            return b"".join(parts)

    def arrow_get() -> bytes:
        with fs.open_input_stream(f"{BUCKET}/{key}") as source:
            return bytes(source.read())

    checks = {"minio whole": minio_get, f"minio {RANGES} ranges": ranged, "pyarrow": arrow_get}
    for name, get in checks.items():
        if len(get()) != size:
            raise RuntimeError(f"GET ({name}) did not return the {size} bytes that were PUT")
    return {name: best(get) for name, get in checks.items()}


def main() -> None:
    import argparse  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    from benchmarks import scale_world  # noqa: PLC0415
    from benchmarks.scale_stack import open_stack  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100k rows")
    parser.add_argument("--rows", type=int, default=1_000_000)
    arguments = parser.parse_args()
    rows = 100_000 if arguments.quick else arguments.rows
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as temporary:
        root = Path(temporary)
        artifacts = scale_world.write_artifacts(root)
        source = root / "input.parquet"
        scale_world.write_input(rows, source)
        with open_stack("embedded", root, artifacts) as stack:
            result = measure(stack, root, {"input": str(source), "rows": rows})
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
