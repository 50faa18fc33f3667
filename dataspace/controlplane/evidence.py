"""Recording a state change: one evidence-ledger entry and, when others must learn about it,
one outbox message, both inside the caller's transaction.

Every service calls :func:`record` exactly once per state change, after changing its rows and
before its transaction commits, so the row change, the ledger entry and the event are committed
together or not at all (ADR 0001, 0003). Events are notifications: their payload names the
change (event id, time, actor, subject ids) and carries no secret; the event id is the hash of
the ledger entry that records the change, so a replay of the same change has the same id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dataspace.canonical import canonical_json, utc_iso
from dataspace.identity.keys import SigningKey
from dataspace.ledger.chain import EntryFields, LedgerEntry, payload_hash, seal
from dataspace.store import ledger_store, outbox
from dataspace.store.models import LedgerEntryRow

CONTENT_TYPE = "application/json"
# Ledger actions are "<subject>.<event>"; their events go to dataspace.<area>.<event>.v1.
AREA_OF = {
    "operator": "participants",
    "participant": "participants",
    "product": "catalog",
    "negotiation": "negotiations",
    "agreement": "agreements",
    "ledger": "ledger",
}


@dataclass(frozen=True)
class Change:
    """One state change as the ledger and the event plane see it.

    ``facts`` are hashed into the ledger entry (their canonical JSON is the payload);
    ``about`` is the participant the event is about (the Kafka key), or None when nobody
    outside the control plane needs to learn of the change.
    """

    actor: str
    action: str
    subject_ids: tuple[str, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)
    about: str | None = None


def topic_of(action: str) -> str:
    """``participant.admitted`` -> ``dataspace.participants.admitted.v1``."""
    subject, _, event = action.partition(".")
    return f"dataspace.{AREA_OF[subject]}.{event.replace('.', '_')}.v1"


def record(session: Session, key: SigningKey, change: Change, now: datetime) -> LedgerEntryRow:
    """Append the change's ledger entry (sealed with ``key``) and enqueue its event."""
    fields = EntryFields(
        time=now,
        actor=change.actor,
        action=change.action,
        subject_ids=change.subject_ids,
        payload_hash=payload_hash(dict(change.facts)),
    )

    def sealed(previous: LedgerEntryRow | None) -> dict[str, Any]:
        entry = seal(None if previous is None else entry_of(previous), fields, key)
        return {
            "time": now,
            "actor": entry.actor,
            "action": entry.action,
            "subject_ids": list(entry.subject_ids),
            "payload_hash": entry.payload_hash,
            "prev_hash": entry.prev_hash,
            "entry_hash": entry.entry_hash,
            "signature": entry.signature,
        }

    row = ledger_store.append(session, sealed)
    if change.about is not None:
        outbox.enqueue(
            session,
            topic_of(change.action),
            change.about,
            event_payload(row),
            {"content-type": CONTENT_TYPE},
        )
    return row


def event_payload(row: LedgerEntryRow) -> bytes:
    """The event announcing the change ``row`` records (canonical JSON, no secrets)."""
    return canonical_json(
        {
            "eventId": row.entry_hash,
            "type": row.action,
            "time": utc_iso(row.time),
            "actor": row.actor,
            "subjectIds": list(row.subject_ids),
            "ledgerSequence": row.sequence,
        }
    )


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
    )
