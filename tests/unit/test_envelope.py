"""The signed envelope: what decode() accepts, and every way it refuses an event."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_writer
from hypothesis import given, settings
from hypothesis import strategies as st

from dataspace.errors import InvalidInput, NotFound, ServiceError, Unauthorized
from dataspace.events.envelope import (
    HEADER_ACTOR,
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    HEADER_FINGERPRINT,
    HEADER_SIGNATURE,
    DecodedEvent,
    EncodedEvent,
    EventRejected,
    RejectReason,
    decode,
    encode,
    is_addressed_to,
    signing_input,
)
from dataspace.events.registry import DEFAULT_SCHEMA_DIR, default_registry, load_registry
from dataspace.identity.keys import SigningKey, b64url_encode
from tests.event_vectors import Vector, as_recorded, load_vectors

REGISTRY = default_registry()
VECTORS = load_vectors(REGISTRY)
KEYS = {name: SigningKey.generate() for name in ("chain-leader", "supplier-07", "operator")}
OUTSIDER = SigningKey.generate()


def public_key_of(actor: str) -> str:
    if actor not in KEYS:
        raise NotFound(f"no participant {actor}")
    return KEYS[actor].public_key_b64


def vector(event_type: str) -> Vector:
    return next(v for v in VECTORS if v.event_type == event_type)


def announced(**changes: Any) -> dict[str, Any]:
    return {**vector("DeliveryAnnounced").body, **changes}


def signed(event_type: str = "DeliveryAnnounced", **changes: Any) -> EncodedEvent:
    body = {**vector(event_type).body, **changes}
    return encode(event_type, body, KEYS[body["actor"]])


def with_headers(event: EncodedEvent, **headers: str) -> dict[str, str]:
    return {**event.headers, **{name.replace("_", "-"): value for name, value in headers.items()}}


def rejection(value: bytes | None, headers: Any, **options: Any) -> EventRejected:
    with pytest.raises(EventRejected) as caught:
        decode(value, headers, public_key_of, **options)
    return caught.value


def resign(event_type: str, value: bytes, signer: SigningKey) -> str:
    fingerprint = REGISTRY.fingerprint(event_type)
    return b64url_encode(signer.sign(signing_input(event_type, fingerprint, value)))


# -- the happy path ------------------------------------------------------------------------


@pytest.mark.parametrize("recorded", VECTORS, ids=lambda v: v.event_type)
def test_every_event_round_trips(recorded: Vector) -> None:
    event = encode(recorded.event_type, recorded.body, KEYS[recorded.body["actor"]])

    decoded = decode(event.value, event.kafka_headers(), public_key_of, topic=event.topic)

    assert decoded.event_type == recorded.event_type
    assert decoded.event_id == recorded.body["event_id"] == event.event_id
    assert decoded.actor == recorded.body["actor"]
    assert decoded.occurred_at == recorded.body["occurred_at"]
    assert decoded.fingerprint == REGISTRY.fingerprint(recorded.event_type)
    assert as_recorded(decoded.body) == recorded.body
    assert event.value == recorded.avro  # the body is the recorded Avro, unwrapped


def test_encoded_event_is_addressed_by_its_route() -> None:
    event = signed()

    # Addressed to the subscriber: on its own topic, which no other participant may read.
    assert event.topic == "dataspace.to.supplier-07.deliveries.announced.v1"
    assert event.key == "supplier-07"
    assert set(event.headers) == {
        HEADER_EVENT_TYPE,
        HEADER_FINGERPRINT,
        HEADER_EVENT_ID,
        HEADER_ACTOR,
        HEADER_SIGNATURE,
    }
    assert all(value.isascii() for value in event.headers.values())


def test_encoding_is_deterministic_so_an_outbox_row_can_be_rebuilt() -> None:
    assert signed() == signed()


def test_event_id_is_spelled_one_way() -> None:
    upper = signed(event_id=vector("DeliveryAnnounced").body["event_id"].upper())

    assert upper.event_id == vector("DeliveryAnnounced").body["event_id"]
    assert decode(upper.value, upper.headers, public_key_of).event_id == upper.event_id


def test_decoded_body_is_read_only() -> None:
    event = signed()
    decoded = decode(event.value, event.headers, public_key_of)

    with pytest.raises(TypeError):
        decoded.body["subscriber_id"] = "supplier-08"  # type: ignore[index]


def test_unrelated_headers_are_left_alone() -> None:
    event = signed()
    headers = [*event.kafka_headers(), ("traceparent", b"00-abc-01"), ("x", None)]

    assert decode(event.value, headers, public_key_of).event_id == event.event_id


# -- addressing ----------------------------------------------------------------------------


def decoded(event_type: str = "DeliveryAnnounced", **changes: Any) -> DecodedEvent:
    event = signed(event_type, **changes)
    return decode(event.value, event.headers, public_key_of)


def test_an_announcement_is_addressed_to_its_subscriber_only() -> None:
    event = decoded()

    assert is_addressed_to(event, "supplier-07")
    assert not is_addressed_to(event, "supplier-08")
    assert not is_addressed_to(event, "chain-leader")


def test_events_without_an_addressee_are_addressed_to_no_one() -> None:
    event = decoded("ProductPublished")

    assert not is_addressed_to(event, event.body["provider_id"])


# -- refusals ------------------------------------------------------------------------------


def test_a_tampered_body_has_a_bad_signature() -> None:
    event = signed()
    recorded = vector("DeliveryAnnounced")
    tampered = event.value.replace(b"supplier-07", b"supplier-08")
    assert tampered != event.value

    error = rejection(tampered, event.headers)

    assert error.reason is RejectReason.BAD_SIGNATURE
    assert error.event_id == recorded.body["event_id"]


@pytest.mark.parametrize("position", [0, 40, -1])
def test_any_flipped_byte_is_caught(position: int) -> None:
    event = signed()
    value = bytearray(event.value)
    value[position] ^= 0x01

    assert rejection(bytes(value), event.headers).reason is RejectReason.BAD_SIGNATURE


def test_an_actor_header_swapped_to_another_participant_is_refused() -> None:
    event = signed()

    error = rejection(event.value, with_headers(event, actor="supplier-07"))

    assert error.reason is RejectReason.BAD_SIGNATURE


def test_a_body_resigned_by_another_participant_disagrees_with_its_actor() -> None:
    # supplier-07 re-signs chain-leader's announcement under its own name
    event = signed()
    forged = with_headers(
        event,
        actor="supplier-07",
        signature=resign("DeliveryAnnounced", event.value, KEYS["supplier-07"]),
    )

    assert rejection(event.value, forged).reason is RejectReason.HEADER_MISMATCH


def test_an_event_signed_with_an_unregistered_key_is_refused() -> None:
    body = announced()
    forged = encode("DeliveryAnnounced", body, OUTSIDER)

    assert rejection(forged.value, forged.headers).reason is RejectReason.BAD_SIGNATURE


def test_a_signature_over_the_bare_body_is_not_enough() -> None:
    event = signed()
    bare = b64url_encode(KEYS["chain-leader"].sign(event.value))

    error = rejection(event.value, with_headers(event, signature=bare))

    assert error.reason is RejectReason.BAD_SIGNATURE


def test_a_signature_cannot_be_moved_to_another_event_type() -> None:
    # A signature made for a ParticipantSuspended body, presented as ParticipantAdmitted.
    event = signed("ParticipantSuspended")
    relabelled = with_headers(
        event,
        event_type="ParticipantAdmitted",
        schema_fingerprint=REGISTRY.fingerprint("ParticipantAdmitted"),
    )

    assert rejection(event.value, relabelled).reason is RejectReason.BAD_SIGNATURE


def test_an_unknown_actor_is_refused() -> None:
    body = announced(actor="stranger")
    event = encode("DeliveryAnnounced", body, OUTSIDER)

    assert rejection(event.value, event.headers).reason is RejectReason.UNKNOWN_ACTOR


@pytest.mark.parametrize("failure", [KeyError("stranger"), Unauthorized("suspended")])
def test_lookup_failures_about_the_actor_mean_unknown_actor(failure: Exception) -> None:
    event = signed()

    def lookup(_actor: str) -> str:
        raise failure

    with pytest.raises(EventRejected) as caught:
        decode(event.value, event.headers, lookup)
    assert caught.value.reason is RejectReason.UNKNOWN_ACTOR


def test_an_unreachable_directory_is_not_the_event_s_fault() -> None:
    event = signed()

    def lookup(_actor: str) -> str:
        raise ServiceError("control plane down")

    with pytest.raises(ServiceError):
        decode(event.value, event.headers, lookup)


@pytest.mark.parametrize(
    "headers",
    [
        {"event_type": "DeliveryCancelled"},
        {"schema_fingerprint": "0123456789abcdef"},
        {"schema_fingerprint": "not hex at all"},
        {"schema_fingerprint": REGISTRY.fingerprint("DeliveryReceipt")},
    ],
    ids=["unknown type", "unknown fingerprint", "garbled fingerprint", "another type's schema"],
)
def test_unknown_schemas_are_refused(headers: dict[str, str]) -> None:
    event = signed()

    error = rejection(event.value, with_headers(event, **headers))

    assert error.reason is RejectReason.UNKNOWN_SCHEMA


def test_a_changed_event_id_header_disagrees_with_the_body() -> None:
    event = signed()
    headers = with_headers(event, event_id="00000000-0000-0000-0000-000000000000")

    assert rejection(event.value, headers).reason is RejectReason.HEADER_MISMATCH


def test_an_event_on_the_wrong_topic_is_refused_when_asked() -> None:
    event = signed()

    error = rejection(event.value, event.headers, topic="dataspace.deliveries.received.v1")

    assert error.reason is RejectReason.WRONG_TOPIC
    assert decode(event.value, event.headers, public_key_of).event_id == event.event_id


def test_an_announcement_copied_onto_another_subscribers_topic_is_refused() -> None:
    event = signed()  # addressed to supplier-07

    error = rejection(
        event.value, event.headers, topic="dataspace.to.supplier-08.deliveries.announced.v1"
    )

    assert error.reason is RejectReason.WRONG_TOPIC
    assert "dataspace.to.supplier-07.deliveries.announced.v1" in str(error)


def test_trailing_bytes_after_a_signed_body_are_malformed() -> None:
    event = signed()
    longer = event.value + b"\x00"
    headers = with_headers(
        event, signature=resign("DeliveryAnnounced", longer, KEYS["chain-leader"])
    )

    assert rejection(longer, headers).reason is RejectReason.MALFORMED


@pytest.mark.parametrize(
    "headers",
    [
        None,
        [],
        [(HEADER_EVENT_TYPE, b"DeliveryAnnounced")],
        "duplicate",
        "not ascii",
        "empty",
        "bad actor",
    ],
)
def test_malformed_headers_are_refused(headers: Any) -> None:
    event = signed()
    pairs = event.kafka_headers()
    if headers == "duplicate":
        headers = [*pairs, (HEADER_SIGNATURE, pairs[-1][1])]
    elif headers == "not ascii":
        headers = [*pairs[:-1], (HEADER_SIGNATURE, "签名".encode())]
    elif headers == "empty":
        headers = [*pairs[:-1], (HEADER_SIGNATURE, None)]
    elif headers == "bad actor":
        headers = with_headers(event, actor="../Chain Leader")

    assert rejection(event.value, headers).reason is RejectReason.MALFORMED


def test_a_missing_value_is_refused() -> None:
    event = signed()

    assert rejection(None, event.headers).reason is RejectReason.BAD_SIGNATURE


header_values = st.one_of(st.none(), st.binary(max_size=80), st.text(max_size=80))


@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(st.none(), st.binary(max_size=300)),
    headers=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    HEADER_EVENT_TYPE,
                    HEADER_FINGERPRINT,
                    HEADER_EVENT_ID,
                    HEADER_ACTOR,
                    HEADER_SIGNATURE,
                    "other",
                ]
            ),
            header_values,
        ),
        max_size=8,
    ),
)
def test_random_messages_are_always_rejected_never_crash(value: bytes | None, headers: Any) -> None:
    with pytest.raises(EventRejected):
        decode(value, headers, public_key_of)


@settings(max_examples=500, deadline=None)
@given(
    event_type=st.sampled_from(REGISTRY.names()),
    value=st.binary(max_size=400),
)
def test_random_bodies_with_valid_signatures_are_malformed_never_crash(
    event_type: str, value: bytes
) -> None:
    # Signed by a registered actor, so decoding really reaches the Avro reader.
    headers = {
        HEADER_EVENT_TYPE: event_type,
        HEADER_FINGERPRINT: REGISTRY.fingerprint(event_type),
        HEADER_EVENT_ID: "00000000-0000-0000-0000-000000000000",
        HEADER_ACTOR: "operator",
        HEADER_SIGNATURE: resign(event_type, value, KEYS["operator"]),
    }
    with pytest.raises(EventRejected) as caught:
        decode(value, headers, public_key_of)
    assert caught.value.reason in {RejectReason.MALFORMED, RejectReason.HEADER_MISMATCH}


# -- encode refuses what it cannot sign truthfully ----------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"occurred_at": datetime(2025, 3, 3, 8)}, "timezone"),
        ({"actor": "Chain Leader"}, "participant id"),
        ({"subscriber_id": None}, "participant id"),
        ({"event_id": "delivery-7"}, "not a UUID"),
        ({"row_count": "many"}, "row_count"),
        ({"rows": 7}, "rows"),
        ({"mode": "replace"}, "mode"),
    ],
)
def test_encode_refuses_bodies_that_do_not_fit(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        encode("DeliveryAnnounced", announced(**changes), KEYS["chain-leader"])


def test_encode_refuses_unknown_event_types() -> None:
    with pytest.raises(NotFound):
        encode("DeliveryCancelled", announced(), KEYS["chain-leader"])


def test_fields_with_defaults_may_be_left_out() -> None:
    body = {k: v for k, v in announced().items() if k != "part_count"}
    event = encode("DeliveryAnnounced", body, KEYS["chain-leader"])

    assert decode(event.value, event.headers, public_key_of).body["part_count"] == 1


# -- schema evolution ----------------------------------------------------------------------


def evolved_registry(tmp_path: Path) -> tuple[Any, Any]:
    """An 'old' registry, and a 'new' one whose DeliveryReceipt gained a defaulted field."""
    old_dir = tmp_path / "old"
    new_dir = tmp_path / "new"
    shutil.copytree(DEFAULT_SCHEMA_DIR, old_dir)
    shutil.copytree(DEFAULT_SCHEMA_DIR, new_dir)
    schema = json.loads((new_dir / "delivery_receipt.avsc").read_text(encoding="utf-8"))
    (new_dir / "previous").mkdir()
    (new_dir / "previous" / "delivery_receipt.v1-0.avsc").write_text(
        json.dumps(schema), encoding="utf-8"
    )
    schema["fields"].append({"name": "landing_host", "type": "string", "default": "unknown"})
    (new_dir / "delivery_receipt.avsc").write_text(json.dumps(schema), encoding="utf-8")
    return load_registry(old_dir), load_registry(new_dir)


def test_a_consumer_with_newer_schemas_reads_what_old_producers_send(tmp_path: Path) -> None:
    old, new = evolved_registry(tmp_path)
    receipt = vector("DeliveryReceipt").body
    event = encode("DeliveryReceipt", receipt, KEYS["supplier-07"], registry=old)

    decoded = decode(event.value, event.headers, public_key_of, registry=new)

    assert decoded.fingerprint == old.fingerprint("DeliveryReceipt")
    assert decoded.body["landing_host"] == "unknown"
    assert decoded.body["delivery_id"] == receipt["delivery_id"]


def test_a_consumer_with_older_schemas_refuses_newer_events(tmp_path: Path) -> None:
    old, new = evolved_registry(tmp_path)
    event = encode(
        "DeliveryReceipt", vector("DeliveryReceipt").body, KEYS["supplier-07"], registry=new
    )

    error = rejection(event.value, event.headers, registry=old)

    assert error.reason is RejectReason.UNKNOWN_SCHEMA


def test_a_body_encoded_outside_encode_still_verifies() -> None:
    # Interoperability: any Avro library that writes the schema and signs the documented
    # input produces events we accept.
    recorded = vector("AgreementTerminated")
    buffer = io.BytesIO()
    schemaless_writer(buffer, REGISTRY.schema("AgreementTerminated"), recorded.body)
    value = buffer.getvalue()
    headers: Mapping[str, str] = {
        HEADER_EVENT_TYPE: "AgreementTerminated",
        HEADER_FINGERPRINT: REGISTRY.fingerprint("AgreementTerminated"),
        HEADER_EVENT_ID: recorded.body["event_id"],
        HEADER_ACTOR: "chain-leader",
        HEADER_SIGNATURE: resign("AgreementTerminated", value, KEYS["chain-leader"]),
    }

    assert as_recorded(decode(value, headers, public_key_of).body) == recorded.body
