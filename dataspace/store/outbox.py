"""The transactional outbox: messages for Kafka, written with the change they announce.

Guarantees, and what a relay must do to keep them:

- **Atomic with the change.** :func:`enqueue` only adds a row to the caller's session, so the
  message exists exactly when the state change it announces was committed.
- **At least once.** A row stays unsent until :func:`mark_sent`. A relay that crashes after
  publishing but before marking publishes again after the lease ends, so consumers must be
  idempotent on the event id (they are, DESIGN §6).
- **Per-key order.** :func:`claim_batch` returns rows in id order and holds back every row
  whose ``(topic, key)`` has an earlier unsent row that is not due (leased or backing off).
  The relay must publish a batch in the order given and, once a message of a key fails,
  publish no later message of that key from the same batch. On PostgreSQL ids are handed out
  at insert time, so two *concurrent* transactions may commit out of id order; changes to one
  subject are ordered because they lock the subject's row.
- **Idempotent marks.** Marking a sent row sent again changes nothing; a failure reported for
  a row that is already sent is ignored.
- **Only the messages are durable, not the relay's bookkeeping.** Leases and marks commit
  without waiting for the disk (``durable=False``, ADR 0013): a power cut can lose the newest
  of them, which means a message is published again, never lost.
- **Claims are leases.** A claimed row is not handed out again until its lease ends, so two
  relays do not publish the same row at the same time (one relay is still the intended setup).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Integer, Select, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import Session

from dataspace.store.db import Database
from dataspace.store.models import OutboxRow
from dataspace.store.types import utcnow

DEFAULT_LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class OutboxMessage:
    """A claimed message, detached from the database."""

    id: int
    topic: str
    key: str
    payload: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 0


def enqueue(
    session: Session,
    topic: str,
    key: str,
    payload: bytes,
    headers: Mapping[str, str] | None = None,
) -> OutboxRow:
    """Add a message to the caller's transaction; it is published only if that commits.

    The row gets its id, which is the publishing order, when the session next flushes: rows
    are inserted in the order they were added, so a transaction that announces a hundred
    deliveries inserts them together, in order, not one statement each.
    """
    row = OutboxRow(topic=topic, key=key, payload=payload, headers=dict(headers or {}))
    session.add(row)
    return row


def claim_batch(
    db: Database,
    limit: int,
    *,
    lease: timedelta = DEFAULT_LEASE,
    now: datetime | None = None,
) -> list[OutboxMessage]:
    """Up to ``limit`` due, unsent messages in id order, leased to the caller for ``lease``."""
    now = now or utcnow()
    with db.transaction(durable=False) as session:  # a lost lease only publishes again
        # Core statements built once, on the connection: the relay's hot path (one SELECT,
        # one UPDATE); the ORM's bulk UPDATE took a third of a claim's time.
        connection = session.connection()
        rows = connection.execute(_DUE, {"now": now, "limit": limit}).all()
        if rows:
            connection.execute(_LEASE, {"ids": [row.id for row in rows], "until": now + lease})
        return [
            OutboxMessage(row.id, row.topic, row.key, row.payload, row.headers, row.attempts)
            for row in rows
        ]


def mark_sent(db: Database, ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Record that these messages were published; returns how many were not marked before."""
    wanted = list(ids)
    if not wanted:
        return 0
    with db.transaction(durable=False) as session:  # a lost mark only publishes again
        # Core execution, so the count of rows changed is typed (no ORM objects to refresh).
        marked = session.connection().execute(_MARK_SENT, {"ids": wanted, "at": now or utcnow()})
        return marked.rowcount


def mark_failed(db: Database, message_id: int, next_attempt_at: datetime) -> None:
    """Count a failed attempt and hold the message (and later ones of its key) until then."""
    statement = (
        update(OutboxRow)
        .where(OutboxRow.id == message_id, OutboxRow.sent_at.is_(None))
        .values(attempts=OutboxRow.attempts + 1, next_attempt_at=next_attempt_at)
    )
    with db.transaction(durable=False) as session:
        session.execute(statement)


def pending_count(session: Session) -> int:
    """How many messages are not yet published (for metrics and tests)."""
    unsent = select(func.count()).select_from(OutboxRow).where(OutboxRow.sent_at.is_(None))
    return session.scalar(unsent) or 0


def _due() -> Select[int, str, str, bytes, dict[str, str], int]:
    """Unsent rows due at ``:now`` whose key has no earlier row held back, in id order; at
    most ``:limit``, locked. Built once: building it took longer than running it.

    The held-back rows (unsent, not due: leased or backing off) are few, so the first held id
    of each key is found once per claim, not once per candidate row: asked per row, one hot
    key made a claim of n rows look at n²/2 earlier rows.
    """
    now = bindparam("now", type_=OutboxRow.__table__.c.next_attempt_at.type)
    held = (
        select(OutboxRow.topic, OutboxRow.key, func.min(OutboxRow.id).label("first_id"))
        .where(OutboxRow.sent_at.is_(None), OutboxRow.next_attempt_at > now)
        .group_by(OutboxRow.topic, OutboxRow.key)
        .subquery("held")
    )
    held_back_by_earlier = exists().where(
        held.c.topic == OutboxRow.topic,
        held.c.key == OutboxRow.key,
        held.c.first_id < OutboxRow.id,
    )
    return (
        select(
            OutboxRow.id,
            OutboxRow.topic,
            OutboxRow.key,
            OutboxRow.payload,
            OutboxRow.headers,
            OutboxRow.attempts,
        )
        .where(
            OutboxRow.sent_at.is_(None),
            or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now),
            ~held_back_by_earlier,
        )
        .order_by(OutboxRow.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(of=OutboxRow)
    )


_DUE = _due()
_LEASE = (
    update(OutboxRow)
    .where(OutboxRow.id.in_(bindparam("ids", expanding=True)))
    .values(next_attempt_at=bindparam("until", type_=OutboxRow.__table__.c.next_attempt_at.type))
)
_MARK_SENT = (
    update(OutboxRow)
    .where(OutboxRow.id.in_(bindparam("ids", expanding=True)), OutboxRow.sent_at.is_(None))
    .values(sent_at=bindparam("at", type_=OutboxRow.__table__.c.sent_at.type))
)
