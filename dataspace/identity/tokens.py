"""Short-lived request tokens: compact JWS (RFC 7515) signed with EdDSA (RFC 8037).

A participant proves who it is by signing a token with the Ed25519 key whose public half
is in the registry; the control plane checks it against that key. Tokens live at most
``MAX_LIFETIME`` and are bound to this control plane by their audience, so a token for
another service cannot be replayed here. The format is a standard JWT, so any participant
can mint one with an off-the-shelf JWT library (``jwt.encode(claims, key, "EdDSA")``).

Only ``alg: EdDSA`` is accepted, whatever else the header claims: the algorithm is never
taken from the token.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.keys import SigningKey, b64url_decode, b64url_encode, verify

AUDIENCE = "dataspace-control-plane"
MAX_LIFETIME = timedelta(minutes=5)
CLOCK_SKEW = timedelta(seconds=30)
_HEADER = {"alg": "EdDSA", "typ": "JWT"}


@dataclass(frozen=True)
class TokenClaims:
    subject: str  # the participant id
    issued_at: datetime
    expires_at: datetime
    token_id: str


def mint(
    participant_id: str,
    key: SigningKey,
    *,
    now: datetime | None = None,
    lifetime: timedelta = timedelta(minutes=2),
    extra: Mapping[str, object] | None = None,
) -> str:
    """A token saying "I am ``participant_id``", valid for ``lifetime`` (≤ 5 minutes)."""
    if lifetime > MAX_LIFETIME:
        raise InvalidInput(f"A token may live at most {MAX_LIFETIME}; ask for less.")
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = {
        "sub": participant_id,
        "aud": AUDIENCE,
        "iat": int(issued.timestamp()),
        "exp": int((issued + lifetime).timestamp()),
        "jti": secrets.token_urlsafe(12),
        **(extra or {}),
    }
    return sign_claims(claims, key)


def sign_claims(claims: Mapping[str, object], key: SigningKey) -> str:
    """A compact JWS of ``claims`` signed with EdDSA by ``key``."""
    signing_input = f"{_segment(_HEADER)}.{_segment(claims)}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode('ascii')))}"


def check(
    token: str,
    public_key_of: Callable[[str], str],
    *,
    now: datetime | None = None,
) -> TokenClaims:
    """The claims of a valid token; Unauthorized (one sentence) for anything else.

    ``public_key_of`` returns the registered public key of a participant id, raising
    Unauthorized when there is none.
    """
    subject, claims = verified_claims(token, public_key_of)
    return check_claims(subject, claims, now or datetime.now(UTC))


def verified_claims(
    token: str, public_key_of: Callable[[str], str]
) -> tuple[str, dict[str, object]]:
    """The subject and claims of a token whose EdDSA signature is its subject's; times and
    audience are not checked here (a recorded act is checked long after it expired)."""
    header, claims, signing_input, signature = _split(token)
    if header.get("alg") != "EdDSA":
        raise Unauthorized("The token is not signed with EdDSA; sign it with your Ed25519 key.")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("The token names no participant (sub); mint it with your id.")
    verify(public_key_of(subject), signature, signing_input)
    return subject, claims


def check_claims(subject: str, claims: dict[str, object], now: datetime) -> TokenClaims:
    """The claims of a token already verified (:func:`verified_claims`), if its audience and
    times hold at ``now``."""
    if claims.get("aud") != AUDIENCE:
        raise Unauthorized(f"The token is not meant for this service (aud must be {AUDIENCE}).")
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int) or not isinstance(expires, int):
        raise Unauthorized("The token lacks whole-second iat and exp claims; mint a new one.")
    issued_at = datetime.fromtimestamp(issued, UTC)
    expires_at = datetime.fromtimestamp(expires, UTC)
    if expires_at - issued_at > MAX_LIFETIME:
        raise Unauthorized(f"The token claims to live longer than {MAX_LIFETIME}; mint one anew.")
    if issued_at > now + CLOCK_SKEW:
        raise Unauthorized("The token was issued in the future; check your clock.")
    if expires_at <= now - CLOCK_SKEW:
        raise Unauthorized("The token has expired; mint a new one.")
    return TokenClaims(subject, issued_at, expires_at, str(claims.get("jti", "")))


def _segment(value: Mapping[str, object]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def _split(token: str) -> tuple[dict[str, object], dict[str, object], bytes, bytes]:
    parts = token.split(".")
    if not token.isascii() or len(parts) != 3:  # noqa: PLR2004 (header.payload.signature)
        raise Unauthorized("The token is not a compact JWS (header.payload.signature).")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (InvalidInput, ValueError) as exc:
        raise Unauthorized("The token is malformed; mint a new one.") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Unauthorized("The token is malformed; mint a new one.")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature
