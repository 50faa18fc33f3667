"""Request tokens under hostile input: whatever arrives, the answer is a token or Unauthorized.

Found by fuzzing the API (issue 18): deeply nested JSON and huge or odd ``iat``/``exp`` claims
used to escape as RecursionError, OverflowError or OSError (a 500). These properties pin that
every malformed or out-of-rule token now ends in :class:`Unauthorized`, and that valid tokens
within the rules are still accepted, including tokens minted before the move to PyJWT.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given
from hypothesis import strategies as st

from dataspace.errors import Unauthorized
from dataspace.identity.keys import SigningKey, b64url_decode, b64url_encode
from dataspace.identity.tokens import (
    AUDIENCE,
    MAX_LIFETIME,
    check,
    check_claims,
    sign_claims,
    verified_claims,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
ALICE = SigningKey.generate()
REGISTRY = {"alice": ALICE.public_key_b64}
HEADER = b64url_encode(b'{"alg":"EdDSA","typ":"JWT"}')

# A token signed by the hand-written JWS code this module replaced, with a fixed key: tokens
# already out there (and acts kept in the ledger) must keep verifying.
LEGACY_KEY = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
LEGACY_CLAIMS = {
    "sub": "alice",
    "aud": AUDIENCE,
    "iat": 1795521600,
    "exp": 1795521720,
    "jti": "fixed-token-id",
    "htm": "POST",
    "htu": "/agreements",
    "bsh": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}
LEGACY_TOKEN = (
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9."
    "eyJhdWQiOiJkYXRhc3BhY2UtY29udHJvbC1wbGFuZSIsImJzaCI6ImUzYjBjNDQyOThmYzFjMTQ5YWZiZjRjODk5"
    "NmZiOTI0MjdhZTQxZTQ2NDliOTM0Y2E0OTU5OTFiNzg1MmI4NTUiLCJleHAiOjE3OTU1MjE3MjAsImh0bSI6IlBP"
    "U1QiLCJodHUiOiIvYWdyZWVtZW50cyIsImlhdCI6MTc5NTUyMTYwMCwianRpIjoiZml4ZWQtdG9rZW4taWQiLCJz"
    "dWIiOiJhbGljZSJ9."
    "gLK2wqopQlYYIVN9IpC6yEMs-ShikA90GMYqqlwmO5bStY5e_SEsIKUgzpGlGYiufcm_ZPLOp3DDWeAk6xqbDg"
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
# What a hostile client can put where a time belongs.
odd_times = (
    st.integers()
    | st.sampled_from([2**62, -(2**62), 10**20, -(10**20), 2**63, 10**400, -1, 0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | st.text(max_size=12)
)


def public_key_of(participant: str) -> str:
    if participant not in REGISTRY:
        raise Unauthorized(f"{participant} is not registered.")
    return REGISTRY[participant]


def segment(raw: bytes) -> str:
    return b64url_encode(raw)


@given(st.text(max_size=300))
@example("a.b.c")
@example("..")
@example("é.é.é")
def test_any_text_is_refused_cleanly(text: str) -> None:
    with pytest.raises(Unauthorized):
        check(text, public_key_of, now=NOW)


@given(st.binary(max_size=200), st.binary(max_size=200), st.binary(max_size=80))
def test_any_three_segments_are_refused_cleanly(header: bytes, claims: bytes, sig: bytes) -> None:
    with pytest.raises(Unauthorized):
        check(f"{segment(header)}.{segment(claims)}.{segment(sig)}", public_key_of, now=NOW)


@given(json_values, json_values)
def test_any_json_segments_are_refused_cleanly(header: object, claims: object) -> None:
    token = f"{segment(json.dumps(header).encode())}.{segment(json.dumps(claims).encode())}.AAAA"
    with pytest.raises(Unauthorized):
        check(token, public_key_of, now=NOW)


# Deep enough to exhaust Python's recursion limit in json.loads, short enough to pass the size
# check and reach the parser; and the 5,000-deep segment the fuzzer sent.
NESTED = {"2500 arrays": "[" * 2500 + "]" * 2500, "1200 objects": '{"":' * 1200 + "1" + "}" * 1200}
FUZZED = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("where", ["header", "claims"])
@pytest.mark.parametrize("shape", sorted(NESTED))
def test_deeply_nested_json_is_refused_cleanly(where: str, shape: str) -> None:
    with pytest.raises(RecursionError):  # the input really is too deep for the parser
        json.loads(NESTED[shape])
    deep = segment(NESTED[shape].encode())
    claims = segment(json.dumps({"sub": "alice"}).encode())
    token = f"{deep}.{claims}.AAAA" if where == "header" else f"{HEADER}.{deep}.AAAA"
    with pytest.raises(Unauthorized, match="malformed"):
        check(token, public_key_of, now=NOW)


@pytest.mark.parametrize("where", ["header", "claims"])
def test_the_fuzzed_5000_deep_segment_is_refused_cleanly(where: str) -> None:
    deep = segment(FUZZED.encode())
    token = f"{deep}.{HEADER}.AAAA" if where == "header" else f"{HEADER}.{deep}.AAAA"
    with pytest.raises(Unauthorized):
        check(token, public_key_of, now=NOW)


def test_an_oversized_token_is_refused_before_parsing() -> None:
    with pytest.raises(Unauthorized, match="longer than"):
        check(f"{HEADER}.{'A' * 10_000}.AAAA", public_key_of, now=NOW)


@given(issued=odd_times, expires=odd_times)
@example(issued=2**62, expires=2**62)
@example(issued=10**20, expires=10**20 + 60)
@example(issued=-(10**20), expires=-(10**20) + 60)
@example(issued=True, expires=NOW_S + 60)
@example(issued=float(NOW_S), expires=float(NOW_S + 60))
def test_any_signed_times_end_in_a_token_or_unauthorized(issued: object, expires: object) -> None:
    claims = {"sub": "alice", "aud": AUDIENCE, "iat": issued, "exp": expires, "jti": "x"}
    try:
        check(sign_claims(claims, ALICE), public_key_of, now=NOW)
    except Unauthorized:
        return
    assert type(issued) is int
    assert type(expires) is int
    assert 0 < expires - issued <= MAX_LIFETIME.total_seconds()
    assert issued <= NOW_S + 30
    assert expires > NOW_S - 30


@given(
    offset=st.integers(min_value=-270, max_value=30),
    lifetime=st.integers(min_value=1, max_value=int(MAX_LIFETIME.total_seconds())),
)
def test_valid_tokens_within_the_limits_are_accepted(offset: int, lifetime: int) -> None:
    issued = NOW_S + offset
    expires = issued + lifetime
    claims = {"sub": "alice", "aud": AUDIENCE, "iat": issued, "exp": expires, "jti": "x"}
    token = sign_claims(claims, ALICE)
    if expires <= NOW_S - 30:
        with pytest.raises(Unauthorized, match="expired"):
            check(token, public_key_of, now=NOW)
        return
    accepted = check(token, public_key_of, now=NOW)
    assert accepted.subject == "alice"
    assert accepted.expires_at - accepted.issued_at == timedelta(seconds=lifetime)


@given(extra=st.integers(min_value=1, max_value=10**30))
def test_tokens_living_longer_than_five_minutes_are_refused(extra: int) -> None:
    issued = NOW_S
    claims = {"sub": "alice", "aud": AUDIENCE, "iat": issued, "exp": issued + 300 + extra}
    with pytest.raises(Unauthorized, match="longer than"):
        check(sign_claims(claims, ALICE), public_key_of, now=NOW)


@given(issued=odd_times, expires=odd_times)
def test_check_claims_never_raises_anything_else(issued: object, expires: object) -> None:
    claims: dict[str, object] = {"aud": AUDIENCE, "iat": issued, "exp": expires}
    with contextlib.suppress(Unauthorized):
        check_claims("alice", claims, NOW)


def _claims(**overrides: object) -> dict[str, object]:
    return {"sub": "alice", "aud": AUDIENCE, "iat": NOW_S, "exp": NOW_S + 60, **overrides}


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        (_claims(sub=None), "names no participant"),
        (_claims(sub=""), "names no participant"),
        (_claims(sub=7), "names no participant"),
        (_claims(iat=True), "whole-second"),
        (_claims(iat=float(NOW_S)), "whole-second"),
        (_claims(exp=NOW_S - 10), "expires before it was issued"),
        (_claims(aud=[AUDIENCE]), "not meant for this service"),
        (_claims(jti=5), "malformed"),
    ],
)
def test_signed_tokens_with_bad_claims_are_refused(claims: dict[str, object], message: str) -> None:
    if claims["sub"] is None:
        del claims["sub"]
    with pytest.raises(Unauthorized, match=message):
        check(sign_claims(claims, ALICE), public_key_of, now=NOW)


def test_a_non_string_key_id_is_refused() -> None:
    header = segment(json.dumps({"alg": "EdDSA", "kid": 7}).encode())  # PyJWT would not write it
    signing_input = f"{header}.{segment(json.dumps(_claims()).encode())}"
    token = f"{signing_input}.{segment(ALICE.sign(signing_input.encode()))}"
    with pytest.raises(Unauthorized, match="malformed"):
        check(token, public_key_of, now=NOW)


@pytest.mark.parametrize(
    "secret",
    [ALICE.public_key_b64.encode(), b64url_decode(ALICE.public_key_b64)],
    ids=["base64url", "raw"],
)
def test_hs256_keyed_with_the_public_key_is_refused(secret: bytes) -> None:
    forged = jwt.encode(_claims(), secret, "HS256")
    with pytest.raises(Unauthorized, match="not signed with EdDSA"):
        check(forged, public_key_of, now=NOW)


@pytest.mark.parametrize("alg", ["none", "None", "HS256", "RS256", "ES256", "Ed25519", ""])
def test_any_other_algorithm_is_refused_even_validly_signed(alg: str) -> None:
    signed = sign_claims(_claims(), ALICE)
    _, payload, signature = signed.split(".")
    header = segment(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    with pytest.raises(Unauthorized, match="not signed with EdDSA"):
        check(f"{header}.{payload}.{signature}", public_key_of, now=NOW)
    with pytest.raises(Unauthorized, match="not signed with EdDSA"):
        check(f"{header}.{payload}.", public_key_of, now=NOW)


def test_tokens_minted_before_pyjwt_still_verify_and_are_minted_the_same() -> None:
    subject, claims = verified_claims(LEGACY_TOKEN, lambda _: LEGACY_KEY.public_key_b64)
    assert (subject, claims) == ("alice", LEGACY_CLAIMS)
    assert sign_claims(LEGACY_CLAIMS, LEGACY_KEY) == LEGACY_TOKEN
