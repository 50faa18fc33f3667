"""Agreement documents: what both parties sign when a negotiation is finalized.

Guarantees:

- an :class:`Agreement` is valid by construction: slugs, both unified social credit codes
  (GB 32100-2015), an aware validity window that is not empty, distinct parties;
- :func:`agreement_signing_payload` is the RFC 8785 canonical JSON of every field, so any
  change to any field (policy included) changes the payload and breaks both signatures;
- :func:`verify_agreement` succeeds only if *both* parties signed exactly this payload with
  the keys given, and says whose signature failed otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dataspace.canonical import canonical_json, utc_iso
from dataspace.contracts.negotiation import TerminationReason
from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.keys import SigningKey, verify
from dataspace.identity.uscc import validate_uscc
from dataspace.ids import agreement_id, participant_id, product_id
from dataspace.policy.model import Policy, parse_policy, policy_to_json

PAYLOAD_TYPE = "dataspace.agreement.v1"


@dataclass(frozen=True)
class Party:
    """A participant as named in an agreement: its id and its credit code."""

    participant_id: str
    uscc: str

    def __post_init__(self) -> None:
        participant_id(self.participant_id)
        if validate_uscc(self.uscc) != self.uscc:
            raise InvalidInput(
                f"The credit code {self.uscc!r} is not in normal form; write it as "
                f"{validate_uscc(self.uscc)!r}."
            )


@dataclass(frozen=True)
class Agreement:
    """A concluded contract for one product between a provider and a consumer.

    ``max_deliveries`` None means the policy alone limits the number of deliveries.
    """

    agreement_id: str
    product_id: str
    provider: Party
    consumer: Party
    policy: Policy
    valid_from: datetime
    valid_until: datetime
    max_deliveries: int | None = None

    def __post_init__(self) -> None:
        agreement_id(self.agreement_id)
        product_id(self.product_id)
        if self.provider.participant_id == self.consumer.participant_id:
            raise InvalidInput("An agreement needs two different parties; check the consumer.")
        _require_aware(self.valid_from, self.valid_until)
        if self.valid_from >= self.valid_until:
            raise InvalidInput(
                f"The agreement's validity window ends ({utc_iso(self.valid_until)}) before "
                f"it starts ({utc_iso(self.valid_from)}); make valid_until later."
            )
        if self.max_deliveries is not None and self.max_deliveries < 0:
            raise InvalidInput("The maximum number of deliveries cannot be negative.")


def _require_aware(*moments: datetime) -> None:
    for moment in moments:
        utc_iso(moment)  # raises InvalidInput for a naive datetime


def agreement_json(doc: Agreement) -> dict[str, Any]:
    """The JSON form of an agreement, as it is signed and filed."""
    return {
        "type": PAYLOAD_TYPE,
        "agreementId": doc.agreement_id,
        "productId": doc.product_id,
        "provider": {"id": doc.provider.participant_id, "uscc": doc.provider.uscc},
        "consumer": {"id": doc.consumer.participant_id, "uscc": doc.consumer.uscc},
        "policy": policy_to_json(doc.policy),
        "validFrom": utc_iso(doc.valid_from),
        "validUntil": utc_iso(doc.valid_until),
        "maxDeliveries": doc.max_deliveries,
    }


def agreement_from_json(document: Mapping[str, Any]) -> Agreement:
    """Read back what :func:`agreement_json` wrote; InvalidInput if it is not such a document.

    ``agreement_json(agreement_from_json(d)) == d`` for every document written here, so the
    signatures over a stored document can be checked again at any time.
    """
    try:
        if document["type"] != PAYLOAD_TYPE:
            raise InvalidInput(f"The document is not a {PAYLOAD_TYPE} agreement.")
        return Agreement(
            agreement_id=document["agreementId"],
            product_id=document["productId"],
            provider=Party(document["provider"]["id"], document["provider"]["uscc"]),
            consumer=Party(document["consumer"]["id"], document["consumer"]["uscc"]),
            policy=parse_policy(document["policy"]),
            valid_from=datetime.fromisoformat(document["validFrom"]),
            valid_until=datetime.fromisoformat(document["validUntil"]),
            max_deliveries=document["maxDeliveries"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"The agreement document is incomplete or malformed ({exc!r}); "
            "take it as the control plane filed it."
        ) from exc


def agreement_signing_payload(doc: Agreement) -> bytes:
    """The exact bytes both parties sign: RFC 8785 canonical JSON of :func:`agreement_json`."""
    return canonical_json(agreement_json(doc))


def sign_agreement(doc: Agreement, key: SigningKey) -> bytes:
    """One party's Ed25519 signature over the agreement's signing payload."""
    return key.sign(agreement_signing_payload(doc))


def verify_agreement(
    doc: Agreement,
    provider_sig: bytes,
    consumer_sig: bytes,
    provider_pub: str,
    consumer_pub: str,
) -> None:
    """Return if both parties signed ``doc``; raise Unauthorized naming the failing party."""
    if provider_pub == consumer_pub:
        raise Unauthorized(
            "The provider and the consumer were given the same public key; "
            "check each against the participant registry."
        )
    payload = agreement_signing_payload(doc)
    for role, party, signature, public in (
        ("provider", doc.provider, provider_sig, provider_pub),
        ("consumer", doc.consumer, consumer_sig, consumer_pub),
    ):
        try:
            verify(public, signature, payload)
        except Unauthorized as exc:
            raise Unauthorized(
                f"The {role} {party.participant_id!r} did not sign agreement "
                f"{doc.agreement_id!r} as it stands; the document or the signature was changed."
            ) from exc


def termination_due(
    doc: Agreement, now: datetime, deliveries_so_far: int
) -> TerminationReason | None:
    """Why a finalized agreement must end now (expired, exhausted), or None if it stays."""
    if now >= doc.valid_until:
        return TerminationReason.EXPIRED
    if doc.max_deliveries is not None and deliveries_so_far >= doc.max_deliveries:
        return TerminationReason.EXHAUSTED
    return None
