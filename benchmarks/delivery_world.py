"""The data and the control-plane world of ``benchmarks/delivery.py``: made before any timing.

- :func:`write_input` writes N synthetic purchase-order rows (``benchmarks/synthetic.py``, as
  in ``benchmarks/dataplane.py``) as a local Parquet file, so generating them is timed nowhere;
- :func:`write_artifacts` writes the benchmark product's Avro schema and expectation suite
  (11 columns; the demo's 5-column schema has ~50 bytes a row) next to the real event schemas;
- :func:`build_world` sets up the operator, a chain leader, the suppliers and one product per
  run, each with its agreements (a whole-release offer and an own-rows offer).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import synthetic
from dataspace.config import Settings
from dataspace.controlplane.catalog import Artifacts
from dataspace.dataplane.parquet_io import WRITER_OPTIONS
from dataspace.dataplane.schema_check import arrow_schema
from dataspace.identity.keystore import KeyStore
from dataspace.resources import data_root
from dataspace.scenario import Scenario, own_rows_offer, whole_release_offer
from dataspace.store.db import Database

SUPPLIERS = 100
LEADER = "bench-leader"
SCHEMA = "bench_orders"
WHOLE = whole_release_offer("urn:policy:bench-whole")
OWN_ROWS = own_rows_offer("urn:policy:bench-own-rows")
AVRO: dict[str, Any] = {
    "type": "record",
    "name": SCHEMA,
    "namespace": "dataspace.products",
    "doc": "Benchmark purchase orders: 11 columns, ~200 bytes of Arrow data a row.",
    "fields": [
        {"name": "order_id", "type": "string"},
        {"name": "supplier_id", "type": "string"},
        {"name": "sku", "type": "string"},
        {"name": "week", "type": {"type": "int", "logicalType": "date"}},
        {"name": "quantity", "type": "long"},
        {"name": "unit_price", "type": "double"},
        {"name": "weight_kg", "type": "double"},
        {"name": "urgent", "type": "boolean"},
        {"name": "contact_phone", "type": "string"},
        {"name": "note", "type": "string"},
        {"name": "created_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ],
}
SUITE: dict[str, Any] = {
    "name": SCHEMA,
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "supplier_id"}},
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "supplier_id", "regex": "^sup-[0-9]{3}$"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "quantity", "min_value": 1},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "unit_price", "min_value": 0},
        },
    ],
    "meta": {},
}


def supplier(number: int) -> str:
    """Participant ids ``sup-001`` ... ``sup-100``; the rows' ``supplier_id`` uses the same."""
    return f"sup-{number:03d}"


def batches(rows: int) -> Iterator[pa.RecordBatch]:
    """Deterministic purchase orders spread evenly over the suppliers, in the product's schema."""
    return synthetic.batches(rows, SUPPLIERS, first_supplier=1, schema=arrow_schema(AVRO))


def write_input(rows: int, path: Path) -> int:
    """Write the rows as the provider's local Parquet file; returns their Arrow bytes."""
    arrow_bytes = 0
    with pq.ParquetWriter(path, arrow_schema(AVRO), **WRITER_OPTIONS) as writer:
        for batch in batches(rows):
            arrow_bytes += batch.nbytes
            writer.write_batch(batch, row_group_size=128 * 1024)
    return arrow_bytes


def write_artifacts(root: Path) -> tuple[Path, Path]:
    """Schemas (the real event schemas plus the benchmark product) and the suite, under root."""
    schemas, expectations = root / "schemas", root / "expectations"
    (schemas / "products").mkdir(parents=True)
    expectations.mkdir()
    (schemas / "events").symlink_to(data_root() / "schemas" / "events")
    (schemas / "products" / f"{SCHEMA}.avsc").write_text(json.dumps(AVRO, indent=2))
    (expectations / f"{SCHEMA}.json").write_text(json.dumps(SUITE, indent=2))
    return schemas, expectations


@dataclass(frozen=True)
class Run:
    """One product released in one measured run to ``subscribers`` (whole or own rows)."""

    product: str
    subscribers: tuple[str, ...]
    sliced: bool


def build_world(settings: Settings, db: Database, keys: KeyStore, runs: list[Run]) -> None:
    """Operator, leader, every supplier, and per run a product with its agreements."""
    artifacts = Artifacts(settings.schemas_dir, settings.expectations_dir)
    cast = Scenario(db, keys, artifacts)
    cast.operator("Bench Hub")
    cast.member(LEADER, "chain_leader", chains=())
    for number in range(1, SUPPLIERS + 1):
        cast.member(supplier(number))
    for run in runs:
        cast.product(
            run.product,
            owner=LEADER,
            schema=SCHEMA,
            titles=("采购订单（基准）", "Purchase orders (benchmark)"),
            offers=(WHOLE, OWN_ROWS),
        )
        for subscriber in run.subscribers:
            cast.agree(subscriber, run.product, provider=LEADER, offer=2 if run.sliced else 1)
