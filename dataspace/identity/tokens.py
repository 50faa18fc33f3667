"""Short-lived request tokens: compact JWS (RFC 7515) signed with EdDSA (RFC 8037).

A participant proves who it is by signing a token with the Ed25519 key whose public half
is in the registry; the control plane checks it against that key. Tokens live at most
``MAX_LIFETIME`` and are bound to this control plane by their audience, so a token for
another service cannot be replayed here. The format is a standard JWT, so any participant
can mint one with an off-the-shelf JWT library (``jwt.encode(claims, key, "EdDSA")``).

Only ``alg: EdDSA`` is accepted, whatever else the header claims: the algorithm is never
taken from the token.

Parsing and the signature check are PyJWT's. The audience and time checks are ours
(:func:`check_claims`): PyJWT compares times with the wall clock and cannot be given the
moment to check at, which tests and recorded acts need; ours compare whole seconds as
integers, so no claimed time, however large, reaches ``datetime`` before it is known to be
near ``now``. Any token that is not valid ends in :class:`Unauthorized` with one sentence.
Signing stays here (two segments and :meth:`SigningKey.sign`): a ``SigningKey`` never hands
its private key to a library, and the bytes are those of every token minted before.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.keys import SigningKey, b64url_encode, load_public_key

AUDIENCE = "dataspace-control-plane"
MAX_LIFETIME = timedelta(minutes=5)
CLOCK_SKEW = timedelta(seconds=30)
# A request token is a few hundred characters; the bound keeps junk from being parsed at all.
MAX_TOKEN_CHARS = 8192
_ALGORITHM = "EdDSA"
_HEADER = {"alg": _ALGORITHM, "typ": "JWT"}
# Signature and claim types only: times and audience are check_claims' (see the module doc).
_SIGNATURE_ONLY: jwt.types.Options = {
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
    "require": ["sub"],
}
_MALFORMED = "The token is malformed; mint a new one."
_BAD_SIGNATURE = (
    "The signature does not match the data and the registered public key; "
    "sign again with the registered key."
)


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
    header, unverified = _unverified(token)
    if header.get("alg") != _ALGORITHM:
        raise Unauthorized("The token is not signed with EdDSA; sign it with your Ed25519 key.")
    subject = unverified.get("sub")
    if not isinstance(subject, str) or not subject:
        raise Unauthorized("The token names no participant (sub); mint it with your id.")
    key = _public_key(public_key_of(subject))
    try:
        # The algorithm list is ours, never the header's: no "none", no HS256 keyed with the
        # public key.
        claims = jwt.decode(token, key, algorithms=[_ALGORITHM], options=_SIGNATURE_ONLY)
    except jwt.InvalidSignatureError as exc:
        raise Unauthorized(_BAD_SIGNATURE) from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(_MALFORMED) from exc
    return subject, claims


def check_claims(subject: str, claims: dict[str, object], now: datetime) -> TokenClaims:
    """The claims of a token already verified (:func:`verified_claims`), if its audience and
    times hold at ``now``."""
    if claims.get("aud") != AUDIENCE:
        raise Unauthorized(f"The token is not meant for this service (aud must be {AUDIENCE}).")
    issued, expires = claims.get("iat"), claims.get("exp")
    if not _is_whole_seconds(issued) or not _is_whole_seconds(expires):
        raise Unauthorized("The token lacks whole-second iat and exp claims; mint a new one.")
    # Integers compare exactly with any float, so a claim of 2**62 or -10**20 is refused here
    # instead of overflowing datetime; past these checks both times lie within minutes of now.
    if expires - issued > MAX_LIFETIME.total_seconds():
        raise Unauthorized(f"The token claims to live longer than {MAX_LIFETIME}; mint one anew.")
    if expires <= issued:
        raise Unauthorized("The token expires before it was issued (exp <= iat); mint a new one.")
    if issued > (now + CLOCK_SKEW).timestamp():
        raise Unauthorized("The token was issued in the future; check your clock.")
    if expires <= (now - CLOCK_SKEW).timestamp():
        raise Unauthorized("The token has expired; mint a new one.")
    issued_at = datetime.fromtimestamp(issued, UTC)
    expires_at = datetime.fromtimestamp(expires, UTC)
    return TokenClaims(subject, issued_at, expires_at, str(claims.get("jti", "")))


def _segment(value: Mapping[str, object]) -> str:
    return b64url_encode(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, parsed but not yet trusted: the subject names the key to check with."""
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized(
            f"The token is longer than {MAX_TOKEN_CHARS} characters; send a freshly minted one."
        )
    if not token.isascii() or token.count(".") != 2:  # noqa: PLR2004 (header.payload.signature)
        raise Unauthorized("The token is not a compact JWS (header.payload.signature).")
    try:
        decoded = jwt.decode_complete(token, options={"verify_signature": False})
    except (jwt.PyJWTError, RecursionError) as exc:  # PyJWT maps deep nesting; we do not rely on it
        raise Unauthorized(_MALFORMED) from exc
    return decoded["header"], decoded["payload"]


def _public_key(public_b64: str) -> Ed25519PublicKey:
    try:
        return load_public_key(public_b64)
    except (InvalidInput, ValueError) as exc:
        raise Unauthorized(
            "The public key given to check this signature is malformed; "
            "use the key registered for the participant."
        ) from exc


def _is_whole_seconds(value: object) -> TypeGuard[int]:
    # bool is an int in Python, but "iat": true is no time.
    return isinstance(value, int) and not isinstance(value, bool)
