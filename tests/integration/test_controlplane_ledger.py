"""Contract: `ledger verify` passes on an intact ledger and names any changed, removed or
reordered entry; checkpoints are signed by the operator."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, update

from dataspace.controlplane import ledger, negotiations
from dataspace.ledger.chain import Problem
from dataspace.store.models import LedgerCheckpointRow, LedgerEntryRow
from tests.fixtures.controlplane import PURPOSE, Space

pytestmark = pytest.mark.integration

TAMPERED = 4  # the registration of supplier-01, in the middle of the market's ledger


@pytest.fixture
def busy(market: Space) -> Space:
    agreement_id = negotiations.request(
        market.db, market.keys, consumer="supplier-01", product_id="purchase-orders",
        purpose=PURPOSE,
    ).agreement_id  # fmt: skip
    negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)
    return market


def _entry(space: Space, sequence: int) -> LedgerEntryRow:
    with space.db.transaction() as session:
        row = session.get(LedgerEntryRow, sequence)
        assert row is not None
        return row


def test_an_intact_ledger_verifies(busy: Space) -> None:
    result = ledger.verify(busy.db)

    assert result.ok, result.message()
    assert result.entries_checked == len(busy.actions()) == 10


def _changed(row: LedgerEntryRow, column: str) -> Any:
    value = getattr(row, column)
    if column == "time":
        return value.replace(microsecond=(value.microsecond + 1) % 1_000_000)
    if column == "subject_ids":
        return [*value, "extra"]
    if column == "actor":
        return "xcmg" if value != "xcmg" else "operator"
    if column == "action":
        return "participant.suspended"
    if column in ("payload_hash", "prev_hash", "entry_hash"):
        return ("f" if value[0] != "f" else "e") + value[1:]
    return ("A" if value[0] != "A" else "B") + value[1:]  # signature


@pytest.mark.parametrize(
    "column",
    [
        "time",
        "actor",
        "action",
        "subject_ids",
        "payload_hash",
        "prev_hash",
        "entry_hash",
        "signature",
    ],
)
def test_changing_any_column_of_one_entry_is_detected_at_that_entry(
    busy: Space, column: str
) -> None:
    original = _entry(busy, TAMPERED)
    with busy.db.transaction() as session:
        session.execute(
            update(LedgerEntryRow)
            .where(LedgerEntryRow.sequence == TAMPERED)
            .values({column: _changed(original, column)})
        )

    result = ledger.verify(busy.db)

    assert not result.ok
    assert result.sequence == TAMPERED, result.message()
    assert f"sequence {TAMPERED}" in result.message()


def test_a_deleted_entry_is_detected(busy: Space) -> None:
    with busy.db.transaction() as session:
        session.execute(delete(LedgerEntryRow).where(LedgerEntryRow.sequence == TAMPERED))

    result = ledger.verify(busy.db)

    assert (result.ok, result.problem, result.sequence) == (False, Problem.REMOVED, TAMPERED + 1)
    assert f"sequence {TAMPERED} before it are missing" in result.message()


def test_a_reordered_pair_is_detected(busy: Space) -> None:
    with busy.db.transaction() as session:  # swap entries 4 and 5 by their sequence numbers
        for old, new in ((TAMPERED, 1000), (TAMPERED + 1, TAMPERED), (1000, TAMPERED + 1)):
            session.execute(
                update(LedgerEntryRow).where(LedgerEntryRow.sequence == old).values(sequence=new)
            )

    result = ledger.verify(busy.db)

    assert not result.ok
    assert result.sequence == TAMPERED, result.message()


def test_a_checkpoint_is_signed_once_per_head_and_vouches_for_it(busy: Space) -> None:
    first = ledger.checkpoint(busy.db, busy.keys)
    again = ledger.checkpoint(busy.db, busy.keys)

    assert first == again
    assert first.sequence == 10
    assert busy.topics()[-1] == ("dataspace.ledger.checkpointed.v1", "operator")
    assert ledger.verify(busy.db).ok


def test_a_forged_checkpoint_is_detected(busy: Space) -> None:
    ledger.checkpoint(busy.db, busy.keys)
    with busy.db.transaction() as session:
        session.execute(update(LedgerCheckpointRow).values(head_hash="0" * 64))

    result = ledger.verify(busy.db)

    assert (result.ok, result.problem, result.sequence) == (False, Problem.BAD_CHECKPOINT, 10)


def test_show_lists_the_newest_entries_oldest_first(busy: Space) -> None:
    entries = ledger.latest(busy.db, limit=3)

    assert [entry.sequence for entry in entries] == [8, 9, 10]
    assert entries[-1].action == "agreement.finalized"
