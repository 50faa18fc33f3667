"""`dataspace operator init`; `dataspace participant register|list|show|admit|suspend|reinstate|
kafka-access`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, cast

import typer

from dataspace.cli.wiring import JsonFlag, node, print_fields, print_json, print_table
from dataspace.errors import InvalidInput, ServiceError

if TYPE_CHECKING:
    from dataspace.controlplane.read_models import ParticipantView
    from dataspace.identity.membership import Role
    from dataspace.operations.kafka_principals import AccessApplied

operator_app = typer.Typer(help="The data-space operator of this node.", no_args_is_help=True)
participant_app = typer.Typer(
    help="Participants: registration and membership.", no_args_is_help=True
)

ParticipantArg = Annotated[str, typer.Argument(help="Participant id.")]
ROLES_HELP = "chain_leader, supplier, public_data_authority or authorized_operator; repeatable."


def _show(view: ParticipantView, as_json: bool) -> None:
    if as_json:
        print_json(view.to_json())
    else:
        print_fields(f"Participant {view.participant_id}", view.to_json())


def _show_changed(view: ParticipantView, kafka: AccessApplied, as_json: bool) -> None:
    """The participant after a change of status, and what became of its Kafka access."""
    if as_json:
        print_json({**view.to_json(), "kafka_access": kafka.to_json()})
    else:
        print_fields(f"Participant {view.participant_id}", view.to_json())
        typer.echo(f"Kafka access: {kafka.state} ({kafka.detail})")
    if kafka.state == "failed":
        raise ServiceError(f"{view.participant_id} is {view.status}, but {kafka.detail}")


@operator_app.command("init")
def operator_init(
    *,
    name: Annotated[str, typer.Option(help="Legal name of the operating organisation.")],
    uscc: Annotated[str, typer.Option(help="Its unified social credit code (18 characters).")],
    region: Annotated[str, typer.Option(help="ISO 3166 region, e.g. CN-JS.")] = "CN",
    as_json: JsonFlag = False,
) -> None:
    """Register the operator, create its key (keys/operator.pem) and admit it; safe to repeat."""
    from dataspace.controlplane import participants  # noqa: PLC0415 (imported when the command runs)

    with node() as here:
        view = participants.init_operator(here.db, here.keys, name=name, uscc=uscc, region=region)
    _show(view, as_json)


@participant_app.command("register")
def register(
    *,
    name: Annotated[str, typer.Option(help="Legal name.")],
    uscc: Annotated[str, typer.Option(help="Unified social credit code (18 characters).")],
    role: Annotated[list[str], typer.Option(help=ROLES_HELP)],
    region: Annotated[str, typer.Option(help="ISO 3166 region, e.g. CN-JS or DE-BY.")],
    chain: Annotated[list[str] | None, typer.Option(help="Industry chain; repeatable.")] = None,
    participant_id: Annotated[
        str | None, typer.Option("--id", help="Participant id (slug); made from the name if unset.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a participant (pending until admitted) and create its key pair."""
    from dataspace.controlplane import participants  # noqa: PLC0415
    from dataspace.identity.membership import Registration  # noqa: PLC0415

    registration = Registration(
        participant_id or _slug_of(name),
        name,
        uscc,
        cast("frozenset[Role]", frozenset(role)),  # Registration checks each role
        region,
        frozenset(chain or ()),
    )
    with node() as here:
        view = participants.register(here.db, here.keys, registration)
    _show(view, as_json)


def _slug_of(name: str) -> str:
    """A readable id from an ASCII name ("Acme Parts Co." -> "acme-parts-co")."""
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in name.lower()).split()
    slug = "-".join(words)[:64].strip("-")
    if not slug:
        raise InvalidInput(f"No id can be made from the name {name!r}; pass one with --id.")
    return slug


@participant_app.command("list")
def list_all(*, as_json: JsonFlag = False) -> None:
    """Every registered participant."""
    from dataspace.controlplane import participants  # noqa: PLC0415

    with node() as here:
        views = participants.list_participants(here.db)
    if as_json:
        print_json([view.to_json() for view in views])
        return
    print_table(
        "Participants",
        ("id", "name", "uscc", "roles", "region", "chains", "status"),
        [
            (v.participant_id, v.name, v.uscc, v.roles, v.region, v.industry_chains, v.status)
            for v in views
        ],
    )


@participant_app.command("show")
def show(participant_id: ParticipantArg, *, as_json: JsonFlag = False) -> None:
    """One participant, with its public key and membership."""
    from dataspace.controlplane import participants  # noqa: PLC0415

    with node() as here:
        view = participants.show_participant(here.db, participant_id)
    _show(view, as_json)


@participant_app.command("admit")
def admit(participant_id: ParticipantArg, *, as_json: JsonFlag = False) -> None:
    """The operator admits a participant by signing its membership credential."""
    from dataspace.controlplane import participants  # noqa: PLC0415
    from dataspace.operations import kafka_principals  # noqa: PLC0415

    with node() as here:
        view = participants.admit(here.db, here.keys, participant_id)
        _show_changed(view, kafka_principals.apply_after_change(here, view.participant_id), as_json)


@participant_app.command("suspend")
def suspend(participant_id: ParticipantArg, *, as_json: JsonFlag = False) -> None:
    """The operator suspends a participant: it can neither negotiate nor receive data."""
    from dataspace.controlplane import participants  # noqa: PLC0415
    from dataspace.operations import kafka_principals  # noqa: PLC0415

    with node() as here:
        view = participants.suspend(here.db, here.keys, participant_id)
        _show_changed(view, kafka_principals.apply_after_change(here, view.participant_id), as_json)


@participant_app.command("reinstate")
def reinstate(participant_id: ParticipantArg, *, as_json: JsonFlag = False) -> None:
    """The operator lifts a suspension."""
    from dataspace.controlplane import participants  # noqa: PLC0415
    from dataspace.operations import kafka_principals  # noqa: PLC0415

    with node() as here:
        view = participants.reinstate(here.db, here.keys, participant_id)
        _show_changed(view, kafka_principals.apply_after_change(here, view.participant_id), as_json)


@participant_app.command("kafka-access")
def kafka_access(
    participant_id: Annotated[str | None, typer.Argument(help="Participant id.")] = None,
    *,
    every: Annotated[bool, typer.Option("--all", help="Every registered participant.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Give or take Kafka access as the registry says (after a step could not reach Kafka)."""
    from dataspace.operations import kafka_principals  # noqa: PLC0415

    if (participant_id is None) == (not every):
        raise InvalidInput("Name one participant, or pass --all for every participant.")
    with node() as here:
        if participant_id is None:
            applied = kafka_principals.apply_all(here)
        else:
            applied = [kafka_principals.apply(here, participant_id)]
    if as_json:
        print_json([a.to_json() for a in applied])
    else:
        print_table(
            "Kafka access",
            ["participant", "access", "detail"],
            [(a.participant, a.state, a.detail) for a in applied],
        )


def register_commands(app: typer.Typer) -> None:
    app.add_typer(operator_app, name="operator")
    app.add_typer(participant_app, name="participant")
