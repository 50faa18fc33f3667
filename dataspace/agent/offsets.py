"""Committing offsets in order when messages finish out of order.

Messages of a partition are handed to workers in offset order but may finish in any order.
:class:`InOrderOffsets` says, per partition, how far the consumer may commit: up to (not
including) the first message that has not finished. A message that never finishes in this
run (deferred) holds back every later commit of its partition, so after a restart the group
starts there again and nothing unfinished is skipped; what did finish behind it is replayed
and recognised as a duplicate. Not thread-safe: the polling thread alone uses it.
"""

from __future__ import annotations

from collections import OrderedDict

Partition = tuple[str, int]
Position = tuple[str, int, int]  # topic, partition, next offset to read


class InOrderOffsets:
    """Offsets started and finished per partition, and the positions safe to commit."""

    def __init__(self) -> None:
        self._open: dict[Partition, OrderedDict[int, bool]] = {}
        self._safe: dict[Partition, int] = {}
        self._committed: dict[Partition, int] = {}

    def started(self, topic: str, partition: int, offset: int) -> None:
        self._open.setdefault((topic, partition), OrderedDict())[offset] = False

    def finished(self, topic: str, partition: int, offset: int) -> None:
        where = (topic, partition)
        pending = self._open[where]
        pending[offset] = True
        for offset_done in list(pending):
            if not pending[offset_done]:
                break
            del pending[offset_done]
            self._safe[where] = offset_done + 1

    def committable(self) -> list[Position]:
        """Positions that moved since they were last committed."""
        return [
            (topic, partition, offset)
            for (topic, partition), offset in sorted(self._safe.items())
            if self._committed.get((topic, partition)) != offset
        ]

    def committed(self, positions: list[Position]) -> None:
        for topic, partition, offset in positions:
            self._committed[(topic, partition)] = offset

    def unfinished(self) -> int:
        return sum(1 for pending in self._open.values() for done in pending.values() if not done)
