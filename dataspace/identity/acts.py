"""Signed acts: a participant's request to the hub, signed on the participant's own connector.

An *act* is the bearer token of a request that changes something (a registration, a step of a
negotiation, a release manifest, a receipt). It is an ordinary request token
(:mod:`dataspace.identity.tokens`: EdDSA, at most five minutes, bound to the hub by its
audience) with three more claims that bind it to exactly one request:

- ``htm``: the HTTP method, upper case;
- ``htu``: the request path (no scheme, host or query), e.g. ``/agreements/agr-…/accept``;
- ``bsh``: the SHA-256 (hex) of the request body's bytes as sent (of ``b""`` when empty);
- ``rcv`` (between connectors only): the participant whose connector is to receive the
  request, so that a request signed for one connector cannot be replayed at another.

So a token taken from one request cannot be used for another (a different path or body), and
its ``jti`` lets the hub refuse the same request twice. The hub keeps the act with every ledger
entry it records for it, so anybody holding the actor's public key can check later, offline,
that the participant itself asked for what the entry records (:func:`recorded_act`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity import tokens
from dataspace.identity.keys import SigningKey, b64url_decode

ACT_LIFETIME = timedelta(minutes=2)
MAX_TOKEN = 8192


@dataclass(frozen=True)
class Act:
    """A verified act: who asked, for which request, with which body."""

    actor: str
    method: str
    path: str
    body_sha256: str
    token_id: str
    issued_at: datetime
    token: str


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def mint_act(
    actor: str,
    key: SigningKey,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    now: datetime | None = None,
    receiver: str | None = None,
) -> str:
    """The bearer token of one request by ``actor``, signed with its own key (for
    ``receiver``'s connector, when given)."""
    extra = {"htm": method.upper(), "htu": path, "bsh": body_sha256(body)}
    if receiver is not None:
        extra["rcv"] = receiver
    return tokens.mint(actor, key, now=now, lifetime=ACT_LIFETIME, extra=extra)


def check_act(
    token: str,
    public_key_of: Callable[[str], str],
    *,
    method: str,
    path: str,
    body: bytes,
    now: datetime | None = None,
    receiver: str | None = None,
) -> Act:
    """The act, if the token is valid now and was made for exactly this request (and, when
    ``receiver`` is given, for that participant's connector)."""
    subject, raw = tokens.verified_claims(token, public_key_of)  # one signature check
    tokens.check_claims(subject, raw, now or datetime.now(UTC))
    act = _act_of(subject, raw, token)
    if receiver is not None and raw.get("rcv") != receiver:
        raise Unauthorized(
            f"The token was not signed for {receiver}'s connector (its rcv claim is "
            f"{raw.get('rcv')!r}); sign each request for the connector you send it to."
        )
    if act.method != method.upper() or act.path != path:
        raise Unauthorized(
            f"The token was signed for {act.method} {act.path}, not for {method.upper()} {path}; "
            "sign each request on its own."
        )
    if act.body_sha256 != body_sha256(body):
        raise Unauthorized(
            "The request body is not the one the token was signed for; sign the body you send."
        )
    return act


def is_act(token: str) -> bool:
    """Whether a (not yet verified) token claims to be an act: it names a request."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > MAX_TOKEN:  # noqa: PLR2004 (header.payload.signature)
        return False
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except (InvalidInput, ValueError, RecursionError):
        return False
    return isinstance(claims, dict) and "htm" in claims


def recorded_act(token: str, public_key: str) -> Act:
    """The act a ledger entry keeps, if ``public_key`` signed it (times are not checked: the
    act is checked long after it expired)."""
    subject, raw = tokens.verified_claims(token, lambda _: public_key)
    return _act_of(subject, raw, token)


def _act_of(subject: str, raw: dict[str, object], token: str) -> Act:
    method, path, digest = raw.get("htm"), raw.get("htu"), raw.get("bsh")
    issued, token_id = raw.get("iat"), raw.get("jti")
    if not (isinstance(method, str) and isinstance(path, str) and isinstance(digest, str)):
        raise Unauthorized(
            "The token is not bound to a request (htm, htu and bsh claims); a change must be "
            "signed as an act (dataspace.identity.acts.mint_act)."
        )
    if not isinstance(issued, int) or not isinstance(token_id, str) or not token_id:
        raise Unauthorized("The act lacks whole-second iat or a jti; sign it again.")
    try:
        issued_at = datetime.fromtimestamp(issued, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise Unauthorized("The act's iat is not a time; sign it again.") from exc
    return Act(subject, method, path, digest, token_id, issued_at, token)
