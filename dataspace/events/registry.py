"""Every event the data space sends: its Avro schema, fingerprint, topic and key.

The schemas live in ``schemas/events/<snake_name>.avsc`` and are read and parsed once, on the
first call of :func:`default_registry` (never at import time, so a DAG file that imports this
module does no I/O while it is parsed). Earlier versions of a schema that producers may still
write with go into ``schemas/events/previous/``: the registry knows them by fingerprint, so a
consumer with newer schemas still reads what an older producer sent (schema resolution turns
the old body into the current shape).

Guarantees:

- an :class:`EventRegistry` is immutable after loading and safe to share between threads;
- every current schema has exactly one route (topic and key field) in :data:`ROUTES`, and
  every route a schema, or loading fails with :class:`ConfigError`;
- every schema has the envelope fields ``event_id`` (uuid), ``occurred_at``
  (timestamp-micros) and ``actor``, and a string key field;
- fingerprints are CRC-64-AVRO (Rabin) of the Parsing Canonical Form, as 16 hex digits of
  the 8 little-endian bytes: the same bytes Avro's single-object encoding puts in its header.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema
from fastavro.schema import SchemaParseException, fingerprint, to_parsing_canonical_form

from dataspace import resources
from dataspace.errors import ConfigError, InvalidInput, NotFound
from dataspace.events.strict_avro import plain_schema
from dataspace.ids import validate_slug

NAMESPACE = "cn.dataspace.events"
FINGERPRINT_ALGORITHM = "CRC-64-AVRO"
# The checkout's schemas/; a wheel would ship them as package data and pass the directory.
DEFAULT_SCHEMA_DIR = resources.event_schemas_dir()
PREVIOUS_DIR_NAME = "previous"
ENVELOPE_FIELDS = {
    "event_id": {"type": "string", "logicalType": "uuid"},
    "occurred_at": {"type": "long", "logicalType": "timestamp-micros"},
    "actor": "string",
}
# uuid5 namespace for event ids derived from stable coordinates (see event_id_for).
EVENT_ID_NAMESPACE = uuid.UUID("5b0c3d0e-8f0a-5d3c-9a51-3f0e6d1c2b7a")


# Events addressed to one participant go on that participant's own topics, under this prefix:
# a broker with ACLs gives each participant's principal READ on its prefix only (ADR 0024).
# Participant ids are slugs (no '.'), so one participant's prefix never covers another's.
ADDRESSED_PREFIX = "dataspace.to."


@dataclass(frozen=True)
class Route:
    """Where an event type goes: its topic and the body field that is the Kafka key.

    ``name`` is ``<area>.<event, past tense>.v<major>``. An event without an addressee goes on
    the shared topic ``dataspace.<name>``. ``addressee_field`` names the participant the event
    is *for*, when there is one: such an event goes on ``dataspace.to.<addressee>.<name>``,
    which only that participant (and the hub) may read.
    """

    name: str
    key_field: str
    addressee_field: str | None = None

    def topic(self, addressee: str | None = None) -> str:
        """The topic; an addressed route needs the addressee, a shared one takes none."""
        if self.addressee_field is None:
            return f"dataspace.{self.name}"
        if addressee is None:
            raise InvalidInput(
                f"Events on {self.name} are addressed to one participant; name the participant."
            )
        return f"{ADDRESSED_PREFIX}{validate_slug(addressee, 'participant id')}.{self.name}"


# Each topic is keyed by the participant the event is about, so all events about one
# participant stay in order on one partition.
ROUTES: Mapping[str, Route] = {
    "ProductPublished": Route("products.published.v1", "provider_id"),
    "ReleaseQuarantined": Route("releases.quarantined.v1", "provider_id"),
    "DeliveryAnnounced": Route(
        "deliveries.announced.v1", "subscriber_id", addressee_field="subscriber_id"
    ),
    "DeliveryReceipt": Route("deliveries.received.v1", "subscriber_id"),
    "AgreementConcluded": Route(
        "agreements.concluded.v1", "subscriber_id", addressee_field="subscriber_id"
    ),
    "AgreementTerminated": Route(
        "agreements.terminated.v1", "subscriber_id", addressee_field="subscriber_id"
    ),
    "LedgerCheckpoint": Route("ledger.checkpointed.v1", "operator_id"),
    "ParticipantAdmitted": Route("participants.admitted.v1", "participant_id"),
    "ParticipantSuspended": Route("participants.suspended.v1", "participant_id"),
    "QualityAlert": Route("quality.alerted.v1", "provider_id"),
    "DeliveryDelayed": Route(
        "deliveries.delayed.v1", "subscriber_id", addressee_field="subscriber_id"
    ),
}
# Shared topics every admitted member may read: the registry and the ledger's checkpoints.
MEMBER_READABLE = ("ParticipantAdmitted", "ParticipantSuspended", "LedgerCheckpoint")


@dataclass(frozen=True)
class EventType:
    """One event type as loaded: current parsed schema, fingerprint and route."""

    name: str
    raw_schema: Mapping[str, Any]
    parsed_schema: Any  # fastavro's parsed form; opaque to us
    fingerprint: str
    route: Route
    timestamp_fields: tuple[str, ...]

    @property
    def addressed(self) -> bool:
        return self.route.addressee_field is not None

    def topic_for(self, body: Mapping[str, Any]) -> str:
        """The topic an event with this body goes on (its addressee's, if it has one)."""
        field = self.route.addressee_field
        if field is None:
            return self.route.topic()
        addressee = body.get(field)
        if not isinstance(addressee, str):
            raise InvalidInput(
                f"A {self.name} event needs its addressee {field!r} as a string; set it."
            )
        return self.route.topic(addressee)


@dataclass(frozen=True)
class WriterSchema:
    """A schema some producer may have written a body with, found by its fingerprint."""

    event_type: str
    fingerprint: str
    parsed_schema: Any
    is_current: bool
    plain_schema: Any  # without logical types: what strict_avro.is_canonical checks against


class EventRegistry:
    """The loaded event types, looked up by name or by writer fingerprint. Immutable."""

    def __init__(self, types: Mapping[str, EventType], writers: Mapping[str, WriterSchema]) -> None:
        self._types = dict(types)
        self._writers = dict(writers)

    def names(self) -> list[str]:
        return sorted(self._types)

    def event_type(self, name: str) -> EventType:
        try:
            return self._types[name]
        except KeyError:
            raise NotFound(
                f"There is no event type {name!r}; known types are {', '.join(self.names())}."
            ) from None

    def schema(self, name: str) -> Any:
        """The parsed (fastavro) current schema of ``name``."""
        return self.event_type(name).parsed_schema

    def fingerprint(self, name: str) -> str:
        return self.event_type(name).fingerprint

    def topic(self, name: str, addressee: str | None = None) -> str:
        """The topic of ``name``; for an addressed type, the ``addressee``'s own topic."""
        return self.event_type(name).route.topic(addressee)

    def topics(self) -> list[str]:
        """Every shared event topic, e.g. for ``ensure_topics`` at start-up."""
        return sorted(t.route.topic() for t in self._types.values() if not t.addressed)

    def addressed_topics(self, participant: str) -> list[str]:
        """The topics of the events addressed to ``participant``: only it may read them."""
        return sorted(t.route.topic(participant) for t in self._types.values() if t.addressed)

    def writer(self, fingerprint_hex: str) -> WriterSchema | None:
        """The schema with this fingerprint, current or previous; None if unknown."""
        return self._writers.get(fingerprint_hex)

    def key_for(self, name: str, body: Mapping[str, Any]) -> str:
        """The Kafka key of an event body: the participant it is about."""
        field = self.event_type(name).route.key_field
        value = body.get(field)
        if not isinstance(value, str):
            raise InvalidInput(
                f"A {name} event needs its key field {field!r} as a string; set it in the body."
            )
        return value


def schema_fingerprint(raw_schema: Mapping[str, Any]) -> str:
    """CRC-64-AVRO of the Parsing Canonical Form, 16 hex digits (little-endian bytes)."""
    return str(fingerprint(to_parsing_canonical_form(dict(raw_schema)), FINGERPRINT_ALGORITHM))


def event_id_for(event_type: str, *coordinates: str | int) -> str:
    """A deterministic event id from stable coordinates (e.g. the delivery id).

    The same event about the same thing gets the same id, so an outbox row published twice
    is recognised as one event by consumers that are idempotent on the event id.
    """
    if not coordinates:
        raise InvalidInput("An event id needs at least one coordinate, e.g. the delivery id.")
    name = "\x1f".join([event_type, *(str(c) for c in coordinates)])
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def load_registry(directory: Path = DEFAULT_SCHEMA_DIR) -> EventRegistry:
    """Read, check and parse every schema under ``directory``; ConfigError if any is wrong."""
    types: dict[str, EventType] = {}
    writers: dict[str, WriterSchema] = {}
    for path in sorted(directory.glob("*.avsc")):
        raw = _read_schema(path)
        name = _check_schema(path, raw, previous=False)
        event = EventType(
            name=name,
            raw_schema=raw,
            parsed_schema=_parse(path, raw),
            fingerprint=schema_fingerprint(raw),
            route=ROUTES[name],
            timestamp_fields=tuple(_timestamp_fields(raw)),
        )
        types[name] = event
        writers[event.fingerprint] = WriterSchema(
            name, event.fingerprint, event.parsed_schema, True, _parse(path, raw, plain=True)
        )
    _check_routes(directory, types)
    for path in sorted((directory / PREVIOUS_DIR_NAME).glob("*.avsc")):
        raw = _read_schema(path)
        name = _check_schema(path, raw, previous=True)
        if name not in types:
            raise ConfigError(f"{path} is an earlier version of {name}, which no longer exists.")
        earlier = schema_fingerprint(raw)
        writers.setdefault(
            earlier,
            WriterSchema(name, earlier, _parse(path, raw), False, _parse(path, raw, plain=True)),
        )
    return EventRegistry(types, writers)


@cache
def default_registry() -> EventRegistry:
    """The registry of the checkout's ``schemas/events``, loaded on first use, then shared."""
    return load_registry(DEFAULT_SCHEMA_DIR)


def snake_case(name: str) -> str:
    """``DeliveryAnnounced`` -> ``delivery_announced``: the file name of a schema."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _read_schema(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"The event schema {path} cannot be read as JSON: {exc}.") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"The event schema {path} is not an Avro record; it must be one.")
    return raw


def _parse(path: Path, raw: Mapping[str, Any], *, plain: bool = False) -> Any:
    try:
        return plain_schema(raw) if plain else parse_schema(dict(raw))
    except (SchemaParseException, ValueError, TypeError, KeyError) as exc:
        raise ConfigError(f"The event schema {path} is not valid Avro: {exc}.") from exc


def _check_schema(path: Path, raw: Mapping[str, Any], *, previous: bool) -> str:
    name = raw.get("name")
    if raw.get("type") != "record" or not isinstance(name, str):
        raise ConfigError(f"The event schema {path} must be an Avro record with a name.")
    if raw.get("namespace") != NAMESPACE:
        raise ConfigError(f"The event schema {path} must be in the namespace {NAMESPACE}.")
    # A current schema is <snake>.avsc; an earlier one <snake>.<label>.avsc, e.g. .v1-2.avsc.
    stem = path.stem.split(".", 1)[0] if previous else path.stem
    if stem != snake_case(name):
        raise ConfigError(f"The schema of {name} must be named {snake_case(name)}.avsc: {path}.")
    fields = {field["name"]: field["type"] for field in _fields(raw)}
    for field, avro_type in ENVELOPE_FIELDS.items():
        if fields.get(field) != avro_type:
            raise ConfigError(
                f"The event schema {path} must have the field {field!r} of type {avro_type}."
            )
    route = ROUTES.get(name)
    if route is None:
        raise ConfigError(f"The event {name} ({path}) has no topic; add it to ROUTES.")
    if fields.get(route.key_field) != "string":
        raise ConfigError(f"The event schema {path} needs its key field {route.key_field!r}.")
    return name


def _check_routes(directory: Path, types: Mapping[str, EventType]) -> None:
    missing = sorted(set(ROUTES) - set(types))
    if missing:
        raise ConfigError(
            f"No schema under {directory} for the events {', '.join(missing)}; "
            "add their .avsc files or remove their routes."
        )


def _fields(raw: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    fields = raw.get("fields")
    if not isinstance(fields, list):
        raise ConfigError(f"The event schema {raw.get('name')!r} has no list of fields.")
    yield from fields


def _timestamp_fields(raw: Mapping[str, Any]) -> Iterator[str]:
    """Top-level fields holding a timestamp, directly or in a nullable union."""
    for field in _fields(raw):
        branches = field["type"] if isinstance(field["type"], list) else [field["type"]]
        if any(
            isinstance(b, dict) and b.get("logicalType") == "timestamp-micros" for b in branches
        ):
            yield field["name"]
