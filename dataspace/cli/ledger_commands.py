"""`dataspace ledger verify|show|checkpoint`."""

from __future__ import annotations

from typing import Annotated

import typer

from dataspace.cli.wiring import JsonFlag, node, print_json, print_table

ledger_app = typer.Typer(help="The evidence ledger (存证).", no_args_is_help=True)

BROKEN_EXIT_CODE = 7


@ledger_app.command("verify")
def verify(*, as_json: JsonFlag = False) -> None:
    """Check every entry and checkpoint; exit 7 naming the first bad entry."""
    from dataspace.controlplane import ledger  # noqa: PLC0415 (imported when the command runs)

    with node() as here:
        result = ledger.verify(here.db)
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "entriesChecked": result.entries_checked,
                "headSequence": result.head_sequence,
                "headHash": result.head_hash,
                "problem": None if result.problem is None else result.problem.value,
                "sequence": result.sequence,
                "message": result.message(),
            }
        )
    elif result.ok:
        typer.echo(result.message())
    if not result.ok:
        if not as_json:
            typer.echo(f"Error: {result.message()}", err=True)
        raise typer.Exit(BROKEN_EXIT_CODE)


@ledger_app.command("show")
def show(
    *,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many newest entries.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The newest entries, oldest first."""
    from dataspace.controlplane import ledger  # noqa: PLC0415

    with node() as here:
        entries = ledger.latest(here.db, limit)
    if as_json:
        print_json([entry.to_json() for entry in entries])
        return
    print_table(
        "Evidence ledger",
        ("seq", "time", "actor", "action", "subjects", "hash"),
        [
            (
                e.sequence,
                e.to_json()["time"],
                e.actor,
                e.action,
                e.subject_ids,
                e.entry_hash[:16] + "…",
            )
            for e in entries
        ],
    )


@ledger_app.command("checkpoint")
def checkpoint(*, as_json: JsonFlag = False) -> None:
    """The operator signs the ledger's head hash."""
    from dataspace.controlplane import ledger  # noqa: PLC0415

    with node() as here:
        view = ledger.checkpoint(here.db, here.keys)
    if as_json:
        print_json(view.to_json())
    else:
        typer.echo(
            f"Checkpoint of sequence {view.sequence} ({view.head_hash}) signed by {view.signer}."
        )


def register_commands(app: typer.Typer) -> None:
    app.add_typer(ledger_app, name="ledger")
