"""Contract: writes that arrive together commit together; each caller learns its own fate."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.errors import Conflict
from dataspace.store.db import Database
from dataspace.store.group_commit import GroupCommit
from dataspace.store.models import ParticipantRow
from tests.helpers import wait_for
from tests.integration.store_rows import participant

pytestmark = pytest.mark.integration


class Gate:
    """The first item's step waits here, so that the others queue behind its transaction."""

    def __init__(self) -> None:
        self.first_running = threading.Event()
        self.open = threading.Event()


def register(gate: Gate) -> Callable[[Session, str], str]:
    def step(session: Session, name: str) -> str:
        if name == "first":
            gate.first_running.set()
            gate.open.wait(30)
        if name == "refused":
            raise Conflict("this one is refused")
        if name == "bug":
            raise RuntimeError("a bug in a step")
        if name == "first again":  # the database refuses it: the id is taken
            name = "first"
        session.add(participant(name, uscc=f"91320000{zlib.crc32(name.encode()) % 10**9:09d}X"))
        session.flush()
        return f"registered {name}"

    return step


def stored(db: Database) -> set[str]:
    with db.transaction(read_only=True) as session:
        return set(session.scalars(select(ParticipantRow.id)))


def queued_behind_first(
    db: Database, names: list[str]
) -> tuple[GroupCommit[str, str], Future[str], list[Future[str]]]:
    """Run ``first`` and, while its transaction is open, queue ``names``; then let it go."""
    gate = Gate()
    group: GroupCommit[str, str] = GroupCommit(db, register(gate))
    pool = ThreadPoolExecutor(len(names) + 1)
    first = pool.submit(group.run, "first")
    assert gate.first_running.wait(30), "the first item's step never ran"
    others = [pool.submit(group.run, name) for name in names]
    wait_for(lambda: len(group._queue) == len(names), timeout=30)
    gate.open.set()
    pool.shutdown(wait=True)
    return group, first, others


def test_items_queued_during_a_commit_are_committed_together(db: Database) -> None:
    names = [f"supplier-{n:02d}" for n in range(12)]
    group, first, others = queued_behind_first(db, names)

    assert first.result() == "registered first"
    assert [future.result() for future in others] == [f"registered {name}" for name in names]
    assert group.transactions == 2  # the first alone, then the twelve queued behind it
    assert stored(db) == {"first", *names}


def test_a_refused_item_fails_alone_and_the_rest_of_its_batch_commits(db: Database) -> None:
    group, first, (before, refused, after) = queued_behind_first(db, ["a", "refused", "b"])

    assert group.transactions == 2
    assert (first.result(), before.result(), after.result()) == (
        "registered first",
        "registered a",
        "registered b",
    )
    with pytest.raises(Conflict, match="this one is refused"):
        refused.result()
    assert stored(db) == {"first", "a", "b"}


def test_an_item_the_database_refuses_fails_alone(db: Database) -> None:
    _, first, (before, duplicate, after) = queued_behind_first(db, ["a", "first again", "b"])

    assert (first.result(), before.result(), after.result()) == (
        "registered first",
        "registered a",
        "registered b",
    )
    with pytest.raises(Conflict):
        duplicate.result()
    assert stored(db) == {"first", "a", "b"}


def test_a_failed_transaction_fails_every_item_in_it_and_writes_none(db: Database) -> None:
    _, first, others = queued_behind_first(db, ["a", "bug", "b"])

    assert first.result() == "registered first"
    for future in others:
        with pytest.raises(RuntimeError, match="a bug in a step"):
            future.result()
    assert stored(db) == {"first"}
