"""Signed event bodies that fastavro would read but no Avro writer writes are malformed.

Issue 18: fastavro reads an enum index of -1 (the zigzag varint byte 0x01) as the last symbol,
so a producer could sign bytes that mean "append" to us and nothing to a Java consumer. The
decoder must refuse such a body as ``malformed`` (the normal refusal, so it is dead-lettered).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pytest
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from dataspace.errors import NotFound
from dataspace.events.envelope import (
    HEADER_SIGNATURE,
    EventRejected,
    RejectReason,
    decode,
    encode,
    signing_input,
)
from dataspace.events.registry import default_registry
from dataspace.events.strict_avro import is_canonical, plain_schema
from dataspace.identity.keys import SigningKey, b64url_encode
from tests.event_vectors import load_vectors

REGISTRY = default_registry()
VECTORS = load_vectors(REGISTRY)
KEYS = {name: SigningKey.generate() for name in ("chain-leader", "supplier-07", "operator")}


def public_key_of(actor: str) -> str:
    if actor not in KEYS:
        raise NotFound(f"no participant {actor}")
    return KEYS[actor].public_key_b64


def encoded(event_type: str, **changes: Any) -> tuple[bytes, dict[str, str], dict[str, Any]]:
    """A validly signed event (value, headers, body) of the recorded vector with ``changes``."""
    body = {**next(v for v in VECTORS if v.event_type == event_type).body, **changes}
    event = encode(event_type, body, KEYS[body["actor"]])
    return event.value, dict(event.headers), body


def differing_position(a: bytes, b: bytes) -> int:
    return next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)


def signed_as(
    event_type: str, value: bytes, headers: Mapping[str, str], actor: str
) -> dict[str, str]:
    fingerprint = REGISTRY.fingerprint(event_type)
    signature = KEYS[actor].sign(signing_input(event_type, fingerprint, value))
    return {**headers, HEADER_SIGNATURE: b64url_encode(signature)}


def refusal(event_type: str, value: bytes, headers: Mapping[str, str], actor: str) -> EventRejected:
    with pytest.raises(EventRejected) as caught:
        decode(value, signed_as(event_type, value, headers, actor), public_key_of)
    return caught.value


def with_enum_index(index_byte: int) -> tuple[bytes, dict[str, str], str]:
    snapshot, headers, body = encoded("DeliveryAnnounced", mode="snapshot")
    append, _, _ = encoded("DeliveryAnnounced", mode="append")
    position = differing_position(snapshot, append)  # the enum index: 0x00 vs 0x02
    forged = snapshot[:position] + bytes([index_byte]) + snapshot[position + 1 :]
    return forged, headers, body["actor"]


def test_an_enum_index_of_minus_one_is_malformed() -> None:
    forged, headers, actor = with_enum_index(0x01)  # zigzag(-1)
    writer = REGISTRY.schema("DeliveryAnnounced")
    # The hole itself: fastavro alone reads -1 as the last symbol.
    read = schemaless_reader(io.BytesIO(forged), writer, None)
    assert isinstance(read, dict)
    assert read["mode"] == "append"

    error = refusal("DeliveryAnnounced", forged, headers, actor)

    assert error.reason is RejectReason.MALFORMED
    assert "enum or union index below 0" in str(error)


@pytest.mark.parametrize("index_byte", [0x03, 0x04, 0x7E, 0x7F])  # -2, 2, 63, -64
def test_other_enum_indexes_outside_the_symbols_are_malformed(index_byte: int) -> None:
    forged, headers, actor = with_enum_index(index_byte)

    assert refusal("DeliveryAnnounced", forged, headers, actor).reason is RejectReason.MALFORMED


def test_a_union_index_of_minus_one_is_malformed() -> None:
    five, headers, body = encoded("QualityAlert", version=5)
    six, _, _ = encoded("QualityAlert", version=6)
    union_index = differing_position(five, six) - 1  # 0x02 (branch "int") before the int
    forged = five[:union_index] + b"\x01" + five[union_index + 1 :]  # zigzag(-1): also "int"

    error = refusal("QualityAlert", forged, headers, body["actor"])

    assert error.reason is RejectReason.MALFORMED


def test_an_overlong_varint_is_malformed() -> None:
    five, headers, body = encoded("DeliveryAnnounced", version=5)
    six, _, _ = encoded("DeliveryAnnounced", version=6)
    position = differing_position(five, six)
    overlong = bytes([five[position] | 0x80, 0x00])  # the same number in two bytes
    forged = five[:position] + overlong + five[position + 1 :]

    assert refusal("DeliveryAnnounced", forged, headers, body["actor"]).reason is (
        RejectReason.MALFORMED
    )


def test_every_recorded_event_is_canonical() -> None:
    for recorded in VECTORS:
        value, headers, _ = encoded(recorded.event_type)
        assert decode(value, headers, public_key_of).event_type == recorded.event_type
        plain = REGISTRY.writer(headers["schema-fingerprint"])
        assert plain is not None
        assert is_canonical(value, plain.plain_schema)


def test_logical_types_are_left_out_so_an_upper_case_uuid_is_still_canonical() -> None:
    raw = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "id", "type": {"type": "string", "logicalType": "uuid"}}],
    }
    buffer = io.BytesIO()
    upper = "5B0C3D0E-8F0A-5D3C-9A51-3F0E6D1C2B7A"
    schemaless_writer(buffer, plain_schema(raw), {"id": upper})

    assert is_canonical(buffer.getvalue(), plain_schema(raw))


@given(st.binary(max_size=64))
def test_is_canonical_never_raises(data: bytes) -> None:
    for event_type in REGISTRY.names():
        writer = REGISTRY.writer(REGISTRY.fingerprint(event_type))
        assert writer is not None
        assert is_canonical(data, writer.plain_schema) in {True, False}
