"""The files in examples/ fit the products they are for: each offer passes the checks `product
create` makes (the profile, the grade, the columns of the product's schema) and each sample
input passes the schema check `publish` makes, with every expectation of its suite met."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataspace.controlplane.catalog import Artifacts, check_offer, schema_columns
from dataspace.dataplane.schema_check import load_avro_schema, read_input
from dataspace.errors import InvalidInput
from dataspace.policy.model import parse_policy
from dataspace.quality.gate import validate

CHECKOUT = Path(__file__).resolve().parents[2]
EXAMPLES = CHECKOUT / "examples"
ARTIFACTS = Artifacts(CHECKOUT / "schemas", CHECKOUT / "expectations")
OFFERS = {
    "own-rows.json": "purchase_orders",
    "own-rows-masked-price.json": "purchase_orders",
    "demand-forecasts.json": "demand_forecasts",
    "public-energy-emissions.json": "public_energy_emissions",
}
INPUTS = {
    "purchase-orders-2026-W02.csv": "purchase_orders",
    "demand-forecasts-2026-W10.csv": "demand_forecasts",
}


def test_every_example_file_is_listed_here_and_every_product_has_an_offer() -> None:
    shipped = {path.name for path in (EXAMPLES / "offers").glob("*.json")}
    assert shipped == set(OFFERS)
    assert {path.name for path in EXAMPLES.glob("*.csv")} == set(INPUTS)
    products = {path.stem for path in (CHECKOUT / "schemas" / "products").glob("*.avsc")}
    assert set(OFFERS.values()) == products


@pytest.mark.parametrize(("name", "schema"), sorted(OFFERS.items()))
def test_each_offer_fits_its_product(name: str, schema: str) -> None:
    policy = parse_policy((EXAMPLES / "offers" / name).read_text(encoding="utf-8"))
    check_offer("general", policy, schema_columns(ARTIFACTS, schema), name)


def test_an_offer_naming_a_column_the_product_lacks_is_refused() -> None:
    """What `product create --offer` said to the docs' example offer (issue 18)."""
    document = json.loads((EXAMPLES / "offers" / "demand-forecasts.json").read_text("utf-8"))
    document["permission"][0]["duty"][1]["columns"].append("sku")
    with pytest.raises(InvalidInput, match="'sku'"):
        check_offer(
            "general", parse_policy(document), schema_columns(ARTIFACTS, "demand_forecasts"), "x"
        )


@pytest.mark.parametrize(("name", "schema"), sorted(INPUTS.items()))
def test_each_sample_input_passes_the_schema_check_and_its_suite(name: str, schema: str) -> None:
    avro = load_avro_schema(ARTIFACTS.schema_path(schema))
    batches = list(read_input(EXAMPLES / name, avro))
    assert sum(batch.num_rows for batch in batches) > 0
    report = validate(batches, ARTIFACTS.suite_path(schema))
    assert report.passed, report.summary()
