"""`dataspace serve` runs the management API; `dataspace token` mints a request token."""

from __future__ import annotations

from typing import Annotated

import typer

from dataspace.cli.wiring import node


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
) -> None:
    """Serve the control-plane API (OpenAPI at /docs) until Ctrl-C; requests are logged in
    <state>/logs/api-access.log."""
    from dataspace.api.app import create_app  # noqa: PLC0415
    from dataspace.cli.serving import access_log_path, serve_http  # noqa: PLC0415
    from dataspace.config import load_settings  # noqa: PLC0415 (imported when the command runs)

    settings = load_settings()
    access_log = access_log_path(settings.state_dir.resolve(), "api")
    serve_http(create_app(settings), what="the API", host=host, port=port, access_log=access_log)


def token(
    participant: Annotated[str, typer.Option("--as", help="The participant to sign as.")],
    minutes: Annotated[int, typer.Option(min=1, max=5, help="Lifetime in minutes.")] = 2,
) -> None:
    """Print a short-lived API token signed with the participant's key held on this node."""
    from datetime import timedelta  # noqa: PLC0415

    from dataspace.controlplane import participants  # noqa: PLC0415
    from dataspace.identity import tokens  # noqa: PLC0415

    with node() as here:
        view = participants.authenticate(here.db, here.keys, participant)
        key = here.keys.signing_key(view.participant_id, view.public_key)
    typer.echo(tokens.mint(view.participant_id, key, lifetime=timedelta(minutes=minutes)))


def register_commands(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(token)
