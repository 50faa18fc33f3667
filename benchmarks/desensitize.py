"""Desensitization benchmark (not a test): the two-pass pipeline on a scaled public dataset.

    .venv/bin/python benchmarks/desensitize.py [--copies 600]

Repeats the shipped dataset (1,644 rows) ``--copies`` times, each copy with its own credit
codes (so groups grow and pseudonyms stay distinct), writes it as Parquet, and times
``desensitize_file`` (count pass, write pass, verify pass). Prints rows/s and peak RSS as JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dataspace.dataplane.schema_check import arrow_schema, load_avro_schema  # noqa: E402
from dataspace.desensitize.pipeline import desensitize_file  # noqa: E402
from dataspace.desensitize.rules import load_rules  # noqa: E402
from dataspace.publicdata.dataset import monthly_readings  # noqa: E402


def scaled_source(path: Path, copies: int) -> int:
    base = monthly_readings()
    codes = base.column("credit_code")
    with pq.ParquetWriter(path, base.schema, compression="zstd") as writer:
        for copy in range(copies):
            # A copy suffix keeps codes distinct per copy (they are only hashed, not validated).
            renamed = pc.binary_join_element_wise(codes, pa.scalar(f"-{copy}"), "")
            writer.write_table(base.set_column(0, base.schema.field(0), renamed))
    return base.num_rows * copies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=600)
    args = parser.parse_args()
    rules = load_rules(ROOT / "schemas/desensitization/public_energy_emissions.json")
    schema = arrow_schema(load_avro_schema(ROOT / "schemas/products/public_energy_emissions.avsc"))
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "source.parquet", Path(tmp) / "out.parquet"
        rows = scaled_source(source, args.copies)
        began = time.perf_counter()
        report = desensitize_file(source, target, rules, bytes(32), schema)
        seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": round(seconds, 2),
                      "rows_per_s": round(rows / seconds), "peak_rss_mb": round(peak_mb),
                      "rows_out": report.rows_out, "groups": report.groups}))  # fmt: skip


if __name__ == "__main__":
    main()
