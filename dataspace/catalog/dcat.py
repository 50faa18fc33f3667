"""Export of the catalog as DCAT 3 JSON-LD, with each product's offers as ODRL policies.

Guarantees of :func:`catalog_jsonld`:

- the result is a JSON-LD document with its ``@context`` inline: a JSON-LD processor can
  expand it without fetching anything;
- every node has an absolute IRI derived from ``base_iri`` and validated ids, so the same
  catalog always exports to the same document (stable coordinates, no clock);
- titles and descriptions are language-tagged literals (``zh`` and ``en``);
- offers use ODRL terms where ODRL has them and the profile namespace ``ds:`` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlsplit

from dataspace.canonical import utc_iso
from dataspace.catalog.model import Cadence, ProductDescription
from dataspace.errors import InvalidInput
from dataspace.policy.model import (
    PROFILE,
    Constraint,
    CountConstraint,
    Permission,
    Policy,
    TimeConstraint,
)

DS_NAMESPACE = "urn:dataspace:vocab:"
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "odrl": "http://www.w3.org/ns/odrl/2/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dqv": "http://www.w3.org/ns/dqv#",
    "ds": DS_NAMESPACE,
}
PARQUET_MEDIA_TYPE = "https://www.iana.org/assignments/media-types/application/vnd.apache.parquet"
FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
FREQUENCY_OF = {
    Cadence.DAILY: "DAILY",
    Cadence.WEEKLY: "WEEKLY",
    Cadence.MONTHLY: "MONTHLY",
    Cadence.QUARTERLY: "QUARTERLY",
    Cadence.YEARLY: "ANNUAL",
    Cadence.IRREGULAR: "IRREG",
}
# Operands ODRL defines itself; the rest are the profile's own terms.
ODRL_OPERANDS = {
    "purpose": "odrl:purpose",
    "recipient": "odrl:recipient",
    "dateTime": "odrl:dateTime",
}
ODRL_OPERANDS["deliveryCount"] = "odrl:count"


def catalog_jsonld(
    products: Iterable[ProductDescription], *, base_iri: str, title_zh: str, title_en: str
) -> dict[str, Any]:
    """The whole catalog as one DCAT JSON-LD document; products sorted by id."""
    base = _base(base_iri)
    datasets = [_dataset(product, base) for product in sorted(products, key=lambda p: p.product_id)]
    return {
        "@context": CONTEXT,
        "@id": f"{base}/catalog",
        "@type": "dcat:Catalog",
        "dct:title": _bilingual(title_zh, title_en),
        "dcat:dataset": datasets,
    }


def _base(base_iri: str) -> str:
    parts = urlsplit(base_iri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidInput(
            f"The catalog base IRI {base_iri!r} is not an absolute http(s) IRI without query "
            "or fragment; use something like https://dataspace.example.gov.cn."
        )
    return base_iri.rstrip("/")


def _bilingual(zh: str, en: str) -> list[dict[str, str]]:
    return [{"@value": zh, "@language": "zh"}, {"@value": en, "@language": "en"}]


def _dataset(product: ProductDescription, base: str) -> dict[str, Any]:
    iri = f"{base}/products/{product.product_id}"
    return {
        "@id": iri,
        "@type": "dcat:Dataset",
        "dct:identifier": product.product_id,
        "dct:title": _bilingual(product.title_zh, product.title_en),
        "dct:description": _bilingual(product.description_zh, product.description_en),
        "dct:publisher": {"@id": f"{base}/participants/{product.owner}"},
        "dcat:keyword": list(product.chain_tags),
        "dct:accrualPeriodicity": {"@id": FREQUENCY + FREQUENCY_OF[product.cadence]},
        "dct:conformsTo": {"@id": f"{base}/schemas/{product.schema_name}"},
        "ds:expectationSuite": product.suite_name,
        "ds:grade": product.grade.value,
        "dcat:distribution": [_distribution(iri, version) for version in product.versions],
        "odrl:hasPolicy": [_offer(policy, base) for policy in product.offers],
        **_quality(product),
    }


def _quality(product: ProductDescription) -> dict[str, Any]:
    """The latest scheduled quality score (0-100) as a DQV measurement, once there is one."""
    if product.quality_score is None:
        return {}
    return {
        "dqv:hasQualityMeasurement": {
            "@type": "dqv:QualityMeasurement",
            "dqv:isMeasurementOf": {"@id": "ds:qualityScore"},
            "dqv:value": {"@value": f"{product.quality_score:g}", "@type": "xsd:decimal"},
        }
    }


def _distribution(dataset_iri: str, version: str) -> dict[str, Any]:
    return {
        "@id": f"{dataset_iri}/versions/{version}",
        "@type": "dcat:Distribution",
        "dct:identifier": version,
        "dcat:mediaType": {"@id": PARQUET_MEDIA_TYPE},
    }


def _offer(policy: Policy, base: str) -> dict[str, Any]:
    is_iri = ":" in policy.uid and " " not in policy.uid
    iri = policy.uid if is_iri else f"{base}/policies/{quote(policy.uid, safe='')}"
    return {
        "@id": iri,
        "@type": "odrl:Offer",
        "odrl:profile": {"@id": PROFILE},
        "odrl:permission": [_permission(rule) for rule in policy.permissions],
        "odrl:prohibition": [
            {
                "odrl:action": {"@id": f"odrl:{rule.action.value}"},
                "odrl:constraint": _constraints(rule.constraints),
            }
            for rule in policy.prohibitions
        ],
    }


def _permission(rule: Permission) -> dict[str, Any]:
    duties: list[dict[str, Any]] = []
    view = rule.view
    if view.columns is not None:
        duties.append({"odrl:action": {"@id": "ds:project"}, "ds:column": list(view.columns)})
    for mask in view.masks:
        duties.append(
            {
                "odrl:action": {"@id": "ds:mask"},
                "ds:column": [mask.column],
                "ds:method": mask.method.value,
            }
        )
    if view.row_filter_column is not None:
        duties.append(
            {"odrl:action": {"@id": "ds:filterRows"}, "ds:column": [view.row_filter_column]}
        )
    return {
        "odrl:action": {"@id": f"odrl:{rule.action.value}"},
        "odrl:constraint": _constraints(rule.constraints),
        "odrl:duty": duties,
    }


def _constraints(constraints: tuple[Constraint, ...]) -> list[dict[str, Any]]:
    return [_constraint(constraint) for constraint in constraints]


def _constraint(constraint: Constraint) -> dict[str, Any]:
    right: Any
    if isinstance(constraint, TimeConstraint):
        operand, operator = "dateTime", constraint.operator.value
        right = {"@value": utc_iso(constraint.instant), "@type": "xsd:dateTime"}
    elif isinstance(constraint, CountConstraint):
        operand, operator = "deliveryCount", "lteq"
        right = {"@value": constraint.maximum, "@type": "xsd:integer"}
    else:
        operand, operator = constraint.operand.value, constraint.operator.value
        right = list(constraint.values)
    return {
        "odrl:leftOperand": {"@id": ODRL_OPERANDS.get(operand, f"ds:{operand}")},
        "odrl:operator": {"@id": f"odrl:{operator}"},
        "odrl:rightOperand": right,
    }
