"""The data of ``benchmarks/scale.py``: one product schema, its suite and its input files.

The scale runs need up to 1,000 subscribers, so the rows name suppliers ``sup-0001`` ...
``sup-1000`` (four digits; ``benchmarks/delivery_world.py`` has 100 with three). Every input
spreads its rows over all 1,000, so that a sliced subscriber's view holds ~N/1000 rows
whatever K is, and a release of N rows is the same file for every K. The columns, and the
~200 bytes of Arrow data a row, are ``delivery_world``'s.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks import synthetic
from benchmarks.delivery_world import AVRO, SUITE
from dataspace.dataplane.parquet_io import WRITER_OPTIONS
from dataspace.dataplane.schema_check import arrow_schema
from dataspace.resources import data_root
from dataspace.scenario import own_rows_offer, whole_release_offer

SUPPLIERS = 1000
SCHEMA = "scale_orders"
PROVIDER = "bench-provider"
WHOLE = whole_release_offer("urn:policy:scale-whole")
OWN_ROWS = own_rows_offer("urn:policy:scale-own-rows")
TITLES = ("采购订单（规模基准）", "Purchase orders (scale benchmark)")


def supplier(number: int) -> str:
    """``sup-0001`` ... ``sup-1000``: participant ids, and the rows' ``supplier_id``."""
    return f"sup-{number:04d}"


def avro_schema() -> dict[str, Any]:
    schema = copy.deepcopy(AVRO)
    schema["name"] = SCHEMA
    schema["doc"] = "Scale-benchmark purchase orders: 11 columns, ~200 bytes of Arrow a row."
    return schema


def suite() -> dict[str, Any]:
    """``delivery_world``'s suite, its supplier pattern widened to four digits."""
    result = copy.deepcopy(SUITE)
    result["name"] = SCHEMA
    for expectation in result["expectations"]:
        if expectation["kwargs"].get("regex"):
            expectation["kwargs"]["regex"] = "^sup-[0-9]{4}$"
    return result


def write_artifacts(root: Path) -> dict[str, str]:
    """The real event schemas, this product's schema and its suite, under ``root``; the
    settings that point at them (``schemas_dir``, ``expectations_dir``)."""
    schemas, expectations = root / "schemas", root / "expectations"
    (schemas / "products").mkdir(parents=True, exist_ok=True)
    expectations.mkdir(parents=True, exist_ok=True)
    events = schemas / "events"
    if not events.exists():
        events.symlink_to(data_root() / "schemas" / "events")
    (schemas / "products" / f"{SCHEMA}.avsc").write_text(json.dumps(avro_schema(), indent=2))
    (expectations / f"{SCHEMA}.json").write_text(json.dumps(suite(), indent=2))
    return {"schemas_dir": str(schemas), "expectations_dir": str(expectations)}


def write_input(rows: int, path: Path) -> int:
    """``rows`` purchase orders over the 1,000 suppliers as a local Parquet file (what a
    provider publishes from); returns their Arrow bytes. Written batch by batch."""
    schema, arrow_bytes = arrow_schema(avro_schema()), 0
    with pq.ParquetWriter(path, schema, **WRITER_OPTIONS) as writer:
        for batch in synthetic.batches(rows, SUPPLIERS, schema=schema, digits=4):
            arrow_bytes += batch.nbytes
            writer.write_batch(batch, row_group_size=128 * 1024)
    return arrow_bytes
