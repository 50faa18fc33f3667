"""The synthetic purchase orders every benchmark uses: deterministic, ~200 bytes of Arrow
data a row, generated batch by batch so that no benchmark holds the release in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BATCH = 64 * 1024


def padded(prefix: str, numbers: np.ndarray[Any, Any], width: int) -> pa.Array:
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def batches(
    rows: int,
    suppliers: int,
    *,
    first_supplier: int = 1,
    schema: pa.Schema | None = None,
    digits: int = 3,
) -> Iterator[pa.RecordBatch]:
    """``rows`` orders spread evenly over ``sup-<first_supplier>`` ... (zero-padded to
    ``digits``), cast to ``schema`` when given; the same rows for the same arguments."""
    for start in range(0, rows, BATCH):
        n = min(BATCH, rows - start)
        rng = np.random.default_rng(start)
        numbers = np.arange(start, start + n)
        batch = pa.RecordBatch.from_pydict(
            {
                "order_id": padded("po-", numbers, 10),
                "supplier_id": padded(
                    "sup-", rng.integers(first_supplier, first_supplier + suppliers, n), digits
                ),
                "sku": padded("sku-", rng.integers(0, 5000, n), 5),
                "week": pa.array(rng.integers(20454, 20820, n).astype("int32")).cast(pa.date32()),
                "quantity": rng.integers(1, 1000, n),
                "unit_price": np.round(rng.random(n) * 500, 2),
                "weight_kg": rng.random(n) * 80,
                "urgent": rng.random(n) < 0.1,
                "contact_phone": padded("138", rng.integers(0, 10**8, n), 8),
                "note": padded(
                    "delivery window agreed with the plant, dock and pallet ", numbers, 40
                ),
                "created_at": pa.array(numbers * 60_000 + 1_790_000_000_000).cast(
                    pa.timestamp("ms", tz="UTC")
                ),
            }
        )
        yield batch if schema is None else batch.cast(schema)
