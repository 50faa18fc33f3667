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
    desensitization_commands,
    history_commands,
    hub_commands,
    ledger_commands,
    operations_commands,
    participant_commands,
    public_release_commands,
    publicdata_commands,
    publish_commands,
    stack_commands,
    subscribe_commands,
    tool_commands,
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
    public_release_commands,
    desensitization_commands,
    ledger_commands,
    api_commands,
    subscribe_commands,
    publish_commands,
    publicdata_commands,
    operations_commands,
    history_commands,
    hub_commands,
    connector_commands,
    tool_commands,
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
    except Exception as exc:
        if not _is_click_error(exc):
            raise  # a bug: its traceback is what a report needs
        sys.exit(_report_click_error(exc))
    if isinstance(code, int) and code:
        sys.exit(code)


# Typer raises the exceptions of the click it runs on: its own vendored copy (recent typer)
# or the click package (older typer). Only a module already imported can have raised one, so
# looking in sys.modules costs no import at start-up.
_CLICK_EXCEPTION_MODULES = ("typer._click.exceptions", "click.exceptions")


def _is_click_error(exc: Exception) -> bool:
    for name in _CLICK_EXCEPTION_MODULES:
        module = sys.modules.get(name)
        # typer's vendored copy has no Abort of its own: it raises typer.Abort, caught above.
        kinds = tuple(
            getattr(module, kind)
            for kind in ("ClickException", "Abort")
            if module and hasattr(module, kind)
        )
        if kinds and isinstance(exc, kinds):
            return True
    return False


def _report_click_error(exc: Exception) -> int:
    """Show a usage error as one sentence (and click's hint where to find help); the exit code.

    ``no_args_is_help`` is not an error: the help asked for by giving nothing goes to stdout."""
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
        typer.echo(ctx.get_help())
        return 0
    format_message = getattr(exc, "format_message", None)
    if format_message is None:  # click's Abort: the user ended a prompt
        err_console.print("Aborted.")
        return 1
    err_console.print(
        f"[bold red]Error:[/] {escape(format_message())}", highlight=False, soft_wrap=True
    )
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        hint = f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help."
        err_console.print(escape(hint), highlight=False, soft_wrap=True)
    return int(getattr(exc, "exit_code", 2))
