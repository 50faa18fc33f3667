"""Handing items, in order, to one worker thread through a short queue.

A publish reads the input and encodes the release on its own thread while the views are cut
from the same batches on this worker: pyarrow and numpy drop the GIL for the heavy parts, so
the two overlap on a second core. Guarantees of :class:`Handoff`:

- items are handled one at a time, in the order they were put;
- at most ``depth`` items wait in the queue: memory is bounded whatever the input size;
- the worker's first failure is raised by the next :meth:`Handoff.put` or by
  :meth:`Handoff.close`, on the caller's thread; items after a failure are dropped;
- :meth:`Handoff.abandon` drops what is left and waits for the worker; it is safe after
  ``close`` and twice, so it can sit in a ``finally``;
- as a context manager, a block left normally closes it (waits, raises the worker's
  failure) and a block left by an exception abandons it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")

DEPTH = 2
_END = object()


class Handoff(Generic[T]):
    """``work`` applied to every item :meth:`put`, in order, on one worker thread."""

    def __init__(self, work: Callable[[T], None], *, name: str, depth: int = DEPTH) -> None:
        self._work = work
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._dropping = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: T) -> None:
        """Queue ``item`` (waiting while the queue is full); raises the worker's failure."""
        if self._closed:
            raise RuntimeError("put() on a closed handoff")
        self._raise_failure()
        self._queue.put(item)

    def __enter__(self) -> Handoff[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self.abandon()

    def close(self) -> None:
        """Wait until every item is handled; raises the worker's failure."""
        self._stop()
        self._raise_failure()

    def abandon(self) -> None:
        """Drop the items not yet handled and wait for the worker; never raises its failure."""
        self._dropping = True
        self._stop()

    def _stop(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_END)
        self._thread.join()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _END:
            if self._error is not None or self._dropping:
                continue
            try:
                self._work(item)  # type: ignore[arg-type]  # every item but _END is a T
            except BaseException as failed:  # noqa: BLE001 (raised on the caller's thread)
                self._error = failed

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error
