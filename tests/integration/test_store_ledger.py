"""Contract: ledger appends are gap-free and see the true previous entry, even concurrently."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from dataspace.errors import Conflict
from dataspace.store import ledger_store
from dataspace.store.db import Database
from dataspace.store.models import LedgerEntryRow
from tests.integration.store_rows import chained_seal

pytestmark = pytest.mark.integration

WRITERS = 4
APPENDS_EACH = 10


def _append(db: Database, action: str) -> int:
    with db.transaction() as session:
        return ledger_store.append(session, chained_seal(action)).sequence


def _entries(db: Database) -> list[LedgerEntryRow]:
    with db.transaction() as session:
        return list(ledger_store.iter_entries(session))


def test_the_first_entry_has_no_predecessor_and_the_next_links_to_it(db: Database) -> None:
    seen: list[LedgerEntryRow | None] = []

    def recording_seal(previous: LedgerEntryRow | None) -> dict[str, object]:
        seen.append(previous)
        return dict(chained_seal(f"entry {len(seen)}")(previous))

    with db.transaction() as session:
        ledger_store.append(session, recording_seal)
    with db.transaction() as session:
        ledger_store.append(session, recording_seal)

    first, second = _entries(db)
    assert seen[0] is None
    assert seen[1] is not None
    assert seen[1].sequence == 1
    assert (first.sequence, second.sequence) == (1, 2)
    assert second.prev_hash == first.entry_hash


def test_concurrent_appends_form_one_gap_free_chain(db: Database) -> None:
    start_together = threading.Barrier(WRITERS)

    def writer(name: int) -> list[int]:
        start_together.wait()
        return [_append(db, f"writer {name} append {n}") for n in range(APPENDS_EACH)]

    with ThreadPoolExecutor(WRITERS) as pool:
        sequences = [s for batch in pool.map(writer, range(WRITERS)) for s in batch]

    entries = _entries(db)
    total = WRITERS * APPENDS_EACH
    assert sorted(sequences) == list(range(1, total + 1))
    assert [entry.sequence for entry in entries] == list(range(1, total + 1))
    assert entries[0].prev_hash is None
    for previous, entry in itertools.pairwise(entries):
        assert entry.prev_hash == previous.entry_hash, f"fork at {entry.sequence}"


class Abort(Exception):
    pass


def _append_then_abort(db: Database) -> None:
    with db.transaction() as session:
        ledger_store.append(session, chained_seal("rolled back"))
        raise Abort


def test_a_rolled_back_append_leaves_no_gap(db: Database) -> None:
    _append(db, "kept")
    with pytest.raises(Abort):
        _append_then_abort(db)

    assert _append(db, "next") == 2
    assert [entry.action for entry in _entries(db)] == ["kept", "next"]


def test_a_seal_that_claims_the_wrong_sequence_is_refused(db: Database) -> None:
    def off_by_one(previous: LedgerEntryRow | None) -> dict[str, object]:
        return {**chained_seal("wrong")(previous), "sequence": 7}

    with pytest.raises(ValueError, match="returned sequence 7, but the next is 1"):
        _append_with(db, off_by_one)
    assert _entries(db) == []


def _append_with(db: Database, seal: ledger_store.Seal) -> None:
    with db.transaction() as session:
        ledger_store.append(session, seal)


def test_iteration_streams_every_entry_in_order_across_batches(db: Database) -> None:
    for n in range(25):
        _append(db, f"entry {n}")

    with db.transaction() as session:
        everything = [entry.sequence for entry in ledger_store.iter_entries(session, batch=10)]
        tail = [entry.sequence for entry in ledger_store.iter_entries(session, 10, after=20)]
        last = ledger_store.last_entry(session)

    assert everything == list(range(1, 26))
    assert tail == [21, 22, 23, 24, 25]
    assert last is not None
    assert last.sequence == 25


def test_a_checkpoint_is_recorded_once_per_sequence(db: Database) -> None:
    _append(db, "entry")
    with db.transaction() as session:
        head = ledger_store.last_entry(session)
        assert head is not None
        ledger_store.add_checkpoint(session, head.sequence, head.entry_hash, "operator", "sig")

    with pytest.raises(Conflict, match="ledger checkpoint with this sequence already exists"):
        _checkpoint_again(db, head)
    with db.transaction() as session:
        checkpoint = ledger_store.latest_checkpoint(session)
    assert checkpoint is not None
    assert checkpoint.head_hash == head.entry_hash


def _checkpoint_again(db: Database, head: LedgerEntryRow) -> None:
    with db.transaction() as session:
        ledger_store.add_checkpoint(session, head.sequence, head.entry_hash, "operator", "sig")
