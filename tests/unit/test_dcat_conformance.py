"""The hub's DCAT export checked by others' validators: the DCAT-AP 3.0.1 SHACL shapes and
the ODRL 2.2 shapes, on a catalog like the demo's (tests/conformance/README.md)."""

import json
from pathlib import Path

import pytest
from rdflib import RDF, Literal, Namespace, URIRef

from dataspace.catalog.dcat import Agent, catalog_jsonld
from dataspace.catalog.model import Cadence, ProductDescription
from dataspace.policy.grades import Grade
from dataspace.policy.model import Policy, parse_policy
from dataspace.scenario import masked, own_rows_offer, whole_release_offer
from tests.conformance.linked_data import (
    DCAT_AP_SHAPES,
    ODRL_MODEL_SHAPES,
    expand,
    graph_of,
    relative_iris,
    shacl,
)

BASE = "https://hub.dataspace.example.gov.cn"
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
FOAF = Namespace("http://xmlns.com/foaf/0.1/")
ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "policy_vectors.json").read_text(encoding="utf-8")
)["policies"]
PARTICIPANTS = {
    "xcmg": Agent("xcmg", "徐工集团 XCMG Group", "https://connector.xcmg.example/dsp"),
    "sany": Agent("sany", "三一重工 SANY Heavy Industry"),
    "stats-js": Agent("stats-js", "江苏省统计局 Jiangsu Statistics Bureau"),
}


def _product(product_id, owner, offers, versions, **fields):
    return ProductDescription(
        product_id=product_id, title_zh=f"数据产品 {product_id}", title_en=f"Product {product_id}",
        description_zh=f"{product_id} 的说明。", description_en=f"What {product_id} holds.",
        owner=owner, schema_name=product_id.replace("-", "_"), suite_name=product_id,
        grade=fields.pop("grade", Grade.GENERAL), chain_tags=("construction-machinery",),
        cadence=fields.pop("cadence", Cadence.WEEKLY),
        offers=tuple(parse_policy(offer) for offer in offers), versions=versions, **fields,
    )  # fmt: skip


PRODUCTS = [
    _product(
        "purchase-orders", "xcmg",
        [whole_release_offer("urn:policy:po"),
         own_rows_offer("urn:policy:po-own", masked("unit_price", "contact_phone")),
         VECTORS["prohibit-abroad"]],
        ("1", "2", "3"), quality_score=96.5,
    ),
    _product(
        "demand-forecasts", "sany",
        [VECTORS["window"], VECTORS["count"], VECTORS["view-redact"], VECTORS["role-any"],
         VECTORS["first-wins"]],
        ("2026-w22",), grade=Grade.IMPORTANT,
    ),
    _product("regional-output", "stats-js", [VECTORS["aggregate-only"]], ("2026-q3",),
             grade=Grade.CORE, cadence=Cadence.QUARTERLY),
    _product("inventory-levels", "unregistered-owner", [VECTORS["region-js"]], ("1",)),
    _product("not-yet-released", "xcmg", [VECTORS["empty"]], ()),
]  # fmt: skip


def _export(products=PRODUCTS):
    return catalog_jsonld(
        products,
        base_iri=BASE,
        title_zh="江苏可信数据空间目录",
        title_en="Jiangsu trusted data space catalog",
        description_zh="工程机械产业链的数据产品及其使用策略。",
        description_en="Data products of the construction-machinery chain and their policies.",
        operator=Agent("operator", "江苏省数据枢纽 Jiangsu Data Hub"),
        participants=PARTICIPANTS,
    )


@pytest.fixture(scope="module")
def graph():
    expanded = expand(_export())
    assert relative_iris(expanded) == []
    return graph_of(expanded)


def test_the_export_conforms_to_dcat_ap_3_0_1(graph):
    conforms, report = shacl(graph, DCAT_AP_SHAPES)
    assert conforms, report


def test_dcat_ap_objects_to_a_catalog_without_publisher_and_description():
    document = _export()
    del document["dct:publisher"], document["dct:description"]

    conforms, report = shacl(graph_of(expand(document)), DCAT_AP_SHAPES)

    assert not conforms
    assert "dct:publisher" in report
    assert "dct:description" in report


def test_every_offer_in_the_export_is_valid_odrl_with_owner_and_dataset(graph):
    conforms, report = shacl(graph, ODRL_MODEL_SHAPES)
    assert conforms, report
    offers = list(graph.subjects(RDF.type, ODRL.Offer))
    assert len(offers) == 10  # 3 + 5 + 1 + 1: the rule-less offer of not-yet-released is left out
    for offer in offers:
        (dataset,) = graph.subjects(ODRL.hasPolicy, offer)
        (owner,) = graph.objects(dataset, DCT.publisher)
        assert list(graph.objects(offer, ODRL.assigner)) == [owner]
        assert list(graph.objects(offer, ODRL.target)) == [dataset]


def test_publishers_are_named_agents(graph):
    publishers = set(graph.objects(None, DCT.publisher))
    assert URIRef(f"{BASE}/participants/operator") in publishers
    assert len(publishers) == 5
    for publisher in publishers:
        assert (publisher, RDF.type, FOAF.Agent) in graph
        assert len(list(graph.objects(publisher, FOAF.name))) == 1
    unregistered = URIRef(f"{BASE}/participants/unregistered-owner")
    assert list(graph.objects(unregistered, FOAF.name)) == [Literal("unregistered-owner")]


def test_titles_and_descriptions_are_in_chinese_and_english(graph):
    described = [*graph.subjects(RDF.type, DCAT.Catalog), *graph.subjects(RDF.type, DCAT.Dataset)]
    assert len(described) == 6
    for node in described:
        for predicate in (DCT.title, DCT.description):
            assert sorted(value.language for value in graph.objects(node, predicate)) == [
                "en",
                "zh",
            ]


def test_distributions_are_reached_at_the_owners_connector_or_else_at_the_hub(graph):
    def access_urls(product):
        dataset = URIRef(f"{BASE}/products/{product}")
        return {
            url
            for distribution in graph.objects(dataset, DCAT.distribution)
            for url in graph.objects(distribution, DCAT.accessURL)
        }

    assert access_urls("purchase-orders") == {URIRef("https://connector.xcmg.example/dsp")}
    assert access_urls("demand-forecasts") == {URIRef(f"{BASE}/products/demand-forecasts")}
    assert (
        len(list(graph.objects(URIRef(f"{BASE}/products/purchase-orders"), DCAT.distribution))) == 3
    )


def test_the_export_is_the_same_document_every_time():
    assert _export() == _export(PRODUCTS[::-1])
    assert json.dumps(_export(), sort_keys=True) == json.dumps(_export(), sort_keys=True)


def test_an_offer_without_rules_is_left_out_of_its_dataset():
    document = _export([PRODUCTS[-1]])
    (dataset,) = document["dcat:dataset"]
    assert dataset["odrl:hasPolicy"] == []
    assert PRODUCTS[-1].offers == (Policy("urn:policy:empty"),)
