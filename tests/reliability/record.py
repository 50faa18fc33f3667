"""What the reliability tests measured, kept per test and rendered by :mod:`.plugin`.

A test states what it did and saw through :data:`record`, while it runs::

    record.fault("object store killed during an upload")
    record.deliveries(due=9, landed_once=9)          # lost = due - landed exactly once
    record.reads(attempted=6, succeeded=0)           # unauthorized reads that got bytes
    record.hostile("event decoder", 1)               # one more hostile input tried
    record.figure("load", "deliveries per second", 12.3, "/s")

Everything is filed under the test that is running (the plugin says which), and only the
figures of tests that passed count as held in the table. Module-level on purpose: hypothesis
tests cannot take function-scoped fixtures, and a tally per example is what they report.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Measured:
    nodeid: str
    faults: list[str] = field(default_factory=list)
    due: int = 0
    landed_once: int = 0
    reads_attempted: int = 0
    reads_succeeded: int = 0
    hostile: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    figures: list[tuple[str, str, float, str]] = field(default_factory=list)
    outcome: str = "not run"

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "faults": self.faults,
            "due": self.due,
            "landed_once": self.landed_once,
            "reads_attempted": self.reads_attempted,
            "reads_succeeded": self.reads_succeeded,
            "hostile": dict(self.hostile),
            "figures": [list(f) for f in self.figures],
        }


class Recorder:
    """Thread-safe: load tests record from several agent threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: str | None = None
        self.tests: dict[str, Measured] = {}

    def start(self, nodeid: str) -> None:
        with self._lock:
            self.current = nodeid
            self.tests.setdefault(nodeid, Measured(nodeid))

    def _mine(self) -> Measured:
        assert self.current is not None, "record.* is only for tests of the reliability suite"
        return self.tests[self.current]

    def fault(self, name: str) -> None:
        with self._lock:
            self._mine().faults.append(name)

    def deliveries(self, *, due: int, landed_once: int) -> None:
        with self._lock:
            mine = self._mine()
            mine.due += due
            mine.landed_once += landed_once

    def reads(self, *, attempted: int, succeeded: int) -> None:
        with self._lock:
            mine = self._mine()
            mine.reads_attempted += attempted
            mine.reads_succeeded += succeeded

    def hostile(self, kind: str, count: int = 1) -> None:
        with self._lock:
            self._mine().hostile[kind] += count

    def figure(self, area: str, name: str, value: float, unit: str = "") -> None:
        with self._lock:
            self._mine().figures.append((area, name, value, unit))


record = Recorder()
