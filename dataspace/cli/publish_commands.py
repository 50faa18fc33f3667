"""`dataspace publish` and `dataspace relay`: the provider side of the delivery pipeline."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from dataspace.adapters.kafka import ensure_topics
from dataspace.adapters.kafka_publisher import KafkaPublisher
from dataspace.cli.wiring import JsonFlag, Node, console, node, print_json, print_table
from dataspace.errors import ServiceError
from dataspace.events.registry import default_registry
from dataspace.store import outbox
from dataspace.store.outbox import OutboxMessage
from producers import relay
from producers.publish import PublishSummary, publish

QUARANTINED_EXIT_CODE = 8


class _Bars:
    """Publish progress as rich bars, one per stage (rows for gate and upload)."""

    def __init__(self) -> None:
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
    with node() as here:
        if as_json:
            summary = publish(
                here.settings,
                here.db,
                here.keys,
                product_id=product,
                provider=provider,
                source=source,
                mode=mode,
            )
        else:
            with _Bars() as bars:
                summary = publish(
                    here.settings,
                    here.db,
                    here.keys,
                    product_id=product,
                    provider=provider,
                    source=source,
                    mode=mode,
                    progress=bars,
                )
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
                summary.sha256[:12] + "…",
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
    events = f"Events: {summary.events_sent} sent, {summary.events_pending} pending in the outbox"
    if summary.relay_error:
        events += f" ({summary.relay_error}; `dataspace relay` sends them when Kafka is back)"
    typer.echo(events + ".")


class _Reporting:
    """The Kafka publisher, printing every message the broker acknowledged."""

    def __init__(self, inner: relay.Publisher) -> None:
        self._inner = inner

    def publish(self, messages: Sequence[OutboxMessage]) -> dict[int, str | None]:
        outcome = self._inner.publish(messages)
        for message in messages:
            if outcome.get(message.id, "no report") is None:
                kind = message.headers.get("event-type", "message")
                typer.echo(f"sent {kind} for {message.key} to {message.topic}")
        return outcome


def relay_command(
    *,
    once: Annotated[bool, typer.Option("--once", help="Send one batch and exit.")] = False,
) -> None:
    """Publish the outbox to Kafka until Ctrl-C (rows are marked sent once acknowledged)."""
    with node() as here:
        try:
            ensure_topics(here.settings, default_registry().topics())
        except ServiceError as exc:
            typer.echo(f"Warning: {exc} Retrying while relaying.", err=True)
        with KafkaPublisher(here.settings) as kafka:
            _relay(here, _Reporting(kafka), once=once)


def _relay(here: Node, publisher: _Reporting, *, once: bool) -> None:
    if once:
        result = relay.relay_once(here.db, publisher)
        with here.db.transaction() as session:
            pending = outbox.pending_count(session)
        typer.echo(f"{result.sent} sent, {result.failed} failed, {pending} pending.")
        if result.failed:
            raise typer.Exit(1)
        return
    stop = threading.Event()
    typer.echo("Relaying the outbox to Kafka; Ctrl-C stops.")
    try:
        relay.run(here.db, publisher, stop)
    except KeyboardInterrupt:
        stop.set()
        typer.echo("Stopped.")


def register_commands(app: typer.Typer) -> None:
    app.command("publish")(publish_command)
    app.command("relay")(relay_command)
