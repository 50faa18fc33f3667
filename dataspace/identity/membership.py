"""Participant registrations and the operator-signed membership credential.

A :class:`Registration` is what a participant declares when it registers, validated once:
slug id, name, unified social credit code (GB 32100-2015), roles, region and industry
chains. The operator admits it by signing a :class:`MembershipCredential` over the
canonical JSON of those facts plus the participant's public key and a validity window;
anyone with the operator's public key can check it with :func:`verify_membership`.
Suspension is a state the registry keeps; a credential only says who was admitted, when
and until when.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from dataspace.canonical import canonical_json, utc_iso
from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.keys import SigningKey, b64url_decode, b64url_encode, load_public_key
from dataspace.identity.keys import verify as verify_signature
from dataspace.identity.uscc import validate_uscc
from dataspace.ids import participant_id, validate_slug

CREDENTIAL_TYPE = "dataspace.membership.v1"
MAX_NAME = 200
# Credentials whose operator signature verified, remembered (see _require_operator_signed).
VERIFIED_CREDENTIALS = 4096


class Role(StrEnum):
    """Roles of participants in the data space."""

    CHAIN_LEADER = "chain_leader"
    SUPPLIER = "supplier"
    PUBLIC_DATA_AUTHORITY = "public_data_authority"
    AUTHORIZED_OPERATOR = "authorized_operator"
    OPERATOR = "operator"


# ISO 3166-1 alpha-2 country, optionally with an ISO 3166-2 subdivision: CN, CN-JS, DE-BY.
REGION_PATTERN = re.compile(r"[A-Z]{2}(?:-[A-Z0-9]{1,3})?", re.ASCII)
HOME_COUNTRY = "CN"


@dataclass(frozen=True)
class Registration:
    """A participant's declared identity. ``uscc`` is stored normalised (upper case)."""

    participant_id: str
    name: str
    uscc: str
    roles: frozenset[Role]
    region: str
    industry_chains: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        participant_id(self.participant_id)
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > MAX_NAME:
            raise InvalidInput(f"The participant name must be 1 to {MAX_NAME} characters.")
        object.__setattr__(self, "uscc", validate_uscc(self.uscc))
        object.__setattr__(self, "roles", frozenset(_role(role) for role in self.roles))
        if not self.roles:
            raise InvalidInput("A participant needs at least one role; pass --role.")
        if not isinstance(self.region, str) or REGION_PATTERN.fullmatch(self.region) is None:
            raise InvalidInput(
                f"The region {self.region!r} is not an ISO 3166 code such as CN-JS or DE; "
                "use the country code, optionally with its subdivision."
            )
        chains = frozenset(validate_slug(c, "industry chain") for c in self.industry_chains)
        object.__setattr__(self, "industry_chains", chains)


def _role(value: object) -> Role:
    if isinstance(value, str) and value in Role._value2member_map_:
        return Role(value)
    choices = ", ".join(role.value for role in Role)
    raise InvalidInput(f"The role {value!r} is unknown; use one of: {choices}.")


@dataclass(frozen=True)
class MembershipCredential:
    registration: Registration
    public_key: str  # base64url Ed25519 public key of the participant
    issued_at: datetime
    valid_until: datetime
    operator: str
    signature: str  # base64url Ed25519 signature by the operator over the payload

    @property
    def payload(self) -> bytes:
        """The canonical bytes the operator signed (:func:`membership_payload`)."""
        return membership_payload(
            self.registration, self.public_key, self.issued_at, self.valid_until, self.operator
        )


def membership_payload(
    registration: Registration,
    public_key: str,
    issued_at: datetime,
    valid_until: datetime,
    operator: str,
) -> bytes:
    """The canonical bytes the operator signs when admitting a participant."""
    body: dict[str, Any] = {
        "type": CREDENTIAL_TYPE,
        "participantId": registration.participant_id,
        "name": registration.name,
        "uscc": registration.uscc,
        "roles": sorted(role.value for role in registration.roles),
        "region": registration.region,
        "industryChains": sorted(registration.industry_chains),
        "publicKey": public_key,
        "issuedAt": utc_iso(issued_at),
        "validUntil": utc_iso(valid_until),
        "operator": operator,
    }
    return canonical_json(body)


def issue_membership(
    registration: Registration,
    public_key: str,
    *,
    issued_at: datetime,
    valid_until: datetime,
    operator: str,
    operator_key: SigningKey,
) -> MembershipCredential:
    """The operator's signed admission of ``registration`` holding ``public_key``."""
    participant_id(operator)
    load_public_key(public_key)  # refuse to vouch for a malformed key
    if valid_until <= issued_at:
        raise InvalidInput("A membership must end after it is issued; extend valid_until.")
    payload = membership_payload(registration, public_key, issued_at, valid_until, operator)
    signature = b64url_encode(operator_key.sign(payload))
    return MembershipCredential(
        registration, public_key, issued_at, valid_until, operator, signature
    )


CREDENTIAL_FIELDS = frozenset({
    "type", "participantId", "name", "uscc", "roles", "region", "industryChains", "publicKey",
    "issuedAt", "validUntil", "operator", "signature",
})  # fmt: skip


def credential_from_json(value: Mapping[str, Any]) -> MembershipCredential:
    """A credential as the hub stores and sends it (the signed fields plus ``signature``);
    InvalidInput for anything else, extra fields included."""
    try:
        if set(value) != CREDENTIAL_FIELDS or value["type"] != CREDENTIAL_TYPE:
            raise InvalidInput("The membership credential does not have exactly its fields.")
        registration = Registration(
            participant_id=value["participantId"],
            name=value["name"],
            uscc=value["uscc"],
            roles=frozenset(value["roles"]),
            region=value["region"],
            industry_chains=frozenset(value["industryChains"]),
        )
        return MembershipCredential(
            registration,
            str(value["publicKey"]),
            datetime.fromisoformat(value["issuedAt"]),
            datetime.fromisoformat(value["validUntil"]),
            str(value["operator"]),
            str(value["signature"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The membership credential is malformed ({exc}).") from exc


def verify_membership(
    credential: MembershipCredential, operator_public_b64: str, now: datetime
) -> None:
    """Return if the operator signed ``credential`` and it is valid at ``now``.

    Raises Unauthorized otherwise.
    """
    who = credential.registration.participant_id
    try:
        _require_operator_signed(credential, operator_public_b64)
    except (InvalidInput, Unauthorized) as exc:
        raise Unauthorized(
            f"The membership credential of {who!r} is not signed by the operator; "
            "ask the operator to admit the participant again."
        ) from exc
    if not credential.issued_at <= now < credential.valid_until:
        raise Unauthorized(
            f"The membership credential of {who!r} is not valid at {utc_iso(now)}; "
            "ask the operator to renew it."
        )


@functools.lru_cache(maxsize=VERIFIED_CREDENTIALS)
def _require_operator_signed(credential: MembershipCredential, operator_public_b64: str) -> None:
    """Raise unless the operator's key signed the credential's payload.

    The costly half of a credential check (canonical JSON, then Ed25519: about 0.25 ms), asked
    for on every grant, decision and receipt. Its answer depends on nothing but these two
    arguments, every signed field included, so a pass is remembered (a failure raises and is
    not). The validity window is checked on every call, and suspension is the registry's
    state, read on every call by its callers: neither is delayed by the memory.
    """
    signature = b64url_decode(credential.signature)
    verify_signature(operator_public_b64, signature, credential.payload)
