"""`dataspace subscribe --as SUBSCRIBER [--once] [--landing DIR] [--resync]`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from dataspace.cli.wiring import JsonFlag, console, node, print_json, print_table
from dataspace.errors import ServiceError

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from dataspace.agent.control_plane import ControlPlane
    from dataspace.agent.subscriber import SubscribeOptions, SubscribeSummary, SubscribeWatcher
    from dataspace.agent.worker import DownloadProgress
    from dataspace.config import Settings


class RichProgress:
    """A rich progress bar per download, on stderr so stdout keeps the summary."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def started(self, delivery_id: str, total_bytes: int) -> None:
        with self._lock:
            self._tasks[delivery_id] = self._progress.add_task(delivery_id, total=total_bytes)

    def advanced(self, delivery_id: str, count: int) -> None:
        self._progress.advance(self._tasks[delivery_id], count)

    def finished(self, delivery_id: str) -> None:
        with self._lock:
            self._progress.remove_task(self._tasks.pop(delivery_id))


@contextmanager
def _display(*, as_json: bool, once: bool) -> Iterator[tuple[DownloadProgress, SubscribeWatcher]]:
    """Download bars and the live status line on a terminal; otherwise no bars, and a plain
    line per change (on stderr under --json; none with --once, whose summary is enough)."""
    from rich.progress import (  # noqa: PLC0415 (imported when the command runs)
        BarColumn,
        DownloadColumn,
        TextColumn,
        TransferSpeedColumn,
    )

    from dataspace.agent.subscriber import NoWatcher  # noqa: PLC0415
    from dataspace.agent.worker import NoProgress  # noqa: PLC0415
    from dataspace.cli.live_status import StatusProgress, plain_lines  # noqa: PLC0415

    terminal = Console(stderr=True)
    if as_json or not terminal.is_terminal:
        watcher = NoWatcher() if once else plain_lines(lambda line: typer.echo(line, err=as_json))
        yield NoProgress(), watcher
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with StatusProgress(*columns, console=terminal, transient=True) as progress:
        yield RichProgress(progress), progress.watcher()


def subscribe_command(
    *,
    subscriber: Annotated[
        str, typer.Option("--as", help="The subscriber (participant id) to land deliveries for.")
    ],
    once: Annotated[
        bool, typer.Option("--once", help="Land what is announced, then exit (for cron, tests).")
    ] = False,
    landing: Annotated[
        Path | None,
        typer.Option(help="Where deliveries land; default <state_dir>/landing/<subscriber>."),
    ] = None,
    resync: Annotated[
        bool,
        typer.Option("--resync", help="First fetch every due delivery the control plane lists."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Land the deliveries announced to a subscriber: verified, atomically, receipted."""
    from dataspace.adapters.s3 import presigner  # noqa: PLC0415
    from dataspace.agent.control_plane import LocalControlPlane  # noqa: PLC0415
    from dataspace.agent.subscriber import SubscribeOptions  # noqa: PLC0415
    from dataspace.controlplane import participants  # noqa: PLC0415
    from dataspace.ids import participant_id  # noqa: PLC0415

    subscriber = participant_id(subscriber)
    with node() as here:
        participants.authenticate(here.db, here.keys, subscriber)
        settings = here.settings
        presign = presigner(settings.s3(), settings.release_bucket)
        control = LocalControlPlane(here.db, here.keys, presign, subscriber)
        target = landing or settings.state_dir / "landing" / subscriber
        options = SubscribeOptions(once=once, resync=resync)
        run_subscription(settings, control, target, options, as_json=as_json)


def run_subscription(
    settings: Settings,
    control: ControlPlane,
    target: Path,
    options: SubscribeOptions,
    *,
    as_json: bool,
) -> None:
    """Run the agent (this node's or a connector's) and print what it did."""
    from dataspace.agent.subscriber import subscribe  # noqa: PLC0415

    stop = threading.Event()
    with (
        _display(as_json=as_json, once=options.once) as (progress, watcher),
        _stopped_by_sigterm(stop),
    ):
        summary = subscribe(
            settings, control, target, options, progress=progress, stop=stop, watcher=watcher
        )
    if as_json:
        print_json(summary.to_json())
    else:
        _print_summary(summary)
    if summary.deferred:
        raise ServiceError(
            f"{len(summary.deferred)} announcements could not be handled because a service "
            f"stayed unreachable ({summary.deferred[0].detail}); they were not committed: "
            "run the command again."
        )


@contextmanager
def _stopped_by_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM (`connector stop`, a service manager) ends the run as Ctrl-C does: the
    deliveries in hand are finished and committed, and the summary is printed."""
    import signal  # noqa: PLC0415

    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_summary(summary: SubscribeSummary) -> None:
    print_table(
        f"Deliveries landed for {summary.subscriber}",
        ("delivery", "product", "version", "rows", "bytes", "path"),
        [
            (
                item.delivery.delivery_id,
                item.delivery.product_id,
                item.delivery.version,
                item.delivery.rows,
                item.delivery.bytes,
                item.path,
            )
            for item in summary.landed
        ],
    )
    if summary.rejected:
        rejected = [(r.reason.value, r.subject, r.detail) for r in summary.rejected]
        print_table("Rejected (dead-lettered)", ("reason", "subject", "detail"), rejected)
    if summary.refused:
        refused = [(r.delivery_id, r.reason) for r in summary.refused]
        print_table("Refused by the control plane", ("delivery", "reason"), refused)
    console.print(
        f"Landed {len(summary.landed)} deliveries ({summary.rows} rows, {summary.bytes} bytes) "
        f"in {summary.seconds:.1f} s; {summary.duplicates} duplicates skipped, "
        f"{len(summary.rejected)} dead-lettered, {len(summary.refused)} refused, "
        f"{len(summary.deferred)} deferred.",
        highlight=False,
    )


def register_commands(app: typer.Typer) -> None:
    app.command("subscribe")(subscribe_command)
