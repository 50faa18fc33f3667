"""`dataspace history --as SUBSCRIBER --product ID --from-version N`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dataspace.cli.wiring import JsonFlag, console, node, print_json, print_table

if TYPE_CHECKING:
    from dataspace.publishing.history import HistorySummary


def history_command(
    *,
    subscriber: Annotated[
        str, typer.Option("--as", help="The subscriber asking (its key is on this node).")
    ],
    product: Annotated[str, typer.Option(help="Product id.")],
    from_version: Annotated[
        int, typer.Option("--from-version", help="The first version wanted (from 1).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Deliver the releases from a version on that a subscriber's agreement has not received."""
    from dataspace.controlplane import participants  # noqa: PLC0415 (imported when the command runs)
    from dataspace.ids import participant_id  # noqa: PLC0415
    from dataspace.publishing.history import deliver_history  # noqa: PLC0415

    subscriber = participant_id(subscriber)
    with node() as here:
        participants.authenticate(here.db, here.keys, subscriber)
        summary = deliver_history(
            here,
            subscriber=subscriber,
            product_id=product,
            from_version=from_version,
        )
    if as_json:
        print_json(summary.to_json())
    else:
        _print_summary(summary)


def _print_summary(summary: HistorySummary) -> None:
    print_table(
        f"History of {summary.product_id} from v{summary.from_version} "
        f"(latest v{summary.latest_version}) for {summary.subscriber}",
        ("version", "mode", "agreement", "delivery", "rows", "bytes", "not delivered because"),
        [
            (d.version, d.mode, d.agreement_id, d.delivery_id, d.rows, d.bytes, d.reason)
            for d in summary.deliveries
        ],
    )
    line = f"{len(summary.delivered)} deliveries announced"
    if not summary.deliveries:
        line = "Nothing new: every release asked for was delivered already or quarantined"
    line += f"; events: {summary.events_sent} sent, {summary.events_pending} pending"
    if summary.relay_error:
        line += f" ({summary.relay_error}; `dataspace relay` sends them when Kafka is back)"
    console.print(line + ".", highlight=False)


def register_commands(app: typer.Typer) -> None:
    app.command("history")(history_command)
