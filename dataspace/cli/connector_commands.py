"""`dataspace connector ...`: one participant's connector, on that participant's machine.

Every command works on one connector's state directory (``--state``, or
``DATASPACE_CONNECTOR_STATE``): its key, its settings, its landed files. It reaches the hub
only over HTTP, signing every act with the participant's own key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dataspace.cli.connector_contract_commands import agreement_app, product_app
from dataspace.cli.connector_wiring import DEFAULT_STATE, StateOption, opened
from dataspace.cli.dsp_commands import dsp_app
from dataspace.cli.wiring import JsonFlag, print_fields, print_json

if TYPE_CHECKING:
    from dataspace.background import Background
    from dataspace.connector.state import Connector

connector_app = typer.Typer(
    help="A participant's connector: its own key, its side of every flow.", no_args_is_help=True
)
connector_app.add_typer(product_app, name="product")
connector_app.add_typer(agreement_app, name="agreement")
connector_app.add_typer(dsp_app, name="dsp")


@connector_app.command("init")
def init(
    *,
    hub: Annotated[str, typer.Option(help="The hub's base URL, e.g. http://hub.example:8700.")],
    participant: Annotated[str, typer.Option("--id", help="Your participant id (a slug).")],
    name: Annotated[str, typer.Option(help="Your enterprise's registered name.")],
    uscc: Annotated[str, typer.Option(help="统一社会信用代码 (18 characters).")],
    role: Annotated[list[str], typer.Option(help="chain_leader, supplier, ...; repeatable.")],
    region: Annotated[str, typer.Option(help="ISO 3166-2, e.g. CN-JS.")],
    chain: Annotated[list[str] | None, typer.Option(help="Industry chain; repeatable.")] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="The URL other connectors reach this one at (providers).")
    ] = None,
    custody: Annotated[
        str, typer.Option(help="connector, or hosted:<hosting service> if one runs it for you.")
    ] = "connector",
    s3_credentials: Annotated[
        Path | None,
        typer.Option(
            help="A JSON file {endpoint, access_key, secret_key} of your own S3 user, as "
            "`dataspace stack s3-user ID --json` prints it (or give the three options)."
        ),
    ] = None,
    s3_endpoint: Annotated[str | None, typer.Option(help="Your own object store.")] = None,
    s3_access_key: Annotated[str | None, typer.Option(help="Your own S3 access key.")] = None,
    s3_secret_key: Annotated[str | None, typer.Option(help="Your own S3 secret key.")] = None,
    bucket: Annotated[str | None, typer.Option(help="Your own bucket for releases.")] = None,
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap servers.")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="This connector's own database (default: SQLite in --state)."),
    ] = None,
    kafka_option: Annotated[
        list[str] | None,
        typer.Option(help="A librdkafka option KEY=VALUE for this connector; repeatable."),
    ] = None,
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:
    """Make this participant's key here and register it with the hub (signed with the key)."""
    from dataspace.connector.onboarding import Declaration  # noqa: PLC0415
    from dataspace.connector.onboarding import init as init_connector  # noqa: PLC0415

    given = _s3_file(s3_credentials) if s3_credentials is not None else {}
    overrides = {
        "s3_endpoint": s3_endpoint or given.get("endpoint"),
        "s3_access_key": s3_access_key or given.get("access_key"),
        "s3_secret_key": s3_secret_key or given.get("secret_key"),
        "release_bucket": bucket,
        "kafka_bootstrap_servers": kafka,
        "kafka_options": _pairs(kafka_option) if kafka_option else None,
        "database_url": database_url,
    }
    declaration = Declaration(participant, name, uscc, tuple(role), region, tuple(chain or ()))
    record = init_connector(
        state,
        hub,
        declaration,
        endpoint=endpoint,
        custody=custody,
        settings={k: v for k, v in overrides.items() if v is not None},
    )
    if as_json:
        print_json(record)
        return
    print_fields(
        f"Registered {record['participant_id']} with {hub} (pending admission)",
        {
            "state": str(state.resolve()),
            "private key": str(state.resolve() / "keys" / f"{participant}.pem") + " (stays here)",
            "public key": record["public_key"],
            "custody": record["custody"],
        },
    )


def _pairs(given: list[str]) -> dict[str, str]:
    from dataspace.errors import InvalidInput  # noqa: PLC0415

    pairs = {}
    for item in given:
        key, sign, value = item.partition("=")
        if not sign or not key.strip():
            raise InvalidInput(f"--kafka-option {item!r} is not KEY=VALUE; write it so.")
        pairs[key.strip()] = value.strip()
    return pairs


def _s3_file(path: Path) -> dict[str, str]:
    from dataspace.errors import InvalidInput  # noqa: PLC0415

    try:
        given = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"{path} is not a readable JSON file of S3 credentials; write it with "
            "`dataspace stack s3-user ID --json > FILE`."
        ) from exc
    if not isinstance(given, dict) or not {"endpoint", "access_key", "secret_key"} <= set(given):
        raise InvalidInput(f"{path} lacks endpoint, access_key or secret_key; write it again.")
    return {key: str(given[key]) for key in ("endpoint", "access_key", "secret_key")}


@connector_app.command("status")
def status(state: StateOption = DEFAULT_STATE, as_json: JsonFlag = False) -> None:
    """This participant as the hub's registry has it, with its credential checked here."""
    from dataspace.connector.onboarding import status as status_of  # noqa: PLC0415

    with opened(state) as connector:
        record = status_of(connector)
        keys = _held_keys(connector)
    if as_json:
        print_json({**record, "state": str(state.resolve()), "private_keys": keys})
        return
    print_fields(
        f"Connector of {record['participant_id']}",
        {
            "hub": connector.config.hub_url,
            "status": record["status"],
            "credential": "verified against the operator's key"
            if record["credential_verified"]
            else "none yet",
            "custody": record["custody"],
            "kafka": _kafka_line(record),
            "state": str(state.resolve()),
            "private keys held here": ", ".join(keys),
        },
    )


def _kafka_line(record: dict[str, Any]) -> str:
    if record["status"] != "admitted":
        return "no access until admitted"
    principal = record.get("kafka_principal")
    if principal is None:
        return "shared: the broker authenticates no one (no per-participant ACLs)"
    return f"own principal {principal}, stored in connector.json"


def _held_keys(connector: Connector) -> list[str]:
    return sorted(path.stem for path in (connector.directory / "keys").glob("*.pem"))


@connector_app.command("publish")
def publish(
    source: Annotated[Path, typer.Argument(help="The release: a Parquet or CSV file.")],
    *,
    product: Annotated[str, typer.Option(help="Product id (one of yours).")],
    mode: Annotated[str, typer.Option(help="snapshot (replaces) or append (adds).")] = "snapshot",
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:
    """Provider: check, gate and write a release and each subscriber's view into your own
    bucket, then send the hub the signed manifest (held here if the hub is unreachable)."""
    from dataspace.cli.publish_commands import report_publish  # noqa: PLC0415
    from dataspace.connector.release_desk import publish_from_connector  # noqa: PLC0415

    with opened(state) as connector:
        summary = publish_from_connector(connector, product_id=product, source=source, mode=mode)
    report_publish(summary, as_json=as_json)


@connector_app.command("flush")
def flush(state: StateOption = DEFAULT_STATE, as_json: JsonFlag = False) -> None:
    """Provider: send the hub every release manifest held while it was unreachable."""
    from dataspace.connector.release_desk import send_held  # noqa: PLC0415

    with opened(state) as connector:
        report = send_held(connector)
    if as_json:
        print_json({"sent": report.sent, "refused": report.refused, "waiting": report.waiting})
        return
    print_fields(
        "Held manifests",
        {
            "sent": ", ".join(report.sent) or "none",
            "refused (see held/refused/)": ", ".join(name for name, _ in report.refused) or "none",
            "still waiting for the hub": report.waiting,
        },
    )


@connector_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on (your --endpoint's port).")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    state: StateOption = DEFAULT_STATE,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Run in the background: return once /health answers (log in <state>/logs/"
            "serve.log); stop it with `dataspace connector stop`.",
        ),
    ] = False,
) -> None:
    """Serve your connector until Ctrl-C: grants from your own bucket (provider) and the
    Dataspace Protocol (catalog, negotiation, transfer; both sides). Requests are logged in
    <state>/logs/connector-access.log."""
    if detach:
        _serve_in_background(state, host, port)
        return
    from dataspace.cli.serving import access_log_path, serve_http  # noqa: PLC0415
    from dataspace.dsp.service import connector_service  # noqa: PLC0415

    with opened(state) as connector, connector_service(connector) as app:
        what = f"{connector.participant}'s connector (grants, Dataspace Protocol)"
        access_log = access_log_path(connector.directory.resolve(), "connector")
        serve_http(app, what=what, host=host, port=port, access_log=access_log)


@connector_app.command("subscribe")
def subscribe(
    once: Annotated[
        bool, typer.Option("--once", help="Land what is announced, then exit (for cron, tests).")
    ] = False,
    resync: Annotated[
        bool, typer.Option("--resync", help="First fetch every due delivery the hub lists.")
    ] = False,
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
    detach: Annotated[
        bool,
        typer.Option(
            "--detach",
            help="Run the agent in the background (log in <state>/logs/subscribe.log); stop it "
            "with `dataspace connector stop`.",
        ),
    ] = False,
) -> None:
    """Subscriber: land your deliveries (grants from each provider's connector), verified and
    receipted with your own key, under <state>/landed/."""
    if detach:
        _subscribe_in_background(state, resync=resync, once=once, as_json=as_json)
        return
    from dataspace.agent.subscriber import SubscribeOptions  # noqa: PLC0415
    from dataspace.cli.subscribe_commands import run_subscription  # noqa: PLC0415
    from dataspace.connector.remote_control_plane import RemoteControlPlane  # noqa: PLC0415

    with opened(state) as connector:
        control = RemoteControlPlane(connector)
        try:
            options = SubscribeOptions(once=once, resync=resync)
            run_subscription(
                connector.node.settings, control, connector.landing_dir, options, as_json=as_json
            )
        finally:
            control.close()


@connector_app.command("stop")
def stop(state: StateOption = DEFAULT_STATE) -> None:
    """Stop what `serve --detach` and `subscribe --detach` started here; safe to run twice."""
    stopped = [
        f"{process.label[0].lower()}{process.label[1:]} (pid {pid})"
        for process in (_background(state, "serve"), _background(state, "subscribe"))
        if (pid := process.stop()) is not None
    ]
    if stopped:
        typer.echo(f"Stopped {' and '.join(stopped)}.")
    else:
        typer.echo(f"Nothing was running in the background for the connector in {state.resolve()}.")


BACKGROUND_LABELS = {
    "serve": "The connector's grant endpoint",
    "subscribe": "The connector's delivery agent",
}


def _background(state: Path, name: str) -> Background:
    import shlex  # noqa: PLC0415

    from dataspace.background import Background  # noqa: PLC0415

    state = state.resolve()
    stop_command = f"dataspace connector stop --state {shlex.quote(str(state))}"
    return Background(state, name, label=BACKGROUND_LABELS[name], stop_command=stop_command)


def _checked_participant(state: Path) -> str:
    """Open the connector here first, so that a broken one fails with its own sentence
    instead of "see the log"; its participant id."""
    with opened(state) as connector:
        return connector.participant


def _serve_in_background(state: Path, host: str, port: int) -> None:
    """`serve` again as a child process, without --detach; returns once /health answers."""
    from dataspace.background import answers_health, dataspace_command, url_of  # noqa: PLC0415
    from dataspace.cli.serving import access_log_path  # noqa: PLC0415

    process = _background(state, "serve")
    participant = _checked_participant(state)
    argv = dataspace_command("connector", "serve", "--state", str(process.state_dir))
    argv += ["--host", host, "--port", str(port)]
    url = url_of(host, port)
    pid = process.start(argv, ready=answers_health(url), listens_on=(host, port))
    typer.echo(f"{participant}'s connector serving grants at {url} in the background (pid {pid})")
    typer.echo(f"log: {process.log_path}")
    typer.echo(f"access log: {access_log_path(process.state_dir, 'connector')}")
    typer.echo(f"stop with: {process.stop_command}")


def _subscribe_in_background(state: Path, *, resync: bool, once: bool, as_json: bool) -> None:
    """`subscribe` again as a child process, without --detach; returns once it has settled."""
    from dataspace.background import dataspace_command  # noqa: PLC0415
    from dataspace.errors import InvalidInput  # noqa: PLC0415

    if once:
        raise InvalidInput(
            "--once lands what is announced and exits, --detach runs the agent until "
            "`dataspace connector stop`: give one or the other."
        )
    process = _background(state, "subscribe")
    participant = _checked_participant(state)
    argv = dataspace_command("connector", "subscribe", "--state", str(process.state_dir))
    argv += ["--resync"] * resync + ["--json"] * as_json
    pid = process.start(argv)
    typer.echo(f"{participant}'s delivery agent running in the background (pid {pid})")
    typer.echo(f"log: {process.log_path}")
    typer.echo(f"stop with: {process.stop_command}")


def register_commands(app: typer.Typer) -> None:
    app.add_typer(connector_app, name="connector")
