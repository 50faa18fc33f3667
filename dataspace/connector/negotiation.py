"""A participant's side of a negotiation, signed on its own connector.

Every step is an act sent to the hub (``HubClient.post`` signs it). The two signatures that
make an agreement are made here, over a document this connector has read and checked first:

- the **provider** asks the hub for the draft (``GET /agreements/{id}/draft``), checks that it
  is the negotiation it is party to (its own id, the product, the consumer, the policy it
  offered or countered) and signs it (AGREED);
- the **consumer** reads the agreed document, checks that it names itself, the product and
  the policy it asked for, and signs it (VERIFIED); the hub then checks both signatures
  against the registry and files the agreement (FINALIZED).

The hub never holds either key; what it files is worth both parties' signatures.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dataspace.connector.state import Connector
from dataspace.contracts.agreement import agreement_from_json, agreement_signing_payload
from dataspace.errors import Conflict, Unauthorized
from dataspace.identity.keys import b64url_encode
from dataspace.ids import agreement_id as checked_agreement_id


def request(
    connector: Connector,
    *,
    product: str,
    purpose: str,
    offer: str | None = None,
    valid_until: datetime | None = None,
    max_deliveries: int | None = None,
) -> dict[str, Any]:
    body = {
        "product_id": product,
        "purpose": purpose,
        "offer_id": offer,
        "valid_until": None if valid_until is None else valid_until.isoformat(),
        "max_deliveries": max_deliveries,
    }
    result: dict[str, Any] = connector.hub.post("/agreements", body)
    return result


def show(connector: Connector, agreement: str) -> dict[str, Any]:
    result: dict[str, Any] = connector.hub.get(f"/agreements/{checked_agreement_id(agreement)}")
    return result


def list_agreements(connector: Connector) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = connector.hub.get("/agreements")
    return result


def sign(connector: Connector, agreement: str) -> dict[str, Any]:
    """Take this participant's next signing step on ``agreement``, if it has one."""
    current = show(connector, agreement)
    me, state = connector.participant, current["recorded_state"]
    if me == current["provider"] and state in ("REQUESTED", "ACCEPTED"):
        return _provider_signs(connector, current)
    if me == current["consumer"] and state == "AGREED":
        return _consumer_signs(connector, current)
    if state in ("VERIFIED", "FINALIZED"):
        return current
    raise Conflict(
        f"{current['agreement_id']} is {state}; there is nothing for {me} to sign now"
        + (" (the provider signs first)." if state == "REQUESTED" else ".")
    )


def act(connector: Connector, agreement: str, step: str) -> dict[str, Any]:
    """Reject, revoke or accept (a counter-offer) as this participant."""
    result: dict[str, Any] = connector.hub.post(
        f"/agreements/{checked_agreement_id(agreement)}/{step}"
    )
    return result


def counter(connector: Connector, agreement: str, policy: dict[str, Any]) -> dict[str, Any]:
    """Answer with other terms: the provider a counter-offer (``.../counter``), the consumer a
    counter-request to the provider's counter-offer (``.../counter-request``)."""
    current = show(connector, agreement)
    step = "counter-request" if connector.participant == current["consumer"] else "counter"
    result: dict[str, Any] = connector.hub.post(
        f"/agreements/{checked_agreement_id(agreement)}/{step}", {"policy": policy}
    )
    return result


def _provider_signs(connector: Connector, current: dict[str, Any]) -> dict[str, Any]:
    identifier = current["agreement_id"]
    draft = connector.hub.get(f"/agreements/{identifier}/draft")
    document = agreement_from_json(draft)
    _require(document.agreement_id == identifier, identifier, "names another agreement")
    _require(document.provider.participant_id == connector.participant, identifier,
             "names another provider")  # fmt: skip
    _require(document.consumer.participant_id == current["consumer"], identifier,
             "names another consumer")  # fmt: skip
    _require(document.product_id == current["product_id"], identifier, "names another product")
    signature = connector.key.sign(agreement_signing_payload(document))
    body = {"signature": b64url_encode(signature), "document": draft}
    result: dict[str, Any] = connector.hub.post(f"/agreements/{identifier}/sign", body)
    return result


def _consumer_signs(connector: Connector, current: dict[str, Any]) -> dict[str, Any]:
    identifier = current["agreement_id"]
    document = agreement_from_json(current["document"] or {})
    _require(document.agreement_id == identifier, identifier, "names another agreement")
    _require(document.consumer.participant_id == connector.participant, identifier,
             "names another consumer")  # fmt: skip
    _require(document.product_id == current["product_id"], identifier, "names another product")
    from dataspace.policy.model import policy_to_json  # noqa: PLC0415

    _require(policy_to_json(document.policy) == current["policy"], identifier,
             "carries another policy than the one negotiated")  # fmt: skip
    signature = connector.key.sign(agreement_signing_payload(document))
    body = {"signature": b64url_encode(signature)}
    result: dict[str, Any] = connector.hub.post(f"/agreements/{identifier}/sign", body)
    return result


def _require(holds: bool, agreement: str, what: str) -> None:
    if not holds:
        raise Unauthorized(
            f"The document the hub gave for {agreement} {what}; it was not signed. Tell the "
            "operator."
        )
