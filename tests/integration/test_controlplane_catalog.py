"""Contract: products are published by active providers, with real schemas, suites and offers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from pyld import jsonld

from dataspace.controlplane import catalog, participants
from dataspace.controlplane.catalog import Artifacts, ProductQuery
from dataspace.errors import Conflict, InvalidInput, Unauthorized
from tests.conformance.linked_data import DCAT_AP_SHAPES, ODRL_MODEL_SHAPES, expand, graph_of, shacl
from tests.fixtures.controlplane import ARTIFACTS, Space, use_policy

pytestmark = pytest.mark.integration


def test_a_product_is_published_with_its_offers(market: Space) -> None:
    view = catalog.show_product(market.db, "purchase-orders")

    assert view.owner == "xcmg"
    assert [offer.offer_id for offer in view.offers] == ["purchase-orders-offer-1"]
    assert view.offers[0].policy["uid"] == "urn:policy:po"
    assert market.actions()[-1] == "product.published"
    # A catalog entry is ledger-only: ProductPublished announces releases, not catalog entries.
    assert not any(topic.startswith("dataspace.products.") for topic, _ in market.topics())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": "no_such_schema"}, "There is no product schema 'no_such_schema'"),
        ({"schema": "../etc/passwd"}, "is not valid"),
    ],
)
def test_a_missing_or_unsafe_schema_is_refused(
    market: Space, change: dict[str, str], message: str
) -> None:
    before = market.counts()

    with pytest.raises(InvalidInput, match=message):
        market.product("other-orders", **change)  # type: ignore[arg-type]

    assert market.counts() == before


def test_a_missing_or_malformed_suite_is_refused(market: Space, tmp_path: Path) -> None:
    schemas = tmp_path / "schemas" / "products"
    schemas.mkdir(parents=True)
    (schemas / "orders.avsc").write_text((ARTIFACTS.schema_path("purchase_orders")).read_text())
    suites = tmp_path / "expectations"
    suites.mkdir()
    artifacts = Artifacts(tmp_path / "schemas", suites)
    description = catalog.description_of(catalog.show_product(market.db, "purchase-orders"))
    description = replace(
        description, product_id="orders-2", schema_name="orders", suite_name="orders"
    )

    with pytest.raises(InvalidInput, match="There is no expectation suite 'orders'"):
        catalog.create_product(market.db, market.keys, description, artifacts=artifacts)
    (suites / "orders.json").write_text(json.dumps({"name": "other", "expectations": []}))
    with pytest.raises(InvalidInput, match="must be a Great Expectations suite named 'orders'"):
        catalog.create_product(market.db, market.keys, description, artifacts=artifacts)


# A dependency of Great Expectations imports a module Python 3.11 deprecates.
@pytest.mark.filterwarnings("ignore:module 'sre_[a-z]+' is deprecated:DeprecationWarning")
def test_the_shipped_suites_load_in_great_expectations() -> None:
    import great_expectations as gx  # noqa: PLC0415 (heavy, and only this test needs it)

    for name in ("purchase_orders", "demand_forecasts"):
        suite = gx.ExpectationSuite(**json.loads(ARTIFACTS.suite_path(name).read_text()))
        columns = catalog.schema_columns(ARTIFACTS, name)
        assert suite.name == name
        assert {e.column for e in suite.expectations} <= columns  # type: ignore[attr-defined]


def test_an_offer_naming_a_column_the_schema_lacks_is_refused(market: Space) -> None:
    policy = use_policy()
    policy["permission"][0]["duty"] = [{"action": "mask", "columns": ["phone"], "method": "hash"}]

    with pytest.raises(InvalidInput, match="names the column 'phone'"):
        market.product("other-orders", offers=(policy,))


def test_only_an_active_provider_publishes(market: Space) -> None:
    with pytest.raises(Unauthorized, match="has no provider role"):
        market.product("other-orders", owner="supplier-01")
    participants.suspend(market.db, market.keys, "xcmg")
    with pytest.raises(Unauthorized, match="'xcmg' is suspended"):
        market.product("other-orders")


def test_a_duplicate_product_id_is_a_conflict(market: Space) -> None:
    before = market.counts()

    with pytest.raises(Conflict, match="'purchase-orders' already exists"):
        market.product()

    assert market.counts() == before


def test_search_and_filters(market: Space) -> None:
    market.member("sany", role="chain_leader")
    market.product("demand-forecasts", owner="sany", grade="important", schema="demand_forecasts")

    def ids(query: ProductQuery) -> list[str]:
        return [view.product_id for view in catalog.list_products(market.db, query)]

    assert ids(ProductQuery()) == ["demand-forecasts", "purchase-orders"]
    assert ids(ProductQuery(owner="sany")) == ["demand-forecasts"]
    assert ids(ProductQuery(grade="general")) == ["purchase-orders"]
    assert ids(ProductQuery(chain="construction-machinery")) == [
        "demand-forecasts",
        "purchase-orders",
    ]
    assert ids(ProductQuery(chain="textiles")) == []
    assert ids(ProductQuery(text="DEMAND")) == ["demand-forecasts"]
    assert ids(ProductQuery(text="采购")) == ["demand-forecasts", "purchase-orders"]


def test_the_dcat_export_expands_as_json_ld(market: Space) -> None:
    document = catalog.export_dcat(market.db)

    expanded = jsonld.expand(document)
    dataset = document["dcat:dataset"][0]
    assert dataset["@type"] == "dcat:Dataset"
    assert dataset["odrl:hasPolicy"][0]["@id"] == "urn:policy:po"
    assert any("http://www.w3.org/ns/dcat#dataset" in node for node in expanded)


def test_the_hubs_dcat_export_conforms_to_dcat_ap_and_odrl(market: Space) -> None:
    market.product("demand-forecasts", grade="important", schema="demand_forecasts")

    document = catalog.export_dcat(market.db)

    graph = graph_of(expand(document))
    for shapes in (DCAT_AP_SHAPES, ODRL_MODEL_SHAPES):
        conforms, report = shacl(graph, shapes)
        assert conforms, report
    operator = participants.show_participant(market.db, "operator")
    assert document["dct:publisher"]["foaf:name"] == operator.name
    dataset = document["dcat:dataset"][1]
    assert dataset["dct:publisher"]["foaf:name"] == "xcmg Co., Ltd."
    assert dataset["odrl:hasPolicy"][0]["assigner"] == dataset["dct:publisher"]["@id"]
