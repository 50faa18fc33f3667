"""Request tokens: standard EdDSA JWTs, short-lived, checked against the registered key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from hypothesis import given
from hypothesis import strategies as st

from dataspace.errors import InvalidInput, Unauthorized
from dataspace.identity.keys import SigningKey, b64url_decode, b64url_encode, load_public_key
from dataspace.identity.tokens import AUDIENCE, check, mint

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ALICE, MALLORY = SigningKey.generate(), SigningKey.generate()
REGISTRY = {"alice": ALICE.public_key_b64, "mallory": MALLORY.public_key_b64}


def public_key_of(participant: str) -> str:
    if participant not in REGISTRY:
        raise Unauthorized(f"{participant} is not registered.")
    return REGISTRY[participant]


def test_a_fresh_token_names_its_participant() -> None:
    claims = check(mint("alice", ALICE, now=NOW), public_key_of, now=NOW + timedelta(seconds=5))
    assert claims.subject == "alice"
    assert claims.expires_at - claims.issued_at == timedelta(minutes=2)


def test_tokens_are_standard_jwts_both_ways() -> None:
    token = mint("alice", ALICE)
    decoded = jwt.decode(
        token, load_public_key(ALICE.public_key_b64), algorithms=["EdDSA"], audience=AUDIENCE
    )
    assert decoded["sub"] == "alice"

    private = load_pem_private_key(ALICE.private_pem(), password=None)
    now = int(datetime.now(UTC).timestamp())
    foreign = jwt.encode(
        {"sub": "alice", "aud": AUDIENCE, "iat": now, "exp": now + 60}, private, "EdDSA"
    )
    assert check(foreign, public_key_of).subject == "alice"


def test_a_token_signed_by_someone_else_is_refused() -> None:
    forged = mint("alice", MALLORY, now=NOW)
    with pytest.raises(Unauthorized, match="signature does not match"):
        check(forged, public_key_of, now=NOW)


def test_changing_the_subject_breaks_the_signature() -> None:
    header, payload, signature = mint("mallory", MALLORY, now=NOW).split(".")
    claims = json.loads(b64url_decode(payload))
    claims["sub"] = "alice"
    tampered = f"{header}.{b64url_encode(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(Unauthorized):
        check(tampered, public_key_of, now=NOW)


def test_expired_and_future_tokens_are_refused() -> None:
    token = mint("alice", ALICE, now=NOW)
    with pytest.raises(Unauthorized, match="expired"):
        check(token, public_key_of, now=NOW + timedelta(minutes=3))
    with pytest.raises(Unauthorized, match="future"):
        check(token, public_key_of, now=NOW - timedelta(minutes=5))


def test_long_lived_tokens_cannot_be_minted_or_used() -> None:
    with pytest.raises(InvalidInput):
        mint("alice", ALICE, lifetime=timedelta(hours=1))
    private = load_pem_private_key(ALICE.private_pem(), password=None)
    issued = int(NOW.timestamp())
    long_lived = jwt.encode(
        {"sub": "alice", "aud": AUDIENCE, "iat": issued, "exp": issued + 3600}, private, "EdDSA"
    )
    with pytest.raises(Unauthorized, match="longer than"):
        check(long_lived, public_key_of, now=NOW)


def test_another_audience_and_unsigned_tokens_are_refused() -> None:
    private = load_pem_private_key(ALICE.private_pem(), password=None)
    issued = int(NOW.timestamp())
    other = jwt.encode(
        {"sub": "alice", "aud": "x", "iat": issued, "exp": issued + 60}, private, "EdDSA"
    )
    with pytest.raises(Unauthorized, match="not meant for this service"):
        check(other, public_key_of, now=NOW)
    none_header = b64url_encode(b'{"alg":"none","typ":"JWT"}')
    payload = mint("alice", ALICE, now=NOW).split(".")[1]
    with pytest.raises(Unauthorized, match="EdDSA"):
        check(f"{none_header}.{payload}.", public_key_of, now=NOW)


def test_an_unregistered_participant_is_refused() -> None:
    with pytest.raises(Unauthorized, match="not registered"):
        check(mint("eve", SigningKey.generate(), now=NOW), public_key_of, now=NOW)


@given(st.text(max_size=200))
def test_garbage_is_always_a_clean_refusal(garbage: str) -> None:
    with pytest.raises(Unauthorized):
        check(garbage, public_key_of, now=NOW)
