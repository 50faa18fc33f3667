"""`dataspace hub ...`: the operator's node, which holds the operator's key and no other.

``--state DIR`` (or ``DATASPACE_STATE_DIR``) is the hub's state directory; every other
command (``participant admit``, ``ledger verify`` ...) run with the same state directory acts
on the same hub. Participants join from their own connectors (``dataspace connector init``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dataspace.cli.wiring import JsonFlag, node, print_fields, print_json

if TYPE_CHECKING:
    from dataspace.background import Background

hub_app = typer.Typer(
    help="The operator's hub: registry, agreements, evidence ledger, relay. Holds only the "
    "operator's key.",
    no_args_is_help=True,
)


@hub_app.callback()
def _state(
    state: Annotated[
        Path | None,
        typer.Option("--state", help="The hub's state directory (default DATASPACE_STATE_DIR)."),
    ] = None,
) -> None:
    if state is not None:
        os.environ["DATASPACE_STATE_DIR"] = str(state.resolve())


@hub_app.command("init")
def init(
    *,
    name: Annotated[str, typer.Option(help="Legal name of the operating organisation.")],
    uscc: Annotated[str, typer.Option(help="Its unified social credit code (18 characters).")],
    region: Annotated[str, typer.Option(help="ISO 3166 region, e.g. CN-JS.")] = "CN",
    as_json: JsonFlag = False,
) -> None:
    """Set up the hub: the operator's registration and key (keys/operator.pem); safe to repeat."""
    from dataspace.controlplane import participants  # noqa: PLC0415

    with node() as here:
        here.keys.mark_hub()  # from now on this key store refuses any participant's key
        view = participants.init_operator(here.db, here.keys, name=name, uscc=uscc, region=region)
        held = held_keys(here.keys.directory)
        state_dir = here.settings.state_dir
    if as_json:
        print_json({**view.to_json(), "state": str(state_dir), "private_keys": held})
        return
    print_fields(
        f"Hub of {view.name}",
        {"state": str(state_dir), "private keys held": ", ".join(held)},
    )


@hub_app.command("keys")
def keys(as_json: JsonFlag = False) -> None:
    """Which private keys this hub holds: the operator's, and no participant's."""
    with node() as here:
        held = held_keys(here.keys.directory)
    if as_json:
        print_json(held)
        return
    typer.echo("\n".join(held) or "none")


@hub_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Run in the background: return once /health answers (log in <state>/logs/"
            "hub.log); stop it with `dataspace hub stop`.",
        ),
    ] = False,
) -> None:
    """Serve the hub's API to connectors and the operator (OpenAPI at /docs) until Ctrl-C;
    requests are logged in <state>/logs/hub-access.log."""
    from dataspace.config import load_settings  # noqa: PLC0415

    settings = load_settings()
    _require_hub(settings.keys_dir)
    if detach:
        serve_in_background(settings.state_dir.resolve(), host, port)
        return
    from dataspace.api.app import create_app  # noqa: PLC0415
    from dataspace.cli.serving import access_log_path, serve_http  # noqa: PLC0415

    access_log = access_log_path(settings.state_dir.resolve(), "hub")
    serve_http(
        create_app(settings, relay_outbox=True),
        what="the hub API",
        host=host,
        port=port,
        access_log=access_log,
    )


@hub_app.command("stop")
def stop() -> None:
    """Stop the hub's API server that `serve --detach` started; safe to run twice."""
    from dataspace.config import load_settings  # noqa: PLC0415

    background = hub_process(load_settings().state_dir.resolve())
    pid = background.stop()
    if pid is None:
        typer.echo(f"Nothing was running in the background for the hub in {background.state_dir}.")
    else:
        typer.echo(f"Stopped the hub's API server (pid {pid}).")


def hub_process(state_dir: Path) -> Background:
    import shlex  # noqa: PLC0415

    from dataspace.background import Background  # noqa: PLC0415

    return Background(
        state_dir,
        "hub",
        label="The hub's API server",
        stop_command=f"dataspace hub --state {shlex.quote(str(state_dir))} stop",
    )


def serve_in_background(state_dir: Path, host: str, port: int) -> None:
    """`serve` again as a child process, without --detach; returns once /health answers."""
    from dataspace.background import answers_health, dataspace_command, url_of  # noqa: PLC0415
    from dataspace.cli.serving import access_log_path  # noqa: PLC0415

    background = hub_process(state_dir)
    argv = dataspace_command(
        "hub", "--state", str(state_dir), "serve", "--host", host, "--port", str(port)
    )
    url = url_of(host, port)
    pid = background.start(argv, ready=answers_health(url), listens_on=(host, port))
    typer.echo(f"hub serving {url} in the background (pid {pid}, state {state_dir})")
    typer.echo(f"log: {background.log_path}")
    typer.echo(f"access log: {access_log_path(state_dir, 'hub')}")
    typer.echo(f"stop with: {background.stop_command}")


def _require_hub(keys_dir: Path) -> None:
    from dataspace.errors import ConfigError  # noqa: PLC0415
    from dataspace.identity.keystore import KeyStore  # noqa: PLC0415

    if not KeyStore(keys_dir).is_hub:
        raise ConfigError(
            f"{keys_dir.parent} is not a hub's state (no `dataspace hub init` there, or it "
            "holds participants' keys); set the hub up with `dataspace hub --state DIR init`."
        )


def held_keys(directory: Path) -> list[str]:
    """The participants whose private keys are in a key directory."""
    return sorted(path.stem for path in directory.glob("*.pem"))


def register_commands(app: typer.Typer) -> None:
    from dataspace.cli.agreement_commands import agreement_app  # noqa: PLC0415
    from dataspace.cli.ledger_commands import ledger_app  # noqa: PLC0415
    from dataspace.cli.participant_commands import participant_app  # noqa: PLC0415

    # The operator's commands on the hub's state: `dataspace hub --state DIR participant admit
    # ID`, `... ledger export FILE`, `... agreement approve ID` are those commands run on it.
    hub_app.add_typer(participant_app, name="participant")
    hub_app.add_typer(ledger_app, name="ledger")
    hub_app.add_typer(agreement_app, name="agreement")  # approve, sweep, list: the operator's
    app.add_typer(hub_app, name="hub")
