"""Contract: the outbox hands out messages in order, leases them, and marks idempotently."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from dataspace.store import outbox
from dataspace.store.db import Database
from dataspace.store.types import utcnow

pytestmark = pytest.mark.integration

TOPIC = "dataspace.deliveries.announced.v1"
LEASE = timedelta(seconds=60)
SQLITE_FULL = 2  # PRAGMA synchronous: 1 is NORMAL, 2 is FULL


def _enqueue(db: Database, *keys: str) -> list[int]:
    with db.transaction() as session:
        rows = [
            outbox.enqueue(session, TOPIC, key, f"event {n}".encode(), {"event-id": str(n)})
            for n, key in enumerate(keys)
        ]
        session.flush()  # the ids are handed out, in the order the rows were added
        return [row.id for row in rows]


def test_claim_returns_unsent_messages_in_id_order_with_their_content(db: Database) -> None:
    ids = _enqueue(db, "acme", "beta", "acme")

    claimed = outbox.claim_batch(db, 10, lease=LEASE)

    assert [message.id for message in claimed] == sorted(ids) == ids
    assert [message.key for message in claimed] == ["acme", "beta", "acme"]
    assert claimed[1].payload == b"event 1"
    assert claimed[1].headers == {"event-id": "1"}
    assert claimed[1].topic == TOPIC


def test_a_claim_is_a_lease_that_expires(db: Database) -> None:
    first, second, third = _enqueue(db, "a", "b", "c")
    now = utcnow()

    assert [m.id for m in outbox.claim_batch(db, 2, lease=LEASE, now=now)] == [first, second]
    assert [m.id for m in outbox.claim_batch(db, 2, lease=LEASE, now=now)] == [third]
    assert outbox.claim_batch(db, 2, lease=LEASE, now=now) == []
    # Nobody marked them: after the lease they are handed out again (at least once).
    again = outbox.claim_batch(db, 10, lease=LEASE, now=now + 2 * LEASE)
    assert [m.id for m in again] == [first, second, third]


def test_marking_sent_is_idempotent_and_final(db: Database) -> None:
    first, second = _enqueue(db, "a", "b")
    outbox.claim_batch(db, 10, lease=LEASE)

    assert outbox.mark_sent(db, [first, second]) == 2
    assert outbox.mark_sent(db, [first, second]) == 0
    assert outbox.mark_sent(db, []) == 0
    assert outbox.claim_batch(db, 10, now=utcnow() + 2 * LEASE) == []
    with db.transaction() as session:
        assert outbox.pending_count(session) == 0


def test_a_failed_message_backs_off_and_holds_back_its_key_only(db: Database) -> None:
    failed, later_same_key, other_key = _enqueue(db, "acme", "acme", "beta")
    now = utcnow()
    outbox.claim_batch(db, 10, lease=LEASE, now=now)
    outbox.mark_failed(db, failed, next_attempt_at=now + timedelta(minutes=10))

    after_lease = outbox.claim_batch(db, 10, lease=LEASE, now=now + 2 * LEASE)
    outbox.mark_sent(db, [other_key])
    after_backoff = outbox.claim_batch(db, 10, lease=LEASE, now=now + timedelta(minutes=11))

    assert [m.id for m in after_lease] == [other_key]
    assert [m.id for m in after_backoff] == [failed, later_same_key]
    assert after_backoff[0].attempts == 1


def test_a_failure_reported_after_sending_is_ignored(db: Database) -> None:
    (message,) = _enqueue(db, "acme")
    outbox.mark_sent(db, [message])

    outbox.mark_failed(db, message, next_attempt_at=utcnow())

    assert outbox.claim_batch(db, 10, now=utcnow() + 2 * LEASE) == []


def _commit_waits_for_disk(session: Session) -> bool:
    if session.get_bind().dialect.name == "sqlite":
        return session.execute(text("PRAGMA synchronous")).scalar() == SQLITE_FULL
    return session.execute(text("SHOW synchronous_commit")).scalar() == "on"


def test_messages_are_durable_and_only_the_relays_bookkeeping_skips_the_disk_wait(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power cut may lose a lease or a sent-mark (the message goes out again), never a
    message: the transaction that enqueues is durable, the relay's own are not (ADR 0013)."""
    seen: list[tuple[str, bool]] = []
    transaction = db.transaction

    @contextmanager
    def watched(**kwargs: bool) -> Iterator[Session]:
        with transaction(**kwargs) as session:
            seen.append((inspect.stack()[2].function, _commit_waits_for_disk(session)))
            yield session

    monkeypatch.setattr(db, "transaction", watched)
    (first,) = _enqueue(db, "a")
    outbox.claim_batch(db, 10, lease=LEASE)
    outbox.mark_failed(db, first, utcnow())
    outbox.mark_sent(db, [first])

    assert seen == [
        ("_enqueue", True),
        ("claim_batch", False),
        ("mark_failed", False),
        ("mark_sent", False),
    ]
