"""Export of the catalog as DCAT 3 JSON-LD (DCAT-AP 3.0.1), each offer an ODRL 2.2 Offer.

Guarantees of :func:`catalog_jsonld`:

- the result is a JSON-LD document with its ``@context`` inline: a JSON-LD processor can
  expand it without fetching anything;
- every node has an absolute IRI derived from ``base_iri`` and validated ids, so the same
  catalog always exports to the same document (stable coordinates, no clock);
- it conforms to the DCAT-AP 3.0.1 SHACL shapes: the catalog and every dataset have a
  language-tagged (``zh`` and ``en``) title and description and a publisher that is a
  ``foaf:Agent`` with a name; every distribution has an access URL;
- offers are written by :func:`dataspace.policy.odrl.odrl_policy`, with the product's owner
  as assigner and the dataset as target, in the terms of the Dataspace Protocol's ODRL
  context (defined inline); the profile's own terms are ``urn:dataspace:vocab:`` IRIs. An
  offer without any rule grants nothing and is no valid ODRL policy, so it is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit

from dataspace.catalog.model import Cadence, ProductDescription
from dataspace.errors import InvalidInput
from dataspace.ids import participant_id
from dataspace.policy.model import Policy
from dataspace.policy.odrl import ODRL_CONTEXT, VOCAB, odrl_policy

DS_NAMESPACE = VOCAB
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dqv": "http://www.w3.org/ns/dqv#",
    "ds": DS_NAMESPACE,
    **ODRL_CONTEXT,
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


@dataclass(frozen=True)
class Agent:
    """A participant as the catalog names it; ``endpoint`` is its connector's base URL, used
    as its distributions' access URL when it is an absolute http(s) URL."""

    participant_id: str
    name: str
    endpoint: str | None = None

    def __post_init__(self) -> None:
        participant_id(self.participant_id)


def catalog_jsonld(
    products: Iterable[ProductDescription],
    *,
    base_iri: str,
    title_zh: str,
    title_en: str,
    description_zh: str,
    description_en: str,
    operator: Agent,
    participants: Mapping[str, Agent] = MappingProxyType({}),
) -> dict[str, Any]:
    """The whole catalog as one DCAT JSON-LD document; products sorted by id.

    ``operator`` publishes the catalog. ``participants`` names the owners by id; an owner
    missing there is named by its id, and its distributions point at the hub's product page.
    """
    base = _base(base_iri)
    datasets = [
        _dataset(
            product, base, participants.get(product.owner) or Agent(product.owner, product.owner)
        )
        for product in sorted(products, key=lambda p: p.product_id)
    ]
    return {
        "@context": CONTEXT,
        "@id": f"{base}/catalog",
        "@type": "dcat:Catalog",
        "dct:title": _bilingual(title_zh, title_en),
        "dct:description": _bilingual(description_zh, description_en),
        "dct:publisher": _agent(operator, base),
        "dcat:dataset": datasets,
    }


def _base(base_iri: str) -> str:
    if not _is_http(base_iri):
        raise InvalidInput(
            f"The catalog base IRI {base_iri!r} is not an absolute http(s) IRI without query "
            "or fragment; use something like https://dataspace.example.gov.cn."
        )
    return base_iri.rstrip("/")


def _is_http(iri: str | None) -> bool:
    parts = urlsplit(iri or "")
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not (parts.query or parts.fragment)
    )


def _bilingual(zh: str, en: str) -> list[dict[str, str]]:
    return [{"@value": zh, "@language": "zh"}, {"@value": en, "@language": "en"}]


def _agent(agent: Agent, base: str) -> dict[str, Any]:
    return {
        "@id": _participant_iri(agent.participant_id, base),
        "@type": "foaf:Agent",
        "foaf:name": agent.name,
    }


def _participant_iri(participant_id: str, base: str) -> str:
    return f"{base}/participants/{participant_id}"


def _dataset(product: ProductDescription, base: str, owner: Agent) -> dict[str, Any]:
    iri = f"{base}/products/{product.product_id}"
    # Where the data is had: the owner's connector; without one, the hub's product page.
    access_url = owner.endpoint if owner.endpoint and _is_http(owner.endpoint) else iri
    return {
        "@id": iri,
        "@type": "dcat:Dataset",
        "dct:identifier": product.product_id,
        "dct:title": _bilingual(product.title_zh, product.title_en),
        "dct:description": _bilingual(product.description_zh, product.description_en),
        "dct:publisher": _agent(owner, base),
        "dcat:keyword": list(product.chain_tags),
        "dct:accrualPeriodicity": {"@id": FREQUENCY + FREQUENCY_OF[product.cadence]},
        "dct:conformsTo": {"@id": f"{base}/schemas/{product.schema_name}"},
        "ds:expectationSuite": product.suite_name,
        "ds:grade": product.grade.value,
        "dcat:distribution": [
            _distribution(iri, version, access_url) for version in product.versions
        ],
        "odrl:hasPolicy": [
            _offer(policy, base, iri, owner)
            for policy in product.offers
            if policy.permissions or policy.prohibitions  # an empty one offers nothing
        ],
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


def _distribution(dataset_iri: str, version: str, access_url: str) -> dict[str, Any]:
    return {
        "@id": f"{dataset_iri}/versions/{version}",
        "@type": "dcat:Distribution",
        "dct:identifier": version,
        "dcat:accessURL": {"@id": access_url},
        "dcat:mediaType": {"@id": PARQUET_MEDIA_TYPE},
    }


def _offer(policy: Policy, base: str, dataset_iri: str, owner: Agent) -> dict[str, Any]:
    is_iri = ":" in policy.uid and " " not in policy.uid
    iri = policy.uid if is_iri else f"{base}/policies/{quote(policy.uid, safe='')}"
    assigner = _participant_iri(owner.participant_id, base)
    return odrl_policy(policy, kind="Offer", policy_id=iri, assigner=assigner, target=dataset_iri)
