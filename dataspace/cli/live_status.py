"""What a running `subscribe` shows: its partitions, what it landed, and the last thing it did.

On a terminal it is one line kept up to date above the download bars; otherwise (a log file, a
pipe) it is one plain line per change, so a detached agent's log tells its story.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from rich.filesize import decimal
from rich.progress import Progress
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.progress import Task

    from dataspace.agent.subscriber import SubscribeSummary
    from dataspace.agent.worker import Outcome


class StatusLine:
    """A :class:`~dataspace.agent.subscriber.SubscribeWatcher` that tells ``show(event,
    status)`` of each change: ``event`` what just happened, ``status`` the run so far."""

    def __init__(self, show: Callable[[str, str], None]) -> None:
        self._show = show
        self._partitions = 0
        self._counts = "landed 0 (0 rows, 0 bytes)"

    def assigned(self, partitions: list[tuple[str, int]]) -> None:
        self._partitions = len(partitions)
        topics = ", ".join(sorted({topic for topic, _ in partitions})) or "no topic"
        self._show(f"assigned {len(partitions)} partitions of {topics}", self.status())

    def handled(self, outcome: Outcome, summary: SubscribeSummary) -> None:
        self._counts = _counts(summary)
        self._show(_event(outcome), self.status())

    def status(self) -> str:
        return f"{self._partitions} partitions, {self._counts}"


def _counts(summary: SubscribeSummary) -> str:
    counts = f"landed {len(summary.landed)} ({summary.rows} rows, {decimal(summary.bytes)})"
    others = {
        "duplicates": summary.duplicates,
        "dead-lettered": len(summary.rejected),
        "refused": len(summary.refused),
        "deferred": len(summary.deferred),
    }
    return ", ".join([counts, *(f"{n} {what}" for what, n in others.items() if n)])


def _event(outcome: Outcome) -> str:
    from dataspace.agent.worker import Duplicate, Landed, Refused, Rejected  # noqa: PLC0415

    if isinstance(outcome, Landed):
        d = outcome.delivery
        return (
            f"landed {d.product_id} v{d.version} ({d.delivery_id}, {d.rows} rows) in {outcome.path}"
        )
    if isinstance(outcome, Duplicate):
        return f"skipped {outcome.delivery_id}, landed before"
    if isinstance(outcome, Rejected):
        return f"dead-lettered {outcome.subject} ({outcome.reason.value}: {outcome.detail})"
    if isinstance(outcome, Refused):
        return f"refused {outcome.delivery_id}: {outcome.reason}"
    return f"deferred {outcome.subject}: {outcome.detail}"


def plain_lines(echo: Callable[[str], None]) -> StatusLine:
    """One line per change, with the time: ``16:05:03 landed ...; 3 partitions, landed 1 ...``."""
    return StatusLine(lambda event, status: echo(f"{_now()} {event}; {status}"))


def _now() -> str:
    return datetime.now().astimezone().strftime("%H:%M:%S")


class StatusProgress(Progress):
    """Download bars with the agent's status line above them (rich's way to add a line to a
    progress display: override ``get_renderables``)."""

    status = "waiting for Kafka to assign partitions"

    def get_renderables(self) -> Iterable[RenderableType]:
        yield Text(self.status)
        tasks: list[Task] = self.tasks
        if tasks:
            yield self.make_tasks_table(tasks)

    def watcher(self) -> StatusLine:
        def show(event: str, status: str) -> None:
            self.status = f"{status}; last: {event} at {_now()}"

        return StatusLine(show)
