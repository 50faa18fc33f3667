"""The `dataspace` command: wiring only; every step lives in the core or in `dataspace.stack`.

A user's mistake or an unavailable service ends in one red sentence on stderr and a non-zero
exit code, never a traceback.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console
from rich.markup import escape

from dataspace.cli import (
    agreement_commands,
    api_commands,
    application_commands,
    catalog_commands,
    connector_commands,
    history_commands,
    hub_commands,
    ledger_commands,
    operations_commands,
    participant_commands,
    publish_commands,
    stack_commands,
    subscribe_commands,
)
from dataspace.errors import DataspaceError

app = typer.Typer(
    name="dataspace",
    help="Trusted data space exchange: participants, contracts, signed deliveries.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Click's plain help, not typer's rich panels: typer.rich_utils imports rich's markdown,
    # traceback and syntax modules, about 0.25 s of every `--help` (benchmarks/cli_startup.py).
    rich_markup_mode=None,
)
for commands in (
    stack_commands,
    participant_commands,
    catalog_commands,
    agreement_commands,
    application_commands,
    ledger_commands,
    api_commands,
    subscribe_commands,
    publish_commands,
    operations_commands,
    history_commands,
    hub_commands,
    connector_commands,
):
    commands.register_commands(app)

err_console = Console(stderr=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `dataspace` script; ``argv`` (without the program name) defaults to
    the command line. Exits with the command's code when it is not 0."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        # Outside standalone mode click returns the code of a `typer.Exit` instead of exiting.
        code = app(args=argv, prog_name="dataspace", standalone_mode=False)
    except DataspaceError as exc:
        # The sentence is text, not markup: "[a-z0-9]" in a message must print as it is.
        err_console.print(
            f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: an unknown option, a missing argument
        show = getattr(exc, "show", None)  # typer's own click's ClickException
        if show is None:
            raise
        show()
        sys.exit(getattr(exc, "exit_code", 2))
    if isinstance(code, int) and code:
        sys.exit(code)
