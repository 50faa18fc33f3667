"""`dataspace connector ...`: one participant's connector, on that participant's machine.

Every command works on one connector's state directory (``--state``, or
``DATASPACE_CONNECTOR_STATE``): its key, its settings, its landed files. It reaches the hub
only over HTTP, signing every act with the participant's own key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dataspace.cli.wiring import JsonFlag, parse_time, print_fields, print_json, print_table

if TYPE_CHECKING:
    from dataspace.background import Background
    from dataspace.connector.state import Connector

connector_app = typer.Typer(
    help="A participant's connector: its own key, its side of every flow.", no_args_is_help=True
)
product_app = typer.Typer(help="Products this provider offers (signed here).", no_args_is_help=True)
agreement_app = typer.Typer(help="Negotiate and sign agreements here.", no_args_is_help=True)
connector_app.add_typer(product_app, name="product")
connector_app.add_typer(agreement_app, name="agreement")

StateOption = Annotated[
    Path,
    typer.Option(
        "--state",
        envvar="DATASPACE_CONNECTOR_STATE",
        help="The connector's state directory (its key, settings and landed files).",
    ),
]
DEFAULT_STATE = Path(".dataspace-connector")


@contextmanager
def opened(state: Path) -> Iterator[Connector]:
    from dataspace.connector.state import open_connector  # noqa: PLC0415

    with open_connector(state) as connector:
        yield connector


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
            "state": str(state.resolve()),
            "private keys held here": ", ".join(keys),
        },
    )


def _held_keys(connector: Connector) -> list[str]:
    return sorted(path.stem for path in (connector.directory / "keys").glob("*.pem"))


@product_app.command("create")
def create_product(
    *,
    product_id: Annotated[str, typer.Option("--id", help="Product id (a slug).")],
    title_zh: Annotated[str, typer.Option(help="Chinese title.")],
    title_en: Annotated[str, typer.Option(help="English title.")],
    schema: Annotated[str, typer.Option(help="Avro schema: schemas/products/<name>.avsc.")],
    suite: Annotated[str, typer.Option(help="Expectation suite: expectations/<name>.json.")],
    offer: Annotated[list[Path], typer.Option(help="Policy file; repeatable.")],
    grade: Annotated[str, typer.Option(help="general, important or core.")] = "general",
    chain: Annotated[list[str] | None, typer.Option(help="Chain tag; repeatable.")] = None,
    cadence: Annotated[str, typer.Option(help="daily ... yearly, irregular.")] = "weekly",
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:
    """Register a product and its offers in the hub's directory, signed by this provider."""
    from dataspace.connector.catalog import read_offer, register_product  # noqa: PLC0415

    body = {
        "id": product_id,
        "title_zh": title_zh,
        "title_en": title_en,
        "description_zh": title_zh,
        "description_en": title_en,
        "schema_name": schema,
        "suite_name": suite,
        "grade": grade,
        "chain_tags": list(chain or ()),
        "cadence": cadence,
        "offers": [read_offer(path) for path in offer],
    }
    with opened(state) as connector:
        view = register_product(connector, body)
    if as_json:
        print_json(view)
        return
    print_fields(f"Product {view['product_id']} registered", {"offers": len(view["offers"])})


@product_app.command("list")
def list_products(
    *,
    owner: Annotated[str | None, typer.Option(help="Only this provider's products.")] = None,
    chain: Annotated[str | None, typer.Option(help="Only products with this chain tag.")] = None,
    search: Annotated[str | None, typer.Option(help="Text in id, titles, descriptions.")] = None,
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:
    """Browse the hub's catalog directory: every product and its offers."""
    from dataspace.connector.catalog import browse  # noqa: PLC0415

    with opened(state) as connector:
        views = browse(connector, owner=owner, chain=chain, text=search)
    if as_json:
        print_json(views)
        return
    print_table(
        "Catalog",
        ("product", "owner", "title", "grade", "offers", "versions"),
        [(v["product_id"], v["owner"], v["title_en"], v["grade"],
          ", ".join(o["offer_id"] for o in v["offers"]), len(v["versions"])) for v in views],
    )  # fmt: skip


@agreement_app.command("request")
def request(
    *,
    product: Annotated[str, typer.Option(help="The product to subscribe to.")],
    purpose: Annotated[str, typer.Option(help="Purpose of use (a slug).")],
    offer: Annotated[str | None, typer.Option(help="Offer id; default: the first.")] = None,
    valid_until: Annotated[str | None, typer.Option(help="ISO 8601 with a timezone.")] = None,
    max_deliveries: Annotated[int | None, typer.Option(min=1)] = None,
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:
    """Ask a provider for a product under one of its offers (signed here)."""
    from dataspace.connector import negotiation  # noqa: PLC0415

    until: datetime | None = parse_time(valid_until, "--valid-until")
    with opened(state) as connector:
        view = negotiation.request(
            connector,
            product=product,
            purpose=purpose,
            offer=offer,
            valid_until=until,
            max_deliveries=max_deliveries,
        )
    _show(view, as_json)


@agreement_app.command("sign")
def sign(
    agreement: Annotated[str, typer.Argument(help="The agreement id (agr-...).")],
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:
    """Sign your next step here: provider over the draft, consumer over the agreed document."""
    from dataspace.connector import negotiation  # noqa: PLC0415

    with opened(state) as connector:
        view = negotiation.sign(connector, agreement)
    _show(view, as_json)


def _step(step: str, doc: str) -> Any:
    def command(
        agreement: Annotated[str, typer.Argument(help="The agreement id (agr-...).")],
        state: StateOption = DEFAULT_STATE,
        as_json: JsonFlag = False,
    ) -> None:
        from dataspace.connector import negotiation  # noqa: PLC0415

        with opened(state) as connector:
            view = negotiation.act(connector, agreement, step)
        _show(view, as_json)

    command.__doc__ = doc
    return command


agreement_app.command("accept")(_step("accept", "Consumer: accept the provider's counter-offer."))
agreement_app.command("reject")(_step("reject", "Decline before the agreement is filed."))
agreement_app.command("revoke")(_step("revoke", "Provider: end an agreement at once."))


@agreement_app.command("counter")
def counter(
    agreement: Annotated[str, typer.Argument(help="The agreement id (agr-...).")],
    offer: Annotated[Path, typer.Option(help="The modified policy (an ODRL file).")],
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:
    """Provider: answer a request with a modified policy (the consumer accepts or rejects)."""
    from dataspace.connector import negotiation  # noqa: PLC0415
    from dataspace.connector.catalog import read_offer  # noqa: PLC0415

    policy = read_offer(offer)
    with opened(state) as connector:
        view = negotiation.counter(connector, agreement, policy)
    _show(view, as_json)


@agreement_app.command("list")
def list_agreements(state: StateOption = DEFAULT_STATE, as_json: JsonFlag = False) -> None:
    """Your negotiations and agreements, as the hub records them."""
    from dataspace.connector import negotiation  # noqa: PLC0415

    with opened(state) as connector:
        views = negotiation.list_agreements(connector)
    if as_json:
        print_json(views)
        return
    print_table(
        "Agreements",
        ("id", "product", "provider", "consumer", "state"),
        [(v["agreement_id"], v["product_id"], v["provider"], v["consumer"], v["state"])
         for v in views],
    )  # fmt: skip


@agreement_app.command("show")
def show(
    agreement: Annotated[str, typer.Argument(help="The agreement id (agr-...).")],
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:
    """One of your negotiations or agreements."""
    from dataspace.connector import negotiation  # noqa: PLC0415

    with opened(state) as connector:
        view = negotiation.show(connector, agreement)
    _show(view, as_json)


def _show(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    print_fields(
        f"Agreement {view['agreement_id']}",
        {
            "product": view["product_id"],
            "provider": view["provider"],
            "consumer": view["consumer"],
            "state": view["state"],
            "signed by": ", ".join(
                who
                for who, signature in (
                    (view["provider"], view.get("provider_signature")),
                    (view["consumer"], view.get("consumer_signature")),
                )
                if signature
            )
            or "nobody yet",
        },
    )


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
    """Provider: answer subscribers' grant requests from your own bucket until Ctrl-C."""
    if detach:
        _serve_in_background(state, host, port)
        return
    import uvicorn  # noqa: PLC0415 (only this command serves HTTP)

    from dataspace.connector.grants import create_grant_app  # noqa: PLC0415

    with opened(state) as connector:
        typer.echo(
            f"{connector.participant}'s connector serving grants at http://{host}:{port}",
            err=True,
        )
        uvicorn.run(create_grant_app(connector), host=host, port=port, log_level="warning")


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

    process = _background(state, "serve")
    participant = _checked_participant(state)
    argv = dataspace_command("connector", "serve", "--state", str(process.state_dir))
    argv += ["--host", host, "--port", str(port)]
    url = url_of(host, port)
    pid = process.start(argv, ready=answers_health(url), listens_on=(host, port))
    typer.echo(f"{participant}'s connector serving grants at {url} in the background (pid {pid})")
    typer.echo(f"log: {process.log_path}")
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
