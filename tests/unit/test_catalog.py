import json

import pytest
from pyld import jsonld

from dataspace.catalog.dcat import CONTEXT, Agent, catalog_jsonld
from dataspace.catalog.model import Cadence, ProductDescription
from dataspace.errors import InvalidInput
from dataspace.policy.grades import Grade
from dataspace.policy.model import parse_policy

DCAT = "http://www.w3.org/ns/dcat#"
DCT = "http://purl.org/dc/terms/"
ODRL = "http://www.w3.org/ns/odrl/2/"
FOAF = "http://xmlns.com/foaf/0.1/"
BASE = "https://dataspace.example.gov.cn"


def _c(operand, operator, right):
    return {"leftOperand": operand, "operator": operator, "rightOperand": right}


OFFER = parse_policy(
    {
        "uid": "urn:policy:forecast:suppliers",
        "permission": [
            {
                "action": "use",
                "constraint": [
                    _c("purpose", "isAnyOf", ["supply-planning"]),
                    _c("recipientRegion", "isAnyOf", ["CN"]),
                    _c("dateTime", "lt", "2027-01-01T00:00:00Z"),
                    _c("deliveryCount", "lteq", 52),
                ],
                "duty": [
                    {"action": "project", "columns": ["supplier_id", "week", "qty"]},
                    {"action": "mask", "columns": ["qty"], "method": "hash"},
                    {"action": "filterRows", "column": "supplier_id"},
                ],
            }
        ],
        "prohibition": [{"action": "distribute"}],
    }
)


def _product(**overrides):
    fields = {
        "product_id": "demand-forecast",
        "title_zh": "需求预测",
        "title_en": "Demand forecast",
        "description_zh": "链主企业向供应商发布的周度需求预测。",
        "description_en": "Weekly demand forecast published by the chain leader to its suppliers.",
        "owner": "chain-leader",
        "schema_name": "dataspace.products.DemandForecast",
        "suite_name": "demand_forecast",
        "grade": Grade.GENERAL,
        "chain_tags": ("auto", "ev-battery"),
        "cadence": Cadence.WEEKLY,
        "offers": (OFFER,),
        "versions": ("2026-w22", "2026-w23"),
    }
    return ProductDescription(**{**fields, **overrides})


OWNER = Agent("chain-leader", "链主企业 Chain Leader Co.", "https://connector.chain-leader.example")


def _export(products, base_iri=BASE):
    return catalog_jsonld(
        products,
        base_iri=base_iri,
        title_zh="目录",
        title_en="Catalog",
        description_zh="数据产品目录",
        description_en="Catalog of data products",
        operator=Agent("operator", "数据空间运营方"),
        participants={"chain-leader": OWNER},
    )


def _no_network(url, options=None):
    raise AssertionError(f"the export must not need to fetch {url}")


def _expand(document):
    return jsonld.expand(json.loads(json.dumps(document)), {"documentLoader": _no_network})


def _nodes_of_type(node, type_iri, found=None):
    found = [] if found is None else found
    if isinstance(node, dict):
        if type_iri in node.get("@type", []):
            found.append(node)
        for value in node.values():
            _nodes_of_type(value, type_iri, found)
    elif isinstance(node, list):
        for item in node:
            _nodes_of_type(item, type_iri, found)
    return found


@pytest.fixture
def expanded():
    products = [_product(), _product(product_id="inventory", offers=(), versions=())]
    document = _export(products, base_iri=BASE + "/")
    assert {"dcat", "dct", "foaf", "odrl", "xsd", "dqv", "ds"} <= set(CONTEXT)
    return _expand(document)


def test_catalog_expands_with_dcat_iris(expanded):
    (catalog,) = expanded
    assert catalog["@id"] == f"{BASE}/catalog"
    assert catalog["@type"] == [f"{DCAT}Catalog"]
    datasets = catalog[f"{DCAT}dataset"]
    assert [d["@id"] for d in datasets] == [
        f"{BASE}/products/demand-forecast",
        f"{BASE}/products/inventory",
    ]
    assert all(d["@type"] == [f"{DCAT}Dataset"] for d in datasets)


def test_dataset_fields_expand_to_expected_terms(expanded):
    dataset = expanded[0][f"{DCAT}dataset"][0]
    assert dataset[f"{DCT}identifier"] == [{"@value": "demand-forecast"}]
    assert {"@value": "需求预测", "@language": "zh"} in dataset[f"{DCT}title"]
    assert {"@value": "Demand forecast", "@language": "en"} in dataset[f"{DCT}title"]
    assert len(dataset[f"{DCT}description"]) == 2
    assert dataset[f"{DCT}publisher"] == [
        {
            "@id": f"{BASE}/participants/chain-leader",
            "@type": [f"{FOAF}Agent"],
            f"{FOAF}name": [{"@value": OWNER.name}],
        }
    ]
    assert dataset[f"{DCAT}keyword"] == [{"@value": "auto"}, {"@value": "ev-battery"}]
    assert dataset[f"{DCT}accrualPeriodicity"] == [
        {"@id": "http://publications.europa.eu/resource/authority/frequency/WEEKLY"}
    ]


def test_distributions_are_parquet_per_version(expanded):
    distributions = _nodes_of_type(expanded, f"{DCAT}Distribution")
    assert [d["@id"] for d in distributions] == [
        f"{BASE}/products/demand-forecast/versions/2026-w22",
        f"{BASE}/products/demand-forecast/versions/2026-w23",
    ]
    for distribution in distributions:
        assert distribution[f"{DCAT}mediaType"] == [
            {"@id": "https://www.iana.org/assignments/media-types/application/vnd.apache.parquet"}
        ]
        assert distribution[f"{DCAT}accessURL"] == [{"@id": OWNER.endpoint}]


def test_an_owner_the_catalog_cannot_name_is_named_by_its_id_and_reached_at_the_hub():
    document = _export([_product(owner="unlisted-owner")])
    (dataset,) = _expand(document)[0][f"{DCAT}dataset"]
    (publisher,) = dataset[f"{DCT}publisher"]
    assert publisher[f"{FOAF}name"] == [{"@value": "unlisted-owner"}]
    for distribution in dataset[f"{DCAT}distribution"]:
        assert distribution[f"{DCAT}accessURL"] == [{"@id": f"{BASE}/products/demand-forecast"}]


def test_offers_expand_to_odrl(expanded):
    dataset = expanded[0][f"{DCAT}dataset"][0]
    (offer,) = dataset[f"{ODRL}hasPolicy"]
    assert offer["@id"] == "urn:policy:forecast:suppliers"
    assert offer["@type"] == [f"{ODRL}Offer"]
    assert offer[f"{ODRL}assigner"] == [{"@id": f"{BASE}/participants/chain-leader"}]
    assert offer[f"{ODRL}target"] == [{"@id": dataset["@id"]}]
    (permission,) = offer[f"{ODRL}permission"]
    assert permission[f"{ODRL}action"] == [{"@id": f"{ODRL}use"}]
    operands = [c[f"{ODRL}leftOperand"][0]["@id"] for c in permission[f"{ODRL}constraint"]]
    assert operands == [
        f"{ODRL}purpose",
        "urn:dataspace:vocab:recipientRegion",
        f"{ODRL}dateTime",
        f"{ODRL}count",
    ]
    time_constraint = permission[f"{ODRL}constraint"][2]
    assert time_constraint[f"{ODRL}operator"] == [{"@id": f"{ODRL}lt"}]
    assert time_constraint[f"{ODRL}rightOperand"] == [
        {"@value": "2027-01-01T00:00:00Z", "@type": "http://www.w3.org/2001/XMLSchema#dateTime"}
    ]
    duties = [d[f"{ODRL}action"][0]["@id"] for d in permission[f"{ODRL}duty"]]
    assert duties == [f"urn:dataspace:vocab:{name}" for name in ("project", "mask", "filterRows")]
    (prohibition,) = offer[f"{ODRL}prohibition"]
    assert prohibition[f"{ODRL}action"] == [{"@id": f"{ODRL}distribute"}]
    assert dataset[f"{DCT}conformsTo"] == [
        {"@id": f"{BASE}/schemas/dataspace.products.DemandForecast"}
    ]


def test_export_is_deterministic_and_sorted():
    products = [_product(product_id="b-product"), _product(product_id="a-product")]
    first = _export(products)
    second = _export(products[::-1])
    assert first == second
    assert [d["dct:identifier"] for d in first["dcat:dataset"]] == ["a-product", "b-product"]


def test_a_policy_uid_that_is_not_an_iri_gets_one():
    offer = parse_policy({"uid": "plain uid", "permission": [{"action": "aggregate"}]})
    document = _export([_product(offers=(offer,))])
    (expanded_offer,) = _nodes_of_type(_expand(document), f"{ODRL}Offer")
    assert expanded_offer["@id"] == f"{BASE}/policies/plain%20uid"


@pytest.mark.parametrize("base", ["ftp://x", "dataspace.example", "https://x/?q=1", ""])
def test_base_iri_must_be_absolute_http(base):
    with pytest.raises(InvalidInput, match="base IRI"):
        _export([], base_iri=base)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"product_id": "Demand Forecast"}, "product id"),
        ({"owner": "../root"}, "participant id"),
        ({"title_en": " "}, "English title"),
        ({"title_zh": "长" * 201}, "Chinese title"),
        ({"schema_name": "demand-forecast.avsc"}, "schema name"),
        ({"suite_name": "../suite"}, "expectation suite name"),
        ({"grade": "secret"}, "grade 'secret' is unknown"),
        ({"cadence": "hourly"}, "cadence 'hourly' is unknown"),
        ({"chain_tags": ("Auto",)}, "industry-chain tag"),
        ({"versions": ("v1", "v1")}, "version twice"),
        ({"versions": ("../v1",)}, "version"),
    ],
)
def test_invalid_product_descriptions_are_rejected(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        _product(**overrides)


def test_product_accepts_string_grade_and_cadence():
    product = _product(grade="core", cadence="daily")
    assert product.grade is Grade.CORE
    assert product.cadence is Cadence.DAILY


def test_a_checked_product_carries_its_quality_score_as_a_dqv_measurement():
    document = _export([_product(quality_score=87.5), _product(product_id="unchecked")])
    (catalog,) = _expand(document)
    checked, unchecked = catalog[f"{DCAT}dataset"]
    dqv = "http://www.w3.org/ns/dqv#"
    (measurement,) = checked[f"{dqv}hasQualityMeasurement"]
    assert measurement["@type"] == [f"{dqv}QualityMeasurement"]
    assert measurement[f"{dqv}value"] == [
        {"@value": "87.5", "@type": "http://www.w3.org/2001/XMLSchema#decimal"}
    ]
    assert f"{dqv}hasQualityMeasurement" not in unchecked


@pytest.mark.parametrize("endpoint", [None, "", "tcp://connector:9000", "connector.example"])
def test_without_an_http_connector_endpoint_distributions_point_at_the_hub(endpoint):
    document = catalog_jsonld(
        [_product()], base_iri=BASE, title_zh="目录", title_en="Catalog",
        description_zh="目录", description_en="Catalog", operator=Agent("operator", "运营方"),
        participants={"chain-leader": Agent("chain-leader", "链主", endpoint)},
    )  # fmt: skip
    for distribution in document["dcat:dataset"][0]["dcat:distribution"]:
        assert distribution["dcat:accessURL"] == {"@id": f"{BASE}/products/demand-forecast"}


def test_an_agent_needs_a_valid_participant_id():
    with pytest.raises(InvalidInput, match="participant id"):
        Agent("../operator", "运营方")
