"""`dataspace uscc make|check` and `dataspace airflow ...`: helpers for trying the product out.

A participant needs a unified social credit code whose check character is right; ``uscc make``
completes a made-up 17-character prefix into a valid test code. ``airflow`` runs this
environment's `airflow` command against the embedded stack's Airflow (``up --with-airflow``):
its AIRFLOW_HOME and settings are the stack's, not whatever the user's shell holds.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dataspace.cli.wiring import JsonFlag, print_json

uscc_app = typer.Typer(
    help="Unified social credit codes (统一社会信用代码): make a test code, check one.",
    no_args_is_help=True,
)


@uscc_app.command("make")
def make(
    prefix: Annotated[
        str,
        typer.Argument(help="The first 17 characters, e.g. 91320412MA0000003 (made up)."),
    ],
    as_json: JsonFlag = False,
) -> None:
    """Print the code made of PREFIX and its GB 32100-2015 check character."""
    from dataspace.identity.uscc import make_uscc  # noqa: PLC0415 (imported when the command runs)

    code = make_uscc(prefix)
    if as_json:
        print_json({"uscc": code})
    else:
        typer.echo(code)


@uscc_app.command("check")
def check(
    code: Annotated[str, typer.Argument(help="An 18-character code.")],
    as_json: JsonFlag = False,
) -> None:
    """Check a code's length, characters and check character; exit 2 naming what is wrong."""
    from dataspace.identity.uscc import validate_uscc  # noqa: PLC0415

    valid = validate_uscc(code)
    if as_json:
        print_json({"uscc": valid, "valid": True})
    else:
        typer.echo(f"{valid} is a valid unified social credit code.")


def airflow(context: typer.Context) -> None:
    """Run `airflow ARGS...` on the stack's Airflow (its AIRFLOW_HOME, DAGs and settings).

    For example: dataspace airflow dags list-runs public_data_authorized_release
    """
    import subprocess  # noqa: PLC0415

    from dataspace.config import load_settings  # noqa: PLC0415
    from dataspace.orchestration import node_airflow_environment  # noqa: PLC0415
    from dataspace.stack.components import venv_script  # noqa: PLC0415

    env = node_airflow_environment(load_settings())
    done = subprocess.run([venv_script("airflow"), *context.args], env=env, check=False)
    if done.returncode:
        raise typer.Exit(done.returncode)


def register_commands(app: typer.Typer) -> None:
    app.add_typer(uscc_app, name="uscc")
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,  # `dataspace airflow --help` is Airflow's own help
    )(airflow)
