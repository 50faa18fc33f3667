"""Deterministic purchase orders for data-plane tests, and a local object store."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from dataspace.dataplane.objects import ObjectStore
from dataspace.dataplane.schema_check import arrow_schema

VECTORS = Path(__file__).parent.parent / "vectors"
SCHEMA_PATH = VECTORS / "schemas" / "purchase_order.avsc"
SUITE_PATH = VECTORS / "quality" / "purchase_orders.json"


def avro() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return document


def orders(rows: int, suppliers: int = 5, *, offset: int = 0) -> pa.Table:
    """``rows`` purchase orders spread round-robin over ``suppliers`` suppliers."""
    start = datetime(2026, 1, 5, tzinfo=UTC)
    numbers = range(offset, offset + rows)
    columns = {
        "order_id": [f"po-{n:08d}" for n in numbers],
        "supplier_id": [f"sup-{n % suppliers:03d}" for n in numbers],
        "week": [date(2026, 1, 5) + timedelta(weeks=n % 52) for n in numbers],
        "sku": [("sku-a", "sku-b", "sku-c")[n % 3] for n in numbers],
        "quantity": [1 + n % 500 for n in numbers],
        "unit_price": [None if n % 7 == 0 else Decimal(f"{n % 1000}.25") for n in numbers],
        "weight_kg": [None if n % 11 == 0 else float(n % 90) / 3 for n in numbers],
        "urgent": [n % 4 == 0 for n in numbers],
        "contact_phone": [None if n % 13 == 0 else f"138{n % 10**8:08d}" for n in numbers],
        "created_at": [start + timedelta(minutes=n) for n in numbers],
    }
    return pa.Table.from_pydict(columns, schema=arrow_schema(avro()))


def local_store(root: Path, bucket: str = "provider") -> ObjectStore:
    return ObjectStore(pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem()), bucket)
