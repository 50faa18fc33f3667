"""The `dataspace` command: wiring only; every step lives in the core or in `infra`.

A user's mistake or an unavailable service ends in one red sentence on stderr and a non-zero
exit code, never a traceback.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

from dataspace.cli import (
    agreement_commands,
    api_commands,
    application_commands,
    catalog_commands,
    history_command,
    ledger_commands,
    operations_commands,
    participant_commands,
    publish_commands,
    stack_commands,
    subscribe_command,
)
from dataspace.errors import DataspaceError

app = typer.Typer(
    name="dataspace",
    help="Trusted data space exchange: participants, contracts, signed deliveries.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stack_commands.register(app)
for commands in (
    participant_commands,
    catalog_commands,
    agreement_commands,
    application_commands,
    ledger_commands,
    api_commands,
    subscribe_command,
    publish_commands,
    operations_commands,
    history_command,
):
    commands.register_commands(app)

err_console = Console(stderr=True)


def main() -> None:
    """Entry point of the `dataspace` script."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # Outside standalone mode click returns the code of a `typer.Exit` instead of exiting.
        code = app(standalone_mode=False)
    except DataspaceError as exc:
        err_console.print(f"[bold red]Error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(1)
    except Exception as exc:  # click's usage errors; anything else is a bug and re-raised
        import click  # noqa: PLC0415

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if isinstance(code, int) and code:
        sys.exit(code)
