"""Deterministic synthetic data of a construction-machinery chain, for the demo and the tests.

A chain leader orders parts from about twenty suppliers every week and shares a rolling
demand forecast with them. Every value is a pure function of its arguments (no clock, no
global random state): the same call gives the same rows, byte for byte, on every machine.

- :func:`purchase_orders` fits ``schemas/products/purchase_orders.avsc``;
- :func:`demand_forecasts` fits ``schemas/products/demand_forecasts.avsc``;
- :func:`spoiled` returns a copy with a few rows that break the product's expectation suite
  (a negative quantity or price), for showing a quarantined release;
- :func:`write_csv` / :func:`write_parquet` put a table in a file, as a provider would.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

SUPPLIER_COUNT = 20
FIRST_WEEK = date(2026, 1, 5)  # a Monday: ISO week 2026-W02
# Parts of an excavator and a wheel loader, with a typical unit price in CNY.
PARTS: tuple[tuple[str, float], ...] = (
    ("HYD-PUMP-A10", 18_500.0),
    ("HYD-CYL-140", 6_200.0),
    ("SWING-BRG-900", 24_000.0),
    ("TRACK-LINK-19", 310.0),
    ("BUCKET-TOOTH-J", 85.0),
    ("ENGINE-ECU-6", 9_800.0),
    ("CAB-GLASS-F", 1_150.0),
    ("AXLE-HUB-ZL50", 4_300.0),
    ("FILTER-OIL-HF", 42.0),
    ("HOSE-ASSY-3/4", 260.0),
)
PURCHASE_ORDERS_SCHEMA = pa.schema(
    [
        pa.field("week", pa.string(), nullable=False),
        pa.field("supplier_id", pa.string(), nullable=False),
        pa.field("part_no", pa.string(), nullable=False),
        pa.field("quantity", pa.int64(), nullable=False),
        pa.field("unit_price_cny", pa.float64(), nullable=False),
    ]
)
DEMAND_FORECASTS_SCHEMA = pa.schema(
    [
        pa.field("week", pa.string(), nullable=False),
        pa.field("supplier_id", pa.string(), nullable=False),
        pa.field("part_no", pa.string(), nullable=False),
        pa.field("forecast_quantity", pa.int64(), nullable=False),
        pa.field("horizon_weeks", pa.int32(), nullable=False),
    ]
)


def supplier_ids(count: int = SUPPLIER_COUNT) -> list[str]:
    """``supplier-01`` ... ``supplier-20``: participant ids of the chain's suppliers."""
    return [f"supplier-{n:02d}" for n in range(1, count + 1)]


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _parts_of(supplier: str) -> list[tuple[str, float]]:
    """Each supplier makes two to four of the parts, always the same ones."""
    rng = random.Random(f"parts:{supplier}")  # noqa: S311 (synthetic data, not security)
    return rng.sample(PARTS, rng.randint(2, 4))


def purchase_orders(
    week: int = 0, *, suppliers: int = SUPPLIER_COUNT, lines_per_part: int = 1
) -> pa.Table:
    """The purchase-order lines of week number ``week`` (0 = the first week), by supplier."""
    day = FIRST_WEEK + timedelta(weeks=week)
    columns: dict[str, list[object]] = {name: [] for name in PURCHASE_ORDERS_SCHEMA.names}
    for supplier in supplier_ids(suppliers):
        rng = random.Random(f"orders:{week}:{supplier}")  # noqa: S311
        for part, price in _parts_of(supplier):
            for _ in range(lines_per_part):
                columns["week"].append(iso_week(day))
                columns["supplier_id"].append(supplier)
                columns["part_no"].append(part)
                columns["quantity"].append(rng.randint(1, 400))
                columns["unit_price_cny"].append(round(price * rng.uniform(0.92, 1.08), 2))
    return pa.Table.from_pydict(columns, schema=PURCHASE_ORDERS_SCHEMA)


def demand_forecasts(
    week: int = 0, *, suppliers: int = SUPPLIER_COUNT, horizon: int = 8
) -> pa.Table:
    """The rolling forecast issued in week ``week`` for the next ``horizon`` weeks."""
    issued = FIRST_WEEK + timedelta(weeks=week)
    columns: dict[str, list[object]] = {name: [] for name in DEMAND_FORECASTS_SCHEMA.names}
    for supplier in supplier_ids(suppliers):
        for part, _ in _parts_of(supplier):
            base = random.Random(f"base:{supplier}:{part}").randint(20, 300)  # noqa: S311
            for ahead in range(1, horizon + 1):
                rng = random.Random(f"forecast:{week}:{supplier}:{part}:{ahead}")  # noqa: S311
                columns["week"].append(iso_week(issued + timedelta(weeks=ahead)))
                columns["supplier_id"].append(supplier)
                columns["part_no"].append(part)
                columns["forecast_quantity"].append(max(0, int(base * rng.uniform(0.7, 1.3))))
                columns["horizon_weeks"].append(ahead)
    return pa.Table.from_pydict(columns, schema=DEMAND_FORECASTS_SCHEMA)


def spoiled(table: pa.Table, column: str, every: int = 7) -> pa.Table:
    """``table`` with every ``every``-th value of a numeric ``column`` made negative."""
    values = table.column(column).combine_chunks()
    index = pa.array([n % every == 0 for n in range(len(values))])
    negated = pc.if_else(index, pc.negate(values), values)
    return table.set_column(table.schema.get_field_index(column), column, negated)


def write_parquet(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def write_csv(table: pa.Table, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcsv.write_csv(table, path)
    return path
