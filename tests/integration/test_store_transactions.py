"""Contract: a transaction is all or nothing, and constraint violations read as one sentence."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from dataspace.errors import Conflict, NotFound, ServiceError, StoreBusy
from dataspace.store import ledger_store, outbox, repository
from dataspace.store.db import Database, migrate
from dataspace.store.models import OutboxRow, ParticipantRow, ProductRow
from tests.integration.store_rows import chained_seal, insert, participant, product, release

pytestmark = pytest.mark.integration


class Boom(Exception):
    pass


def _count(db: Database, model: type[ParticipantRow] | type[OutboxRow]) -> int:
    with db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _register_and_fail(db: Database) -> None:
    with db.transaction() as session:
        session.add(participant())
        outbox.enqueue(session, "dataspace.participants.registered.v1", "acme", b"event")
        session.flush()  # both rows reach the database before the failure
        raise Boom


def test_a_failure_leaves_neither_the_change_nor_its_outbox_row(db: Database) -> None:
    with pytest.raises(Boom):
        _register_and_fail(db)

    assert _count(db, ParticipantRow) == 0
    assert _count(db, OutboxRow) == 0


def _register_twice(db: Database) -> None:
    with db.transaction() as session:
        session.add(participant("acme"))
        outbox.enqueue(session, "dataspace.participants.registered.v1", "acme", b"event")
        session.add(participant("acme-again"))  # same credit code
        session.flush()


def test_a_refused_row_rolls_back_the_whole_transaction(db: Database) -> None:
    with pytest.raises(Conflict):
        _register_twice(db)

    assert _count(db, ParticipantRow) == 0
    assert _count(db, OutboxRow) == 0


def test_a_committed_change_keeps_its_outbox_row(db: Database) -> None:
    with db.transaction() as session:
        session.add(participant())
        outbox.enqueue(session, "dataspace.participants.registered.v1", "acme", b"event")

    assert _count(db, ParticipantRow) == 1
    assert _count(db, OutboxRow) == 1


def test_a_duplicate_credit_code_is_a_conflict_naming_the_column(db: Database) -> None:
    insert(db, participant("acme", uscc="91320000TEST00001X"))

    with pytest.raises(Conflict) as caught:
        insert(db, participant("other", uscc="91320000TEST00001X"))

    assert str(caught.value) == (
        "A participant with this uscc already exists; use a different uscc "
        "or work with the existing participant."
    )
    assert caught.value.__cause__ is not None


def test_a_duplicate_id_is_a_conflict(db: Database) -> None:
    insert(db, participant("acme", uscc="91320000TEST00001X"))

    with pytest.raises(Conflict, match="A participant with this id already exists"):
        insert(db, participant("acme", uscc="91320000TEST00002X"))


def test_a_duplicate_release_version_names_both_columns(db: Database) -> None:
    insert(db, participant(), product(), release(version=1))

    with pytest.raises(Conflict, match="A release with this product_id and version already"):
        insert(db, release(version=1))


def test_a_reference_to_a_missing_row_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound, match=r"refers to .* that does not exist"):
        insert(db, product(owner_id="nobody"))


def test_a_database_locked_for_too_long_is_store_busy(db: Database) -> None:
    with Database(db.url, busy_timeout_s=0.2) as impatient, db.transaction() as holder:
        ledger_store.append(holder, chained_seal("holds the ledger"))
        with pytest.raises(StoreBusy, match="locked by another writer"):
            _append_once(impatient)


def _append_once(db: Database) -> None:
    with db.transaction() as session:
        ledger_store.append(session, chained_seal("waits"))


def test_looking_up_a_missing_participant_names_it(db: Database) -> None:
    with pytest.raises(NotFound) as caught, db.transaction() as session:
        repository.get_participant(session, "ghost")

    assert "'ghost'" in str(caught.value)
    assert "dataspace participant list" in str(caught.value)


def test_lookups_return_existing_rows(db: Database) -> None:
    insert(db, participant(), product(), release(version=3))

    with db.transaction() as session:
        found = repository.get_participant(session, "acme", for_update=True)
        by_code = repository.find_participant_by_uscc(session, found.uscc)
        version = repository.get_release(session, "demand-forecast", 3)

    assert by_code is found
    assert version.version == 3
    with pytest.raises(NotFound, match="has no release version 4"), db.transaction() as session:
        repository.get_release(session, "demand-forecast", 4)


def test_an_unmigrated_database_says_to_run_the_migrations(database_url: str) -> None:
    with Database(database_url) as fresh, pytest.raises(ServiceError, match="run the migrations"):
        _count(fresh, ParticipantRow)


def test_an_unreachable_database_is_a_service_error_naming_the_setting() -> None:
    nowhere = "postgresql+psycopg2://postgres@127.0.0.1:1/test?connect_timeout=2"
    with Database(nowhere) as db, pytest.raises(ServiceError, match="DATASPACE_DATABASE_URL"):
        _count(db, ParticipantRow)


def test_a_reader_does_not_wait_for_a_writer(db: Database) -> None:
    insert(db, participant())
    with Database(db.url, busy_timeout_s=0.2) as impatient, db.transaction() as holder:
        ledger_store.append(holder, chained_seal("holds the write lock"))
        with impatient.transaction(read_only=True) as session:  # would be StoreBusy if it waited
            assert session.scalar(select(func.count()).select_from(ParticipantRow)) == 1
        with pytest.raises(StoreBusy):
            _append_once(impatient)


def test_a_thread_waiting_for_another_threads_write_too_long_is_store_busy(
    database_url: str,
) -> None:
    """On SQLite threads wait for their turn on a lock of the process, not in SQLite's busy
    handler: the wait keeps the busy timeout and the sentence."""
    migrate(database_url)
    with Database(database_url, busy_timeout_s=0.2) as db:
        holding, release_it = threading.Event(), threading.Event()

        def hold() -> None:
            with db.transaction() as session:
                ledger_store.append(session, chained_seal("held by a thread"))
                holding.set()
                release_it.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert holding.wait(10)
            with pytest.raises(StoreBusy, match="locked by another writer"):
                _append_once(db)
        finally:
            release_it.set()
            holder.join(10)
        _append_once(db)  # its turn comes once the holder is done
        with db.transaction(read_only=True) as session:
            assert len(list(ledger_store.iter_entries(session))) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_write_in_a_read_only_transaction_fails_and_writes_nothing(db: Database) -> None:
    with pytest.raises(ServiceError), db.transaction(read_only=True) as session:
        session.add(participant())
    assert _count(db, ParticipantRow) == 0


def test_a_block_may_run_its_own_transactions_before_its_first_statement(
    database_url: str,
) -> None:
    """Nothing reaches the database before a block's first statement, so looking something
    up through another transaction first does not wait for the block itself."""
    migrate(database_url)
    with Database(database_url, busy_timeout_s=0.2) as db:
        insert(db, participant())
        with db.transaction() as session:
            found = _count(db, ParticipantRow)  # its own transaction, inside the block
            session.add(product())
        assert found == 1
        with db.transaction(read_only=True) as session:
            assert session.get(ProductRow, "demand-forecast") is not None
