"""`dataspace publish` and `dataspace relay`: the provider side of the delivery pipeline."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated

import typer

from dataspace.cli.wiring import JsonFlag, console, node, print_json, print_table
from dataspace.errors import ServiceError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from dataspace.events import relay
    from dataspace.events.records import OutgoingRecord
    from dataspace.node import Node
    from dataspace.publishing.publish import PublishSummary

QUARANTINED_EXIT_CODE = 8


class _Bars:
    """Publish progress as rich bars, one per stage (rows for gate and upload)."""

    def __init__(self) -> None:
        from rich.progress import (  # noqa: PLC0415 (imported when the command runs)
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<13}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None

    def start(self, stage: str, total_rows: int | None) -> None:
        self._finish()
        self._task = self._progress.add_task(stage, total=total_rows)

    def advance(self, rows: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, rows)

    def _finish(self) -> None:
        if self._task is not None:
            done = self._progress.tasks[-1].completed
            self._progress.update(self._task, total=done)

    def __enter__(self) -> _Bars:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._finish()
        self._progress.stop()


def publish_command(
    source: Annotated[Path, typer.Argument(help="The release: a Parquet or CSV file.")],
    *,
    product: Annotated[str, typer.Option(help="Product id.")],
    provider: Annotated[str, typer.Option("--as", help="The product's owner, acting here.")],
    mode: Annotated[str, typer.Option(help="snapshot (replaces) or append (adds).")] = "snapshot",
    as_json: JsonFlag = False,
) -> None:
    """Check, gate and write a release, and deliver each subscriber its view."""
    from dataspace.publishing.publish import publish  # noqa: PLC0415

    with node() as here:
        if as_json:
            summary = publish(
                here,
                product_id=product,
                provider=provider,
                source=source,
                mode=mode,
            )
        else:
            with _Bars() as bars:
                summary = publish(
                    here,
                    product_id=product,
                    provider=provider,
                    source=source,
                    mode=mode,
                    progress=bars,
                )
    report_publish(summary, as_json=as_json)


def report_publish(summary: PublishSummary, *, as_json: bool) -> None:
    """Print what a publish did (here or on a connector); exit 8 when it was quarantined."""
    if as_json:
        print_json(summary.to_json())
    else:
        _print_summary(summary)
    if summary.status == "quarantined":
        if not as_json:
            typer.echo(
                f"Error: version {summary.version} of {summary.product_id} failed its quality "
                f"gate and was quarantined; nothing was delivered. See {summary.report_key} "
                "in the release bucket, fix the data and publish again.",
                err=True,
            )
        raise typer.Exit(QUARANTINED_EXIT_CODE)


def _print_summary(summary: PublishSummary) -> None:
    print_table(
        f"Release {summary.product_id} v{summary.version} ({summary.mode}): {summary.status}",
        ("rows", "bytes", "sha256", "quality", "seconds"),
        [
            (
                summary.rows,
                summary.bytes,
                summary.sha256,
                summary.quality,
                summary.seconds,
            )
        ],
    )
    if summary.deliveries:
        print_table(
            "Deliveries",
            ("subscriber", "agreement", "delivery", "rows", "bytes", "not delivered because"),
            [
                (d.subscriber, d.agreement_id, d.delivery_id, d.rows, d.bytes, d.reason)
                for d in summary.deliveries
            ],
        )
    if summary.held:
        typer.echo(
            "The hub could not be reached: the release is written and its manifest is held in "
            "this connector; `dataspace connector flush` (or the next publish) sends it."
        )
        return
    events = f"Events: {summary.events_sent} sent, {summary.events_pending} pending in the outbox"
    if summary.relay_error:
        events += f" ({summary.relay_error}; `dataspace relay` sends them when Kafka is back)"
    typer.echo(events + ".")


class _Reporting:
    """The Kafka sender, printing every record the broker acknowledged."""

    def __init__(self, inner: relay.Sender) -> None:
        self._inner = inner

    def send(self, records: Sequence[OutgoingRecord]) -> list[str | None]:
        errors = self._inner.send(records)
        for record, error in zip(records, errors, strict=True):
            if error is None:
                kind = record.header("event-type") or "message"
                key = (record.key or b"").decode("utf-8", errors="replace")
                typer.echo(f"sent {kind} for {key} to {record.topic}")
        return errors


def relay_command(
    *,
    once: Annotated[bool, typer.Option("--once", help="Send one batch and exit.")] = False,
) -> None:
    """Publish the outbox to Kafka until Ctrl-C (rows are marked sent once acknowledged)."""
    from dataspace.adapters.kafka import ensure_topics  # noqa: PLC0415
    from dataspace.adapters.kafka_producer import KafkaSender  # noqa: PLC0415
    from dataspace.events.registry import default_registry  # noqa: PLC0415

    with node() as here:
        try:
            ensure_topics(here.settings, default_registry().topics())
        except ServiceError as exc:
            typer.echo(f"Warning: {exc} Retrying while relaying.", err=True)
        with KafkaSender(here.settings) as kafka:
            _relay(here, _Reporting(kafka), once=once)


def _relay(here: Node, sender: _Reporting, *, once: bool) -> None:
    from dataspace.events import relay  # noqa: PLC0415
    from dataspace.store import outbox  # noqa: PLC0415

    if once:
        result = relay.relay_once(here.db, sender)
        with here.db.transaction() as session:
            pending = outbox.pending_count(session)
        typer.echo(f"{result.sent} sent, {result.failed} failed, {pending} pending.")
        if result.failed:
            raise typer.Exit(1)
        return
    stop = threading.Event()
    typer.echo("Relaying the outbox to Kafka; Ctrl-C stops.")
    try:
        relay.run(here.db, sender, stop)
    except KeyboardInterrupt:
        stop.set()
        typer.echo("Stopped.")


def register_commands(app: typer.Typer) -> None:
    app.command("publish")(publish_command)
    app.command("relay")(relay_command)
