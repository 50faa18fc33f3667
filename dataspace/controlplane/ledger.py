"""The evidence ledger as a service: verify it, checkpoint its head, show its latest entries.

Who reads what (ADR 0022): the operator reads every entry in full (:func:`latest`); a member
reads in full only the entries it is party to or that are public by nature, and every other
one as its hashes alone (:func:`latest_seen_by`, rule in :mod:`dataspace.ledger.visibility`).

Verification needs no secret: it streams the entries in sequence order (constant memory) and
checks each against the public keys in the participants table, and the stored checkpoints
against the operator's public key (the operator is a participant too). It reports the first
bad entry. Checkpoints are signed by the operator's key from this node's key store; taking a
checkpoint of a head that already has one changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.canonical import utc_iso
from dataspace.controlplane.evidence import announce, entry_of
from dataspace.controlplane.participants import OPERATOR_ID, operator_signing_key
from dataspace.controlplane.read_models import CheckpointView, LedgerEntryView
from dataspace.errors import Conflict, NotFound
from dataspace.identity.keystore import KeyStore
from dataspace.identity.membership import Role
from dataspace.ledger import visibility
from dataspace.ledger.chain import VerifyResult, verify_chain
from dataspace.ledger.checkpoint import Checkpoint, sign_checkpoint
from dataspace.store import ledger_store
from dataspace.store.db import Database
from dataspace.store.models import (
    AgreementRow,
    DeliveryRow,
    IncidentRow,
    LedgerCheckpointRow,
    LedgerEntryRow,
    NegotiationRow,
    ParticipantRow,
    ProductRow,
    ScenarioApplicationRow,
)
from dataspace.store.types import utcnow


def verify(db: Database) -> VerifyResult:
    """Check every entry and checkpoint; the result names the first bad entry, if any."""
    with db.transaction() as session:
        rows = session.execute(select(ParticipantRow.id, ParticipantRow.public_key))
        public_keys: dict[str, str] = {row[0]: row[1] for row in rows}
        checkpoints = [_checkpoint_of(row) for row in _checkpoint_rows(session)]
        operator_key = public_keys.get(OPERATOR_ID)
        if checkpoints and operator_key is None:
            raise NotFound(
                "The ledger has checkpoints but no operator is registered to check them; "
                "restore the participants table."
            )
        return verify_chain(
            (entry_of(row) for row in ledger_store.iter_entries(session)),
            lambda actor: _known_key(public_keys, actor),
            checkpoints=checkpoints,
            operator_key=operator_key,
        )


def checkpoint(db: Database, keys: KeyStore, *, now: datetime | None = None) -> CheckpointView:
    """The operator signs the current head; an event announces it to auditors."""
    now = now or utcnow()
    with db.transaction() as session:
        head = ledger_store.last_entry(session)
        if head is None:
            raise Conflict("The ledger is empty; there is no head to checkpoint yet.")
        existing = session.scalars(
            select(LedgerCheckpointRow).where(LedgerCheckpointRow.sequence == head.sequence)
        ).first()
        if existing is not None:
            return _view(existing)
        operator_key = operator_signing_key(session, keys)
        signed = sign_checkpoint(head.sequence, head.entry_hash, now, OPERATOR_ID, operator_key)
        row = ledger_store.add_checkpoint(
            session, signed.sequence, signed.head_hash, OPERATOR_ID, signed.signature
        )
        row.created_at = now  # the signed time, so the checkpoint can be checked again later
        announce(
            session,
            operator_key,
            "LedgerCheckpoint",
            _announcement(signed),
            (signed.sequence,),
            actor=OPERATOR_ID,
            now=now,
        )
        return _view(row)


def latest(db: Database, limit: int = 20) -> list[LedgerEntryView]:
    """The newest ``limit`` entries, oldest first, each with how its actor's act was signed:
    ``own key`` (sealed by the actor), ``connector`` / ``hosted:<who>`` (the hub recorded the
    actor's signed request; the custody the registry holds), or ``node`` (development mode: the
    node that sealed it holds the actor's key)."""
    with db.transaction() as session:
        newest = select(LedgerEntryRow).order_by(LedgerEntryRow.sequence.desc()).limit(limit)
        rows = list(session.scalars(newest))
        pairs = session.execute(select(ParticipantRow.id, ParticipantRow.custody))
        custody: dict[str, str] = {row[0]: row[1] for row in pairs}
        return [_entry_view(row, custody.get(row.actor)) for row in reversed(rows)]


def latest_seen_by(
    db: Database, viewer: str, roles: frozenset[str], limit: int = 20
) -> list[dict[str, Any]]:
    """The newest ``limit`` entries as ``viewer`` may read them: in full when it is party to
    them or they are public, else their hashes only; the operator reads them all in full."""
    entries = latest(db, limit)
    if viewer == OPERATOR_ID or Role.OPERATOR in roles:
        return [entry.to_json() for entry in entries]
    with db.transaction(read_only=True) as session:
        known = _parties(session, {subject for e in entries for subject in e.subject_ids})
    return [
        entry.to_json()
        if visibility.sees_in_full(
            viewer, entry.action, visibility.parties_of(entry.actor, entry.subject_ids, known)
        )
        else visibility.hashes_only(entry.to_json())
        for entry in entries
    ]


def _parties(session: Session, subjects: set[str]) -> dict[str, frozenset[str]]:
    """Each subject id's participants: a participant itself; the parties of a negotiation or
    agreement, a delivery, an application or an incident; a product's (or a release's,
    ``<product>/<version>``) owner."""
    ids = sorted(subjects)
    found: dict[str, set[str]] = defaultdict(set)
    for (participant,) in session.execute(
        select(ParticipantRow.id).where(ParticipantRow.id.in_(ids))
    ):
        found[participant].add(participant)
    for negotiation, *parties in session.execute(
        select(NegotiationRow.id, NegotiationRow.consumer_id, NegotiationRow.provider_id).where(
            NegotiationRow.id.in_(ids)
        )
    ):
        found[negotiation].update(parties)
    deliveries = (
        select(DeliveryRow.id, DeliveryRow.subscriber_id, AgreementRow.provider_id)
        .join(AgreementRow, AgreementRow.id == DeliveryRow.agreement_id)
        .where(DeliveryRow.id.in_(ids))
    )
    for delivery, *parties in session.execute(deliveries):
        found[delivery].update(parties)
    for application, applicant in session.execute(
        select(ScenarioApplicationRow.id, ScenarioApplicationRow.applicant_id).where(
            ScenarioApplicationRow.id.in_(ids)
        )
    ):
        found[application].add(applicant)
    for incident, provider, notified in session.execute(
        select(IncidentRow.id, IncidentRow.provider_id, IncidentRow.notified).where(
            IncidentRow.id.in_(ids)
        )
    ):
        found[incident].update([provider, *notified])
    products = {subject.split("/", 1)[0] for subject in ids}
    query = select(ProductRow.id, ProductRow.owner_id).where(ProductRow.id.in_(products))
    # Not dict(result): a Result has keys(), so dict() would take it for a mapping.
    owners: dict[str, str] = {product: owner for product, owner in session.execute(query)}  # noqa: C416
    for subject in ids:
        owner = owners.get(subject.split("/", 1)[0])
        if owner is not None:
            found[subject].add(owner)
    return {subject: frozenset(parties) for subject, parties in found.items()}


def _announcement(signed: Checkpoint) -> dict[str, Any]:
    """The checkpoint itself is the event body: public, signed, and named by its sequence."""
    return {
        "operator_id": signed.operator,
        "sequence": signed.sequence,
        "head_hash": signed.head_hash,
        "checkpoint_time": signed.time,
        "checkpoint_signature": signed.signature,
    }


def _known_key(public_keys: dict[str, str], actor: str) -> str:
    try:
        return public_keys[actor]
    except KeyError as exc:
        raise NotFound(f"The actor {actor!r} is not a registered participant.") from exc


def _checkpoint_rows(session: Session) -> Iterator[LedgerCheckpointRow]:
    return iter(session.scalars(select(LedgerCheckpointRow).order_by(LedgerCheckpointRow.sequence)))


def _checkpoint_of(row: LedgerCheckpointRow) -> Checkpoint:
    return Checkpoint(
        row.sequence, row.head_hash, utc_iso(row.created_at), row.signer, row.signature
    )


def _view(row: LedgerCheckpointRow) -> CheckpointView:
    return CheckpointView(row.sequence, row.head_hash, row.signer, row.created_at)


def _entry_view(row: LedgerEntryRow, custody: str | None) -> LedgerEntryView:
    return LedgerEntryView(
        sequence=row.sequence,
        time=row.time,
        actor=row.actor,
        action=row.action,
        subject_ids=tuple(row.subject_ids),
        payload_hash=row.payload_hash,
        prev_hash=row.prev_hash or "",
        entry_hash=row.entry_hash,
        sealer=row.sealer or row.actor,
        signed_on=_signed_on(row, custody),
    )


def _signed_on(row: LedgerEntryRow, custody: str | None) -> str:
    """Where the actor's signature was made, as the entry and the registry tell it."""
    if row.attestation:
        return custody if custody and custody != "node" else "connector"
    if row.actor == OPERATOR_ID:
        return "hub"
    return "node (development mode)" if (custody or "node") == "node" else "own key"
