"""Storage of the evidence ledger: gap-free appends under concurrency, streaming reads.

Hashing and signing belong to the domain (``dataspace.ledger.chain``); this module only makes
sure that every append sees the true previous entry and gets the next sequence number, even
when many transactions append at once:

- PostgreSQL: the append locks the single ``ledger_head`` row (``SELECT ... FOR UPDATE``);
  a second append waits for the first to commit or roll back, then reads its entry.
- SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (see ``db.py``), which already
  admits one writer at a time; the same code path runs there.

An append that rolls back also rolls back the head, so sequences have no gaps. Appending
inside the caller's transaction keeps the entry atomic with the state change it records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.errors import Conflict, ServiceError
from dataspace.store.models import LedgerCheckpointRow, LedgerEntryRow, LedgerHeadRow

Seal = Callable[[LedgerEntryRow | None], Mapping[str, Any]]
"""Given the previous entry (None for the first), return the new entry's column values:
``time, actor, action, subject_ids, payload_hash, prev_hash, entry_hash, signature`` and,
optionally, ``sequence`` (which must then be the previous one plus one)."""


def append(session: Session, seal: Seal) -> LedgerEntryRow:
    """Append the entry that ``seal`` computes from the previous one, as the next sequence.

    ``seal`` runs while the ledger is locked, so it must not open another transaction.
    """
    head = _lock_head(session)
    previous = _entry_at(session, head.last_sequence)
    sequence = head.last_sequence + 1
    values = dict(seal(previous))
    sealed_sequence = values.pop("sequence", sequence)
    if sealed_sequence != sequence:
        raise ValueError(
            f"The seal function returned sequence {sealed_sequence}, but the next is {sequence}."
        )
    row = LedgerEntryRow(sequence=sequence, **values)
    session.add(row)
    head.last_sequence = sequence
    session.flush()
    return row


def last_entry(session: Session) -> LedgerEntryRow | None:
    """The newest entry, or None for an empty ledger (does not lock)."""
    newest = select(LedgerEntryRow).order_by(LedgerEntryRow.sequence.desc()).limit(1)
    return session.scalars(newest).first()


def iter_entries(session: Session, batch: int = 1000, after: int = 0) -> Iterator[LedgerEntryRow]:
    """Every entry with a sequence above ``after``, in sequence order, ``batch`` rows a query.

    Keyset pagination keeps memory flat for any ledger size on both databases.
    """
    while True:
        page = (
            select(LedgerEntryRow)
            .where(LedgerEntryRow.sequence > after)
            .order_by(LedgerEntryRow.sequence)
            .limit(batch)
        )
        rows = session.scalars(page).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].sequence


def add_checkpoint(
    session: Session, sequence: int, head_hash: str, signer: str, signature: str
) -> LedgerCheckpointRow:
    """Record the operator's signature over the head hash at ``sequence``."""
    row = LedgerCheckpointRow(
        sequence=sequence, head_hash=head_hash, signer=signer, signature=signature
    )
    session.add(row)
    session.flush()
    return row


def latest_checkpoint(session: Session) -> LedgerCheckpointRow | None:
    newest = select(LedgerCheckpointRow).order_by(LedgerCheckpointRow.sequence.desc()).limit(1)
    return session.scalars(newest).first()


def _lock_head(session: Session) -> LedgerHeadRow:
    locked = (
        select(LedgerHeadRow)
        .where(LedgerHeadRow.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    head = session.scalars(locked).one_or_none()
    if head is None:
        raise ServiceError(
            "The evidence ledger has no head row; run the migrations "
            "(dataspace.store.db.migrate) on this database before writing to it."
        )
    return head


def _entry_at(session: Session, sequence: int) -> LedgerEntryRow | None:
    if sequence == 0:
        return None
    entry = session.get(LedgerEntryRow, sequence)
    if entry is None:
        raise Conflict(
            f"The evidence ledger's last entry {sequence} is missing; run "
            "`dataspace ledger verify` and restore the ledger before appending to it."
        )
    return entry
