"""Recording a state change: one evidence-ledger entry and, when others must learn about it,
one signed event in the outbox, both inside the caller's transaction.

Every service calls :func:`record` exactly once per state change, after changing its rows and
before its transaction commits, so the row change, the ledger entry and the event are committed
together or not at all (ADR 0001, 0003).

Events are the signed Avro events of :mod:`dataspace.events` (ADR 0004): the outbox row holds
exactly the topic, key, value and headers that :func:`~dataspace.events.envelope.encode`
produced with the acting party's key, so the relay publishes it byte for byte. A change gets an
event only when its :class:`Change` names an event type from ``schemas/events/``; internal
steps without a schema (registration, negotiation steps, delivery counts) are ledger-only.

The event id is :func:`~dataspace.events.registry.event_id_for` of the event type and the
change's stable coordinates (the agreement id, the delivery id, ...), or of its ledger
sequence when it has none: the same change always gives the same id, so a consumer idempotent
on event ids recognises a re-send. Bodies carry no secret (no URL, key or credential).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dataspace.canonical import utc_iso
from dataspace.controlplane.acting import Attested, Signer
from dataspace.errors import InvalidInput, Unauthorized
from dataspace.events.envelope import EncodedEvent, encode
from dataspace.events.registry import event_id_for
from dataspace.identity.keys import SigningKey
from dataspace.ledger.chain import EntryFields, LedgerEntry, payload_hash, seal
from dataspace.store import ledger_store, outbox
from dataspace.store.models import LedgerEntryRow

Coordinate = str | int


@dataclass(frozen=True)
class Change:
    """One state change as the ledger and the event plane see it.

    ``facts`` are hashed into the ledger entry (their canonical JSON is the payload).
    ``event`` names the event type announcing the change (None: ledger only) and
    ``event_body`` its fields without the envelope (``event_id``, ``occurred_at`` and
    ``actor`` are filled in here); ``event_coordinates`` are the stable ids its event id
    derives from (empty: the ledger sequence). ``about`` is the participant the event is
    about; when given it must be the event's Kafka key, which the event's route decides.
    """

    actor: str
    action: str
    subject_ids: tuple[str, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    about: str | None = None
    event: str | None = None
    event_body: Mapping[str, Any] | None = None
    event_coordinates: tuple[Coordinate, ...] = ()


def record(session: Session, key: Signer, change: Change, now: datetime) -> LedgerEntryRow:
    """Append the change's ledger entry and enqueue its signed event.

    ``key`` is the actor's own key, or :class:`~dataspace.controlplane.acting.Attested` when
    the hub records the actor's signed request: the operator's key then seals the entry, the
    request goes into it, and the event is the hub's announcement (signed by the operator).
    """
    fields = EntryFields(
        time=now,
        actor=change.actor,
        action=change.action,
        subject_ids=change.subject_ids,
        payload_hash=payload_hash(dict(change.facts)),
    )
    sealing_key: SigningKey
    event_actor = change.actor
    if not isinstance(key, Attested):
        sealing_key = key
    else:
        if key.actor != change.actor:
            raise Unauthorized(
                f"The request in hand is {key.actor!r}'s; it cannot record {change.actor!r}'s act."
            )
        fields = replace(
            fields,
            sealer=key.recorder,
            attestation=key.in_hand.act.token,
            act_body=key.in_hand.body,
        )
        sealing_key, event_actor = key.recorder_key, key.recorder

    def sealed(previous: LedgerEntryRow | None) -> dict[str, Any]:
        entry = seal(None if previous is None else entry_of(previous), fields, sealing_key)
        return {
            "time": now,
            "actor": entry.actor,
            "action": entry.action,
            "subject_ids": list(entry.subject_ids),
            "payload_hash": entry.payload_hash,
            "prev_hash": entry.prev_hash,
            "entry_hash": entry.entry_hash,
            "signature": entry.signature,
            "sealer": entry.sealer or None,
            "attestation": entry.attestation or None,
            "act_body": entry.act_body or None,
        }

    row = ledger_store.append(session, sealed)
    if change.event is not None:
        coordinates = change.event_coordinates or (f"ledger-{row.sequence}",)
        body = change.event_body or {}
        event = announce(
            session, sealing_key, change.event, body, coordinates, actor=event_actor, now=now
        )
        if change.about is not None and event.key != change.about:
            raise InvalidInput(
                f"The {change.event} event of {change.action} is keyed by {event.key!r}, not "
                f"by {change.about!r}; fix the event body."
            )
    return row


def announce(
    session: Session,
    key: SigningKey,
    event_type: str,
    body: Mapping[str, Any],
    coordinates: tuple[Coordinate, ...],
    *,
    actor: str,
    now: datetime,
) -> EncodedEvent:
    """Enqueue one event signed by ``actor``'s ``key`` in the caller's transaction.

    For announcements that are not ledger entries themselves (a ledger checkpoint); every
    state change goes through :func:`record` instead.
    """
    envelope = {
        "event_id": event_id_for(event_type, *coordinates),
        "occurred_at": now,
        "actor": actor,
    }
    event = encode(event_type, {**body, **envelope}, key)
    outbox.enqueue(session, event.topic, event.key, event.value, event.headers)
    return event


def entry_of(row: LedgerEntryRow) -> LedgerEntry:
    """The domain entry a stored row holds, exactly as it was sealed."""
    return LedgerEntry(
        sequence=row.sequence,
        time=utc_iso(row.time),
        actor=row.actor,
        action=row.action,
        subject_ids=tuple(row.subject_ids),
        payload_hash=row.payload_hash,
        # Stored entries always carry a previous hash (GENESIS_HASH first): a NULL is a change.
        prev_hash=row.prev_hash or "",
        entry_hash=row.entry_hash,
        signature=row.signature,
        sealer=row.sealer or "",
        attestation=row.attestation or "",
        act_body=row.act_body or "",
    )
