"""A provider connector's catalog as the protocol serves it: its own products, as DCAT.

The products come from the hub's directory (this provider's own, ``GET /products?owner=``),
so the protocol catalog and the hub's DCAT export describe the same offers. Each dataset
carries its offers as ODRL (assigner: this provider; no target, the dataset is the target)
and one distribution per transfer type, served by this connector's protocol endpoint.
Titles and descriptions are language-tagged (``zh`` and ``en``).

Pagination: ``offset`` and ``limit`` query parameters; the answer's ``Link`` header names the
next and previous pages (``rel="next"``, ``rel="previous"``), as the protocol's HTTPS binding
describes.
"""

from __future__ import annotations

from typing import Any

from dataspace.connector.state import Connector
from dataspace.dsp import terms
from dataspace.dsp.messages import ProtocolError
from dataspace.dsp.negotiation import own_address
from dataspace.dsp.terms import CONTEXT, TransferFormat
from dataspace.errors import InvalidInput, NotFound
from dataspace.policy.model import parse_policy
from dataspace.policy.odrl import odrl_policy

ERROR = "CatalogError"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def own_products(connector: Connector) -> list[dict[str, Any]]:
    products: list[dict[str, Any]] = connector.hub.get(
        "/products", params={"owner": connector.participant}
    )
    return sorted(products, key=lambda product: product["product_id"])


def catalog(connector: Connector, *, offset: int, limit: int) -> tuple[dict[str, Any], bool]:
    """One page of the catalog, and whether a next page exists."""
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise ProtocolError(400, "bad-request",
                            f"offset must be >= 0 and limit between 1 and {MAX_LIMIT}.",
                            error_type=ERROR)  # fmt: skip
    products = own_products(connector)
    page = products[offset : offset + limit]
    address = own_address(connector)
    body: dict[str, Any] = {
        "@context": CONTEXT,
        "@id": f"urn:dataspace:catalog:{connector.participant}",
        "@type": "Catalog",
        "participantId": terms.participant_iri(connector.participant),
        "service": [_service(address)],
    }
    if page:
        body["dataset"] = [dataset(product, address) for product in page]
    return body, offset + limit < len(products)


def one_dataset(connector: Connector, identifier: str) -> dict[str, Any]:
    try:
        product = terms.product_of(identifier)
    except InvalidInput as exc:
        raise ProtocolError(400, "bad-request", str(exc), error_type=ERROR) from exc
    try:
        record: dict[str, Any] = connector.hub.get(f"/products/{product}")
    except NotFound as exc:
        raise ProtocolError(404, "not-found", f"There is no dataset {identifier!r} here.",
                            error_type=ERROR) from exc  # fmt: skip
    if record["owner"] != connector.participant:
        raise ProtocolError(404, "not-found", f"There is no dataset {identifier!r} here.",
                            error_type=ERROR)  # fmt: skip
    return {"@context": CONTEXT, **dataset(record, own_address(connector))}


def dataset(product: dict[str, Any], address: str) -> dict[str, Any]:
    owner = terms.participant_iri(product["owner"])
    return {
        "@id": terms.dataset_iri(product["product_id"]),
        "@type": "Dataset",
        "dct:title": _bilingual(product["title_zh"], product["title_en"]),
        "dct:description": _bilingual(product["description_zh"], product["description_en"]),
        "dcat:keyword": list(product.get("chain_tags") or ()),
        "hasPolicy": [
            odrl_policy(
                parse_policy(offer["policy"]),
                kind="Offer",
                policy_id=terms.offer_iri(offer["offer_id"]),
                assigner=owner,
            )
            for offer in product["offers"]
        ],
        "distribution": [
            {
                "@type": "Distribution",
                "format": transfer_format.value,
                "accessService": _service(address),
            }
            for transfer_format in TransferFormat
        ],
    }


def _service(address: str) -> dict[str, Any]:
    return {"@id": f"{address}#service", "@type": "DataService", "endpointURL": address}


def _bilingual(zh: str, en: str) -> list[dict[str, str]]:
    return [{"@value": zh, "@language": "zh"}, {"@value": en, "@language": "en"}]
