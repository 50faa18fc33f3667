"""`dataspace up | down | status | demo` and `dataspace stack ...`."""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from dataspace.cli.wiring import JsonFlag, print_fields, print_json

if TYPE_CHECKING:
    from dataspace.config import Settings
    from dataspace.stack.stack import ServiceStatus

console = Console()
stack_app = typer.Typer(help="Administration of the embedded stack.", no_args_is_help=True)

STATE_STYLE = {
    "running": "green",
    "external": "green",
    "file": "green",
    "stopped": "dim",
    "degraded": "yellow",
    "unreachable": "red",
}


def _status_table(statuses: list[ServiceStatus]) -> Table:
    table = Table(title="Dataspace stack")
    for column in ("service", "endpoint", "state", "pids", "detail"):
        table.add_column(column, overflow="fold")  # never cut an endpoint with "…"
    for status in statuses:
        style = STATE_STYLE.get(status.state, "")
        table.add_row(
            status.label,
            status.endpoint,
            f"[{style}]{status.state}[/]",
            " ".join(str(pid) for pid in status.pids),
            status.detail,
        )
    return table


def up(
    with_airflow: Annotated[
        bool,
        typer.Option(
            "--with-airflow",
            help="Also start `airflow standalone` (UI, scheduler, triggerer) on this stack.",
        ),
    ] = False,
) -> None:
    """Start the embedded services that are not configured as external, and wait for health."""
    from dataspace.config import load_settings  # noqa: PLC0415 (imported when the command runs)
    from dataspace.stack.stack import Stack  # noqa: PLC0415

    settings = load_settings()
    began = time.monotonic()
    statuses = Stack(settings, with_airflow=with_airflow).up()
    console.print(_status_table(statuses))
    console.print(f"Stack ready in {time.monotonic() - began:.1f} s.")
    if settings.s3_embedded:
        s3 = settings.s3()
        console.print(
            f"S3: {s3.url}  access key [bold]{s3.access_key}[/]  "
            f"secret key [bold]{s3.secret_key.get_secret_value()}[/]  region {s3.region}",
            highlight=False,
        )
    console.print(f"Kafka: {settings.bootstrap_servers}", highlight=False)
    if with_airflow:
        _print_airflow(settings)
    console.print(f"State and logs: {settings.state_dir.resolve()}", highlight=False)
    console.print("Stop with: dataspace down")


def _print_airflow(settings: Settings) -> None:
    from dataspace.stack import airflow  # noqa: PLC0415

    credentials = airflow.login(settings)
    user, password = credentials or ("admin", "(not written yet)")
    console.print(
        f"Airflow UI: {airflow.ui_url(settings)}  login [bold]{user}[/] / [bold]{password}[/]",
        highlight=False,
    )
    console.print(
        "Airflow CLI: `dataspace airflow ARGS` runs `airflow ARGS` on it; to run the plain "
        "`airflow` command (its tasks act on this node), first:",
        highlight=False,
        markup=False,
    )
    for name, value in airflow.cli_environment(settings).items():
        console.print(f"  export {name}={shlex.quote(value)}", highlight=False, markup=False)


def down() -> None:
    """Stop what `up` started (nothing external); safe to run twice."""
    from dataspace.config import load_settings  # noqa: PLC0415
    from dataspace.stack.stack import Stack  # noqa: PLC0415

    stopped = Stack(load_settings()).down()
    if stopped:
        console.print(f"Stopped: {', '.join(stopped)}.")
    else:
        console.print("Nothing was running.")


def status(as_json: JsonFlag = False) -> None:
    """Show each service's state and health; exit 1 if any is degraded or unreachable."""
    from dataclasses import asdict  # noqa: PLC0415

    from dataspace.config import load_settings  # noqa: PLC0415
    from dataspace.stack.stack import Stack  # noqa: PLC0415

    statuses = Stack(load_settings()).status()
    if as_json:
        print_json([asdict(s) for s in statuses])
    else:
        console.print(_status_table(statuses))
    if any(s.state in ("degraded", "unreachable") for s in statuses):
        raise typer.Exit(1)


def demo() -> None:
    """Run the main job on the running stack."""
    from dataspace.config import load_settings  # noqa: PLC0415
    from dataspace.demo import run_demo  # noqa: PLC0415

    run_demo(load_settings(), console)


@stack_app.command("s3-user")
def s3_user(
    participant: Annotated[str, typer.Argument(help="Participant id.")],
    *,
    as_json: JsonFlag = False,
) -> None:
    """Give a participant its own S3 account and keys on the running embedded store.

    Running it again prints the same keys. No other key, the stack's own included, can read or
    write the participant's buckets.
    """
    from dataspace.config import load_settings  # noqa: PLC0415
    from dataspace.stack.s3_users import ensure_s3_user  # noqa: PLC0415

    credentials = ensure_s3_user(load_settings(), participant).to_json()
    if as_json:
        print_json(credentials)
    else:
        print_fields(f"S3 user of participant {participant}", credentials)


def register_commands(app: typer.Typer) -> None:
    for command in (up, down, status, demo):
        app.command()(command)
    app.add_typer(stack_app, name="stack")
