"""Validating messages against the Dataspace Protocol 2025-1 JSON Schemas (third-party copies).

The schemas in ``dsp-2025-1/`` are the protocol's own (see ``README.md`` here for their
source and licence). They are draft 2019-09 and refer to each other by their ``$id``; three
transfer schemas write ``#definitions/...`` without the slash, which is rewritten to
``#/definitions/...`` when loading (the only change).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT201909

ROOT = Path(__file__).parent / "dsp-2025-1"
# The schema that defines each message (by its @type), and the answers without a @type.
SCHEMA_OF = {
    "CatalogRequestMessage": "catalog/catalog-request-message-schema.json",
    "DatasetRequestMessage": "catalog/dataset-request-message-schema.json",
    "Catalog": "catalog/catalog-schema.json",
    "Dataset": "catalog/dataset-schema.json",
    "CatalogError": "catalog/catalog-error-schema.json",
    "ContractRequestMessage": "negotiation/contract-request-message-schema.json",
    "ContractOfferMessage": "negotiation/contract-offer-message-schema.json",
    "ContractAgreementMessage": "negotiation/contract-agreement-message-schema.json",
    "ContractAgreementVerificationMessage":
        "negotiation/contract-agreement-verification-message-schema.json",
    "ContractNegotiationEventMessage": "negotiation/contract-negotiation-event-message-schema.json",
    "ContractNegotiationTerminationMessage":
        "negotiation/contract-negotiation-termination-message-schema.json",
    "ContractNegotiation": "negotiation/contract-negotiation-schema.json",
    "ContractNegotiationError": "negotiation/contract-negotiation-error-schema.json",
    "TransferRequestMessage": "transfer/transfer-request-message-schema.json",
    "TransferStartMessage": "transfer/transfer-start-message-schema.json",
    "TransferCompletionMessage": "transfer/transfer-completion-message-schema.json",
    "TransferTerminationMessage": "transfer/transfer-termination-message-schema.json",
    "TransferSuspensionMessage": "transfer/transfer-suspension-message-schema.json",
    "TransferProcess": "transfer/transfer-process-schema.json",
    "TransferError": "transfer/transfer-error-schema.json",
    "VersionResponse": "common/protocol-version-schema.json",
}  # fmt: skip


def _load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8").replace('"#definitions/', '"#/definitions/')
    text = text.replace(".json#definitions/", ".json#/definitions/")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def registry() -> Registry:
    resources = []
    for path in sorted(ROOT.rglob("*-schema.json")):
        document = _load(path)
        resources.append((document["$id"], Resource.from_contents(document, DRAFT201909)))
    return Registry().with_resources(resources)


@cache
def validator(kind: str) -> Draft201909Validator:
    schema = _load(ROOT / SCHEMA_OF[kind])
    return Draft201909Validator(schema, registry=registry())


def errors(message: Any, kind: str | None = None) -> list[str]:
    """What is wrong with ``message`` for the schema of ``kind`` (default: its @type)."""
    kind = kind or (message.get("@type") if isinstance(message, dict) else None)
    if kind not in SCHEMA_OF:
        return [f"no DSP schema for a message of type {kind!r}"]
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator(kind).iter_errors(message)
    ]
