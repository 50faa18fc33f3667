"""`dataspace ledger verify|export|show|checkpoint`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dataspace.cli.wiring import JsonFlag, node, print_json, print_table
from dataspace.errors import InvalidInput

if TYPE_CHECKING:
    from dataspace.ledger.chain import VerifyResult

ledger_app = typer.Typer(help="The evidence ledger (存证).", no_args_is_help=True)

BROKEN_EXIT_CODE = 7


@ledger_app.command("verify")
def verify(
    *,
    offline: Annotated[
        Path | None,
        typer.Option(
            "--offline",
            metavar="FILE",
            help="Verify this export (`dataspace ledger export`) alone: no database, no node.",
        ),
    ] = None,
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            metavar="KEYS.json",
            help="With --offline: public keys {id: key} obtained elsewhere; they take "
            "precedence over the export's own.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check every entry and checkpoint; exit 7 naming the first bad entry."""
    if offline is not None:
        from dataspace.ledger.export import verify_export  # noqa: PLC0415

        _report(verify_export(offline, keys), as_json=as_json)
        return
    if keys is not None:
        raise InvalidInput("--keys checks an export; give the file with --offline FILE too.")
    from dataspace.controlplane import ledger  # noqa: PLC0415 (imported when the command runs)

    with node() as here:
        result = ledger.verify(here.db)
    _report(result, as_json=as_json)


@ledger_app.command("export")
def export(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="The file to write; must be new.")],
    *,
    as_json: JsonFlag = False,
) -> None:
    """Write the ledger, the participants' public keys and the checkpoints to one file that
    `dataspace ledger verify --offline FILE` checks anywhere."""
    from dataspace.ledger.export import export_ledger, refuse_existing  # noqa: PLC0415

    refuse_existing(path)  # before the node is opened: nothing to undo
    with node() as here:
        done = export_ledger(here.db, path)
    if as_json:
        print_json(
            {
                "path": str(done.path),
                "entries": done.entries,
                "headSequence": done.head_sequence,
                "checkpoints": done.checkpoints,
                "publicKeys": done.public_keys,
            }
        )
    else:
        typer.echo(
            f"Exported {done.entries} entries (head {done.head_sequence}), "
            f"{done.checkpoints} checkpoints and {done.public_keys} public keys to {done.path}."
        )


def _report(result: VerifyResult, *, as_json: bool) -> None:
    """Print the result; exit 7 when the ledger is broken."""
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
        ("seq", "time", "actor", "signed on", "action", "subjects", "hash"),
        [
            (
                e.sequence,
                e.to_json()["time"],
                e.actor,
                e.signed_on,
                e.action,
                e.subject_ids,
                e.entry_hash,
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
