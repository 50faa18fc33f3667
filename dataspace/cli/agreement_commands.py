"""`dataspace agreement request|accept|counter|reject|approve|list|show|revoke|sweep`.

A negotiation and the agreement it concludes share one id. ``--as`` names the participant
acting from this node; its key in the node's key store signs what it does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dataspace.cli.wiring import (
    JsonFlag,
    node,
    parse_time,
    print_fields,
    print_json,
    print_table,
    read_policy,
)

if TYPE_CHECKING:
    from dataspace.controlplane.read_models import AgreementView

agreement_app = typer.Typer(help="Negotiations and agreements.", no_args_is_help=True)

Actor = Annotated[str, typer.Option("--as", help="The participant acting from this node.")]
AgreementId = Annotated[str, typer.Argument(help="Agreement id, e.g. agr-1a2b3c4d5e6f.")]


def _show(view: AgreementView, as_json: bool) -> None:
    if as_json:
        print_json(view.to_json())
        return
    fields = view.to_json()
    fields["history"] = " → ".join(step["state"] for step in view.history)
    for signed in ("document", "provider_signature", "consumer_signature"):
        fields[signed] = "signed" if fields[signed] else ""
    print_fields(f"Agreement {view.agreement_id}", fields)


@agreement_app.command("request")
def request(
    *,
    consumer: Actor,
    product: Annotated[str, typer.Option(help="Product id.")],
    purpose: Annotated[str, typer.Option(help="Purpose of use (slug), e.g. supply-planning.")],
    offer: Annotated[str | None, typer.Option(help="Offer id, if there are several.")] = None,
    valid_until: Annotated[str | None, typer.Option(help="ISO 8601 end; default 1 year.")] = None,
    max_deliveries: Annotated[int | None, typer.Option(help="Most deliveries allowed.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Ask for a product under one of its offers (the provider may agree at once by rule)."""
    from dataspace.controlplane import negotiations  # noqa: PLC0415 (imported when the command runs)

    with node() as here:
        view = negotiations.request(
            here.db,
            here.keys,
            consumer=consumer,
            product_id=product,
            purpose=purpose,
            offer_id=offer,
            valid_until=parse_time(valid_until, "--valid-until"),
            max_deliveries=max_deliveries,
        )
    _show(view, as_json)


@agreement_app.command("accept")
def accept(agreement_id: AgreementId, *, actor: Actor, as_json: JsonFlag = False) -> None:
    """As provider: agree and finalize. As consumer: accept a counter-offer."""
    from dataspace.controlplane import negotiations  # noqa: PLC0415

    with node() as here:
        view = negotiations.accept(here.db, here.keys, actor=actor, negotiation_id=agreement_id)
    _show(view, as_json)


@agreement_app.command("counter")
def counter(
    agreement_id: AgreementId,
    *,
    provider: Actor,
    policy: Annotated[Path, typer.Option(help="Policy file of the counter-offer.")],
    as_json: JsonFlag = False,
) -> None:
    """The provider answers a request with a modified policy."""
    from dataspace.controlplane import negotiations  # noqa: PLC0415

    offered = read_policy(policy)
    with node() as here:
        view = negotiations.counter(
            here.db,
            here.keys,
            provider=provider,
            negotiation_id=agreement_id,
            policy=offered,
            artifacts=here.artifacts,
        )
    _show(view, as_json)


@agreement_app.command("reject")
def reject(agreement_id: AgreementId, *, actor: Actor, as_json: JsonFlag = False) -> None:
    """Either party declines a negotiation that is not yet finalized."""
    from dataspace.controlplane import negotiations  # noqa: PLC0415

    with node() as here:
        view = negotiations.reject(here.db, here.keys, actor=actor, negotiation_id=agreement_id)
    _show(view, as_json)


@agreement_app.command("approve")
def approve(
    agreement_id: AgreementId,
    *,
    export: Annotated[bool, typer.Option("--export", help="Also approve export out of CN.")] = (
        False
    ),
    as_json: JsonFlag = False,
) -> None:
    """The operator approves an agreement for important- or core-grade data."""
    from dataspace.controlplane import negotiations  # noqa: PLC0415

    with node() as here:
        view = negotiations.approve(here.db, here.keys, negotiation_id=agreement_id, export=export)
    _show(view, as_json)


@agreement_app.command("revoke")
def revoke(agreement_id: AgreementId, *, actor: Actor, as_json: JsonFlag = False) -> None:
    """The provider or the operator ends an agreement at once."""
    from dataspace.controlplane import agreements  # noqa: PLC0415

    with node() as here:
        view = agreements.revoke(here.db, here.keys, actor=actor, agreement_id=agreement_id)
    _show(view, as_json)


@agreement_app.command("list")
def list_mine(*, viewer: Actor, as_json: JsonFlag = False) -> None:
    """The negotiations and agreements you are a party to (all, for the operator)."""
    from dataspace.controlplane import (  # noqa: PLC0415
        agreements,
        participants,
    )

    with node() as here:
        participants.authenticate(here.db, here.keys, viewer)
        views = agreements.list_agreements(here.db, viewer)
    if as_json:
        print_json([view.to_json() for view in views])
        return
    rows = [
        (v.agreement_id, v.product_id, v.provider, v.consumer, v.purpose, v.state, v.reason,
         f"{v.deliveries_made}/{v.max_deliveries or '∞'}")
        for v in views
    ]  # fmt: skip
    columns = ("id", "product", "provider", "consumer", "purpose", "state", "reason", "delivered")
    print_table(f"Agreements of {viewer}", columns, rows)


@agreement_app.command("show")
def show(agreement_id: AgreementId, *, viewer: Actor, as_json: JsonFlag = False) -> None:
    """One negotiation or agreement you are a party to."""
    from dataspace.controlplane import (  # noqa: PLC0415
        agreements,
        participants,
    )

    with node() as here:
        participants.authenticate(here.db, here.keys, viewer)
        view = agreements.show(here.db, viewer, agreement_id)
    _show(view, as_json)


@agreement_app.command("sweep")
def sweep(*, as_json: JsonFlag = False) -> None:
    """The operator records the end of every agreement that expired or is used up."""
    from dataspace.controlplane import (  # noqa: PLC0415
        agreements,
        participants,
    )
    from dataspace.controlplane.participants import OPERATOR_ID  # noqa: PLC0415

    with node() as here:
        participants.authenticate(here.db, here.keys, OPERATOR_ID)
        ended = agreements.terminate_due(here.db, here.keys)
    if as_json:
        print_json({"ended": list(ended)})
        return
    typer.echo(f"Ended {len(ended)} agreements{': ' if ended else '.'}{', '.join(ended)}")


def register_commands(app: typer.Typer) -> None:
    app.add_typer(agreement_app, name="agreement")
