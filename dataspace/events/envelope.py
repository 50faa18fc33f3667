"""The wire format of an event: a signed Avro body plus a few Kafka headers.

A Kafka message carrying an event has

- **value**: the Avro binary encoding (schemaless, no container, no header bytes) of the body
  with the event type's current schema;
- **key**: the participant the event is about (see :data:`registry.ROUTES`), UTF-8;
- **headers**, all ASCII text so that the outbox can store them as they are:

  ======================  ==============================================================
  ``event-type``          the record name, e.g. ``DeliveryAnnounced``
  ``schema-fingerprint``  CRC-64-AVRO of the writer schema, 16 hex digits
  ``event-id``            the body's ``event_id`` (a copy, for logs and replay guards)
  ``actor``               the body's ``actor``: whose key verifies the signature
  ``signature``           base64url of the detached Ed25519 signature (64 bytes)
  ======================  ==============================================================

**What is signed** is not the body alone but
``b"dataspace-event/1\\n" + event_type + b"\\n" + fingerprint (8 raw bytes) + body``. Binding the
type and the writer fingerprint means a body signed as one event cannot be replayed under
another type or schema whose bytes happen to decode the same (ParticipantAdmitted and
ParticipantSuspended bodies could). The actor and event id need no binding of their own: they
are inside the body, and :func:`decode` rejects a message whose headers disagree with it. The
topic is *not* signed, so a message copied to a dead-letter topic still verifies; a consumer
that cares passes ``topic=`` to :func:`decode`.

:func:`decode` checks, in this order, and raises :class:`EventRejected` with a machine-readable
:class:`RejectReason` at the first failure: headers well formed (``malformed``), type and
fingerprint known (``unknown_schema``), actor registered (``unknown_actor``), signature valid
(``bad_signature``), body decodes completely (``malformed``), headers agree with the body
(``header_mismatch``), message on the type's topic (``wrong_topic``). Nothing from the body is
parsed before its signature has been checked.

This module imports no Kafka client: the control plane uses it to fill its outbox.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from dataspace.errors import InvalidInput, NotFound, Unauthorized
from dataspace.events.registry import EventRegistry, EventType, default_registry
from dataspace.events.strict_avro import is_canonical
from dataspace.identity.keys import SigningKey, b64url_decode, b64url_encode, verify
from dataspace.ids import participant_id

SIGNING_CONTEXT = b"dataspace-event/1\n"

HEADER_EVENT_TYPE = "event-type"
HEADER_FINGERPRINT = "schema-fingerprint"
HEADER_EVENT_ID = "event-id"
HEADER_ACTOR = "actor"
HEADER_SIGNATURE = "signature"
ENVELOPE_HEADERS = (
    HEADER_EVENT_TYPE,
    HEADER_FINGERPRINT,
    HEADER_EVENT_ID,
    HEADER_ACTOR,
    HEADER_SIGNATURE,
)

# What fastavro raises on bytes that are not a body of the schema: short reads, bad union
# indexes or enum symbols, invalid UTF-8, lengths that overflow, out-of-range timestamps.
_AVRO_READ_ERRORS = (
    EOFError,
    ValueError,  # includes UnicodeDecodeError
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    MemoryError,
)
_AVRO_WRITE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, OverflowError)

# A producer-side header is text; what a consumer reads back from Kafka is bytes (or None).
HeaderValue = str | bytes | None
Headers = Mapping[str, HeaderValue] | Iterable[tuple[str, HeaderValue]]
PublicKeyLookup = Callable[[str], str]


class RejectReason(StrEnum):
    """Why an event was refused; the value goes into logs and the ``dlq-reason`` header."""

    MALFORMED = "malformed"
    UNKNOWN_SCHEMA = "unknown_schema"
    UNKNOWN_ACTOR = "unknown_actor"
    BAD_SIGNATURE = "bad_signature"
    HEADER_MISMATCH = "header_mismatch"
    WRONG_TOPIC = "wrong_topic"
    # Not raised by decode(); for consumers that dead-letter a verified event they cannot
    # act on, so that every dead letter carries a code from this one list.
    NOT_ADDRESSED = "not_addressed"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    REJECTED_BY_CONSUMER = "rejected_by_consumer"


class EventRejected(InvalidInput):
    """An incoming event failed verification; ``reason`` says why, for machines."""

    def __init__(
        self,
        reason: RejectReason,
        message: str,
        *,
        event_type: str | None = None,
        event_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.event_type = event_type
        self.event_id = event_id


@dataclass(frozen=True)
class EncodedEvent:
    """A signed event ready to produce, or to store as an outbox row (same four parts)."""

    event_type: str
    event_id: str
    topic: str
    key: str
    value: bytes
    headers: Mapping[str, str]

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return [(name, text.encode("ascii")) for name, text in self.headers.items()]


@dataclass(frozen=True)
class DecodedEvent:
    """A verified event. ``body`` is read-only and shaped by the *current* schema."""

    event_type: str
    event_id: str
    actor: str
    occurred_at: datetime
    fingerprint: str
    body: Mapping[str, Any]


# -- serializers, in confluent-kafka's (obj, ctx) -> bytes style --------------------------


class AvroBodySerializer:
    """Avro binary of one event type's body; raises InvalidInput naming the bad field."""

    def __init__(self, event: EventType) -> None:
        self._event = event

    def __call__(self, body: Mapping[str, Any], ctx: object = None) -> bytes:
        buffer = io.BytesIO()
        try:
            # strict_allow_default: a misspelt field is an error, a defaulted one may be left out
            schemaless_writer(buffer, self._event.parsed_schema, body, strict_allow_default=True)
        except _AVRO_WRITE_ERRORS as exc:
            raise InvalidInput(
                f"The {self._event.name} body does not fit its schema: "
                f"{_explain(self._event, body, exc)}; fix the field and send again."
            ) from exc
        return buffer.getvalue()


class AvroBodyDeserializer:
    """Reads a body written with ``writer`` into the shape of the current schema of its type.

    Raises :class:`EventRejected` (``malformed``) for bytes that are not exactly one body, as an
    Avro writer encodes it (checked against ``plain_writer``, see :mod:`strict_avro`).
    """

    def __init__(
        self, writer_schema: Any, reader_schema: Any, event_type: str, *, plain_writer: Any
    ) -> None:
        self._writer = writer_schema
        self._plain_writer = plain_writer
        # Resolving against an identical reader schema only costs time.
        self._reader = None if reader_schema is writer_schema else reader_schema
        self._event_type = event_type

    def __call__(self, data: bytes, ctx: object = None) -> dict[str, Any]:
        stream = io.BytesIO(data)
        try:
            body = schemaless_reader(stream, self._writer, self._reader)
        except _AVRO_READ_ERRORS as exc:
            raise EventRejected(
                RejectReason.MALFORMED,
                f"The {self._event_type} body cannot be decoded with its schema ({exc!r}); "
                "the producer must encode it with the schema it names.",
                event_type=self._event_type,
            ) from exc
        if stream.tell() != len(data) or not isinstance(body, dict):
            raise EventRejected(
                RejectReason.MALFORMED,
                f"The {self._event_type} body has {len(data) - stream.tell()} bytes after its "
                "end; the producer must send exactly one encoded body.",
                event_type=self._event_type,
            )
        if not is_canonical(data, self._plain_writer):
            raise EventRejected(
                RejectReason.MALFORMED,
                f"The {self._event_type} body is not encoded as Avro writers encode it (e.g. an "
                "enum or union index below 0); the producer must encode it with an Avro library.",
                event_type=self._event_type,
            )
        return body


def _explain(event: EventType, body: Mapping[str, Any], exc: Exception) -> str:
    """fastavro's writer errors are terse; its validator names the field."""
    try:
        validate(body, event.parsed_schema, raise_errors=True)
    except ValidationError as detail:
        return "; ".join(str(error) for error in detail.errors)
    return str(exc) or type(exc).__name__


# -- encode --------------------------------------------------------------------------------


def signing_input(event_type: str, fingerprint_hex: str, value: bytes) -> bytes:
    """The exact bytes the actor signs; see the module docstring."""
    return (
        SIGNING_CONTEXT
        + event_type.encode("ascii")
        + b"\n"
        + bytes.fromhex(fingerprint_hex)
        + value
    )


def encode(
    event_type: str,
    body: Mapping[str, Any],
    signing_key: SigningKey,
    *,
    registry: EventRegistry | None = None,
) -> EncodedEvent:
    """Encode and sign ``body`` as an event of ``event_type``; InvalidInput if it is not one.

    The body must hold every field of the schema without a default, including ``event_id``
    (see :func:`registry.event_id_for`), an aware ``occurred_at`` and the ``actor`` whose key
    ``signing_key`` is. Pure: no I/O, same input gives the same bytes (Ed25519 is
    deterministic), so an outbox row can be rebuilt identically.
    """
    registry = registry or default_registry()
    event = registry.event_type(event_type)
    event_id = _check_outgoing(event, body)
    # One spelling of the id in body and header, as the decoder reads it back.
    value = AvroBodySerializer(event)({**body, "event_id": event_id})
    signature = signing_key.sign(signing_input(event.name, event.fingerprint, value))
    return EncodedEvent(
        event_type=event.name,
        event_id=event_id,
        topic=event.topic_for(body),
        key=registry.key_for(event.name, body),
        value=value,
        headers={
            HEADER_EVENT_TYPE: event.name,
            HEADER_FINGERPRINT: event.fingerprint,
            HEADER_EVENT_ID: event_id,
            HEADER_ACTOR: body["actor"],
            HEADER_SIGNATURE: b64url_encode(signature),
        },
    )


def _check_outgoing(event: EventType, body: Mapping[str, Any]) -> str:
    """Check what the schema cannot; return the event id in its canonical spelling."""
    participant_id(body.get("actor"))
    participant_id(body.get(event.route.key_field))
    try:
        event_id = str(uuid.UUID(str(body.get("event_id"))))
    except ValueError as exc:
        raise InvalidInput(
            f"The {event.name} event id {body.get('event_id')!r} is not a UUID; "
            "derive one with event_id_for()."
        ) from exc
    for field in event.timestamp_fields:
        moment = body.get(field)
        if isinstance(moment, datetime) and moment.utcoffset() is None:
            raise InvalidInput(
                f"The {event.name} field {field!r} has no timezone; pass an aware UTC datetime."
            )
    return event_id


# -- decode --------------------------------------------------------------------------------


def decode(
    value: bytes | None,
    headers: Headers | None,
    public_key_of: PublicKeyLookup,
    *,
    topic: str | None = None,
    registry: EventRegistry | None = None,
) -> DecodedEvent:
    """Verify and decode an event; raise :class:`EventRejected` if it must not be acted on.

    ``public_key_of(actor)`` returns the actor's registered base64url public key and raises
    :class:`NotFound` or ``KeyError`` for an unknown actor (-> ``unknown_actor``) or
    :class:`Unauthorized` for one whose signatures are no longer accepted. Any other error
    it raises (the directory is unreachable) propagates unchanged: it says nothing about the
    event, so the event must be retried, not dead-lettered.
    """
    registry = registry or default_registry()
    fields = _envelope_headers(headers)
    event_type = fields[HEADER_EVENT_TYPE]
    event_id = fields[HEADER_EVENT_ID]
    writer = registry.writer(fields[HEADER_FINGERPRINT])
    if writer is None or writer.event_type != event_type:
        raise EventRejected(
            RejectReason.UNKNOWN_SCHEMA,
            f"The event {event_id} names type {event_type!r} with schema fingerprint "
            f"{fields[HEADER_FINGERPRINT]!r}, which this consumer does not know; "
            "update the consumer's schemas or fix the producer.",
            event_type=event_type,
            event_id=event_id,
        )
    data = value if value is not None else b""
    _verify_signature(fields, data, public_key_of)
    current = registry.event_type(event_type)
    body = AvroBodyDeserializer(
        writer.parsed_schema, current.parsed_schema, event_type, plain_writer=writer.plain_schema
    )(data)
    _check_agreement(fields, body, current, topic)
    return DecodedEvent(
        event_type=event_type,
        event_id=str(body["event_id"]),
        actor=fields[HEADER_ACTOR],
        occurred_at=body["occurred_at"],
        fingerprint=writer.fingerprint,
        body=MappingProxyType(body),
    )


def is_addressed_to(
    event: DecodedEvent, participant: str, registry: EventRegistry | None = None
) -> bool:
    """True if ``event`` is meant for ``participant`` (a DeliveryAnnounced's subscriber).

    Event types without an addressee (see :class:`registry.Route`) are addressed to no one.
    """
    registry = registry or default_registry()
    field = registry.event_type(event.event_type).route.addressee_field
    return field is not None and event.body.get(field) == participant


def _envelope_headers(headers: Headers | None) -> dict[str, str]:
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    found: dict[str, str] = {}
    for name, raw in items:
        if name not in ENVELOPE_HEADERS:
            continue  # other headers (tracing, dead-letter notes) are not ours to judge
        if name in found:
            raise _malformed(f"The event has two {name!r} headers; it must have one.")
        found[name] = _header_text(name, raw)
    missing = [name for name in ENVELOPE_HEADERS if name not in found]
    if missing:
        raise _malformed(
            f"The event lacks the headers {', '.join(missing)}; sign it with encode()."
        )
    try:
        participant_id(found[HEADER_ACTOR])
    except InvalidInput as exc:
        raise _malformed(f"The event's actor header is not a participant id: {exc}") from exc
    return found


def _header_text(name: str, raw: HeaderValue) -> str:
    if raw is None:
        raise _malformed(f"The event's {name!r} header is empty.")
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise _malformed(f"The event's {name!r} header is not ASCII text.") from exc


def _malformed(message: str) -> EventRejected:
    return EventRejected(RejectReason.MALFORMED, message)


def _verify_signature(
    fields: Mapping[str, str], data: bytes, public_key_of: PublicKeyLookup
) -> None:
    actor, event_type, event_id = (
        fields[HEADER_ACTOR],
        fields[HEADER_EVENT_TYPE],
        fields[HEADER_EVENT_ID],
    )
    try:
        public_key = public_key_of(actor)
    except (NotFound, KeyError, Unauthorized) as exc:
        raise EventRejected(
            RejectReason.UNKNOWN_ACTOR,
            f"The event {event_id} is signed by {actor!r}, who is not a participant whose "
            "signatures are accepted; ask the operator to admit it.",
            event_type=event_type,
            event_id=event_id,
        ) from exc
    try:
        signature = b64url_decode(fields[HEADER_SIGNATURE])
        verify(public_key, signature, signing_input(event_type, fields[HEADER_FINGERPRINT], data))
    except (InvalidInput, Unauthorized) as exc:
        raise EventRejected(
            RejectReason.BAD_SIGNATURE,
            f"The signature of event {event_id} ({event_type}) does not verify with the key "
            f"registered for {actor!r}; the event was altered or not signed by its actor.",
            event_type=event_type,
            event_id=event_id,
        ) from exc


def _check_agreement(
    fields: Mapping[str, str], body: Mapping[str, Any], event: EventType, topic: str | None
) -> None:
    event_id = fields[HEADER_EVENT_ID]
    if str(body["event_id"]) != event_id or body["actor"] != fields[HEADER_ACTOR]:
        raise EventRejected(
            RejectReason.HEADER_MISMATCH,
            f"The headers of event {event_id} disagree with its signed body "
            "(event id or actor); the headers were changed after signing.",
            event_type=event.name,
            event_id=event_id,
        )
    if topic is None:
        return
    try:
        expected = event.topic_for(body)
    except InvalidInput:  # an addressee that cannot name a topic: no topic is its own
        expected = None
    if topic != expected:
        raise EventRejected(
            RejectReason.WRONG_TOPIC,
            f"The {event.name} event {event_id} arrived on {topic!r}, but it belongs "
            f"on {expected!r}; it was copied there by someone else.",
            event_type=event.name,
            event_id=event_id,
        )
