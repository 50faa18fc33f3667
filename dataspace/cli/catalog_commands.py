"""`dataspace product create|list|show` and `dataspace catalog export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from dataspace.catalog import DEFAULT_BASE_IRI
from dataspace.cli.wiring import JsonFlag, node, print_fields, print_json, print_table, read_policy
from dataspace.errors import InvalidInput

if TYPE_CHECKING:
    from dataspace.catalog.model import Cadence
    from dataspace.controlplane.read_models import ProductView
    from dataspace.policy.grades import Grade

product_app = typer.Typer(help="Data products in the catalog.", no_args_is_help=True)
catalog_app = typer.Typer(help="The catalog as a whole.", no_args_is_help=True)


@product_app.command("create")
def create(
    *,
    product_id: Annotated[str, typer.Option("--id", help="Product id (slug).")],
    owner: Annotated[str, typer.Option("--as", help="The provider; its key signs.")],
    title_zh: Annotated[str, typer.Option(help="Chinese title.")],
    title_en: Annotated[str, typer.Option(help="English title.")],
    schema: Annotated[str, typer.Option(help="Avro schema: schemas/products/<name>.avsc.")],
    suite: Annotated[str, typer.Option(help="Expectation suite: expectations/<name>.json.")],
    description_zh: Annotated[str | None, typer.Option(help="Default: the title.")] = None,
    description_en: Annotated[str | None, typer.Option(help="Default: the title.")] = None,
    grade: Annotated[str, typer.Option(help="general, important or core.")] = "general",
    chain: Annotated[list[str] | None, typer.Option(help="Chain tag; repeatable.")] = None,
    cadence: Annotated[str, typer.Option(help="daily ... yearly, irregular.")] = "weekly",
    offer: Annotated[list[Path] | None, typer.Option(help="Policy file; repeatable.")] = None,
    auto_accept_chain: Annotated[
        list[str] | None, typer.Option(help="Agree at once to members of this chain; repeatable.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Publish a data product with its offers in the catalog."""
    from dataspace.catalog.model import ProductDescription  # noqa: PLC0415 (imported when the command runs)
    from dataspace.controlplane import catalog  # noqa: PLC0415

    description = ProductDescription(
        product_id=product_id,
        title_zh=title_zh,
        title_en=title_en,
        description_zh=description_zh or title_zh,
        description_en=description_en or title_en,
        owner=owner,
        schema_name=schema,
        suite_name=suite,
        grade=cast("Grade", grade),  # ProductDescription checks both against their enums
        chain_tags=tuple(chain or ()),
        cadence=cast("Cadence", cadence),
        offers=tuple(read_policy(path) for path in offer or ()),
    )
    with node() as here:
        view = catalog.create_product(
            here.db,
            here.keys,
            description,
            artifacts=here.artifacts,
            auto_accept_chains=auto_accept_chain or (),
        )
    _show(view, as_json)


@product_app.command("list")
def list_products(
    *,
    owner: Annotated[str | None, typer.Option(help="Only this provider's products.")] = None,
    chain: Annotated[str | None, typer.Option(help="Only products with this chain tag.")] = None,
    grade: Annotated[str | None, typer.Option(help="Only this grade.")] = None,
    search: Annotated[str | None, typer.Option(help="Text in id, titles, descriptions.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Find products in the catalog."""
    from dataspace.controlplane import catalog  # noqa: PLC0415

    query = catalog.ProductQuery(owner=owner, chain=chain, grade=grade, text=search)
    with node() as here:
        views = catalog.list_products(here.db, query)
    if as_json:
        print_json([view.to_json() for view in views])
        return
    rows = [
        (v.product_id, f"{v.title_zh} / {v.title_en}", v.owner, v.grade, v.chain_tags, v.cadence,
         [o.offer_id for o in v.offers])
        for v in views
    ]  # fmt: skip
    print_table("Products", ("id", "title", "owner", "grade", "chains", "cadence", "offers"), rows)


@product_app.command("show")
def show(
    product_id: Annotated[str, typer.Argument(help="Product id.")], *, as_json: JsonFlag = False
) -> None:
    """One product with its offers' policies."""
    from dataspace.controlplane import catalog  # noqa: PLC0415

    with node() as here:
        view = catalog.show_product(here.db, product_id)
    _show(view, as_json)


def _show(view: ProductView, as_json: bool) -> None:
    if as_json:
        print_json(view.to_json())
        return
    fields = view.to_json()
    fields["offers"] = [offer.offer_id for offer in view.offers]
    print_fields(f"Product {view.product_id}", fields)
    for offer in view.offers:
        print_json({offer.offer_id: offer.policy})


@catalog_app.command("export")
def export(
    *,
    export_format: Annotated[str, typer.Option("--format", help="dcat (DCAT 3 JSON-LD).")] = "dcat",
    output: Annotated[Path | None, typer.Option(help="Write to this file, not stdout.")] = None,
    base_iri: Annotated[str, typer.Option(help="Base IRI of every node.")] = (DEFAULT_BASE_IRI),
) -> None:
    """Export the catalog as DCAT JSON-LD with each offer as an ODRL policy."""
    from dataspace.controlplane import catalog  # noqa: PLC0415

    if export_format != "dcat":
        raise InvalidInput(f"The format {export_format!r} is not supported; use --format dcat.")
    with node() as here:
        document = catalog.export_dcat(here.db, base_iri=base_iri)
    if output is None:
        print_json(document)
        return
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"The catalog cannot be written to {output} ({exc.strerror}).") from exc
    typer.echo(f"Wrote {len(document['dcat:dataset'])} products to {output}.")


def register_commands(app: typer.Typer) -> None:
    app.add_typer(product_app, name="product")
    app.add_typer(catalog_app, name="catalog")
