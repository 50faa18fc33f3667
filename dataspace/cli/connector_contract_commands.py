"""`dataspace connector product|agreement ...`: the catalog and contracts, signed here.

A provider registers its products and offers in the hub's directory; everyone browses it; a
consumer requests, each party signs on its own connector (provider over the draft, consumer
over the agreed document), and either declines, counters or revokes as its own act.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from dataspace.cli.connector_wiring import DEFAULT_STATE, StateOption, opened
from dataspace.cli.wiring import JsonFlag, parse_time, print_fields, print_json, print_table

product_app = typer.Typer(help="Products this provider offers (signed here).", no_args_is_help=True)
agreement_app = typer.Typer(help="Negotiate and sign agreements here.", no_args_is_help=True)


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
    auto_accept_chain: Annotated[
        list[str] | None,
        typer.Option(help="Agree at once to requests from members of this industry chain "
                     "(over the Dataspace Protocol, while `connector serve` runs); repeatable."),
    ] = None,
    state: StateOption = DEFAULT_STATE,
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
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
        "auto_accept_chains": list(auto_accept_chain or ()),
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
    """Answer with other terms: the provider counters a request (the consumer accepts,
    counters again or rejects); the consumer counters the provider's counter-offer."""
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
