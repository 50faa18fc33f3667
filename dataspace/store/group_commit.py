"""Small writes that arrive together are committed together: one transaction for a burst.

When a hundred subscribers land the same release, their receipts reach the control plane
within a second of each other. Each is a small write transaction. On SQLite they take turns
on the one writer lock, and every turn costs a BEGIN IMMEDIATE, an fsync at COMMIT and a
hand-over to the next waiting thread; under load the hand-overs cost most
(docs/adr/0015-receipts-are-group-committed.md). :class:`GroupCommit` has the first caller
that finds no commit under way commit everything queued by then, in one transaction.

Guarantees of :meth:`GroupCommit.run`:

- it returns only after the transaction holding its item has committed, and the commit is as
  durable as any other: one fsync covers the whole batch;
- each item runs in its own SAVEPOINT. An item whose step raises a
  :class:`~dataspace.errors.DataspaceError`, or whose statement the database refuses (a
  constraint: translated as :mod:`dataspace.store.failures` does), has only its own writes
  rolled back; its caller gets that error and the others commit;
- if the transaction itself fails (StoreBusy, a lost connection, a bug in a step), every
  caller whose item was in it gets that error, and nothing of the batch is written;
- items are taken in arrival order, at most ``max_items`` to a transaction.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from dataspace.errors import DataspaceError
from dataspace.store.db import Database
from dataspace.store.failures import translate

T = TypeVar("T")
R = TypeVar("R")
MAX_ITEMS = 200


class _Slot(Generic[T, R]):
    """One caller's item, and what became of it."""

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.done = False


class GroupCommit(Generic[T, R]):
    """Runs ``step(session, item)`` for items from many threads, batched (module docstring)."""

    def __init__(
        self, db: Database, step: Callable[[Session, T], R], *, max_items: int = MAX_ITEMS
    ) -> None:
        self._db, self._step, self._max_items = db, step, max_items
        self._queue: list[_Slot[T, R]] = []
        self._queue_lock = threading.Lock()
        self._committer = threading.Lock()
        self.transactions = 0  # committed or not: for tests and figures

    def run(self, item: T) -> R:
        slot: _Slot[T, R] = _Slot(item)
        with self._queue_lock:
            self._queue.append(slot)
        while not slot.done:
            with self._committer:
                if not slot.done:
                    self._commit_queued()
        if slot.error is not None:
            raise slot.error
        return cast(R, slot.result)  # set with done when error is not

    def _commit_queued(self) -> None:
        with self._queue_lock:
            batch = self._queue[: self._max_items]
            del self._queue[: self._max_items]
        outcomes: list[tuple[R | None, BaseException | None]] = []
        self.transactions += 1
        try:
            with self._db.transaction() as session:
                for slot in batch:
                    outcomes.append(self._run_one(session, slot.item))
        except BaseException as failed:  # noqa: BLE001 (re-raised by every caller in the batch)
            for slot in batch:
                slot.error, slot.done = failed, True
            return
        for slot, (result, error) in zip(batch, outcomes, strict=True):
            slot.result, slot.error, slot.done = result, error, True

    def _run_one(self, session: Session, item: T) -> tuple[R | None, BaseException | None]:
        try:
            with session.begin_nested():
                return self._step(session, item), None
        except DataspaceError as refused:
            return None, refused
        except DBAPIError as failed:  # this item's statement; its savepoint is rolled back
            return None, translate(failed)


_GROUPS: weakref.WeakKeyDictionary[Database, dict[object, GroupCommit[Any, Any]]] = (
    weakref.WeakKeyDictionary()
)
_GROUPS_LOCK = threading.Lock()


def group_commit(db: Database, step: Callable[[Session, T], R]) -> GroupCommit[T, R]:
    """The one :class:`GroupCommit` of ``step`` on ``db`` in this process."""
    with _GROUPS_LOCK:
        groups = _GROUPS.setdefault(db, {})
        if step not in groups:
            groups[step] = GroupCommit(db, step)
        return groups[step]
