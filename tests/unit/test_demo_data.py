"""The demo's synthetic chain data: deterministic, and shaped like the products' schemas."""

from __future__ import annotations

from dataspace import demo_data
from dataspace.dataplane.schema_check import arrow_schema, load_avro_schema
from dataspace.resources import data_root

PRODUCTS = data_root() / "schemas" / "products"


def test_the_same_week_gives_the_same_rows_and_another_week_others() -> None:
    assert demo_data.purchase_orders(3).equals(demo_data.purchase_orders(3))
    assert not demo_data.purchase_orders(3).equals(demo_data.purchase_orders(4))
    assert demo_data.demand_forecasts(1).equals(demo_data.demand_forecasts(1))


def test_the_tables_fit_the_product_schemas() -> None:
    orders = arrow_schema(load_avro_schema(PRODUCTS / "purchase_orders.avsc"))
    forecasts = arrow_schema(load_avro_schema(PRODUCTS / "demand_forecasts.avsc"))
    assert demo_data.purchase_orders(0).schema.equals(orders)
    assert demo_data.demand_forecasts(0).schema.equals(forecasts)


def test_every_supplier_has_orders_and_spoiling_breaks_only_some_rows() -> None:
    orders = demo_data.purchase_orders(0)
    assert set(orders.column("supplier_id").to_pylist()) == set(demo_data.supplier_ids())
    spoiled = demo_data.spoiled(orders, "quantity").column("quantity").to_pylist()
    assert sum(1 for q in spoiled if q < 0) == (orders.num_rows + 6) // 7
