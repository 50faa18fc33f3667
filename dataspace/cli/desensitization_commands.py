"""`dataspace desensitization show|list`: what desensitization did to a public-data release.

Readable by the product's authority, the data-space operator and each operator that received
the release. ``show`` also says which ledger entry holds the report's hash and whether the
report as stored still matches it (recomputed here: the ledger keeps only the hash).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dataspace.cli.wiring import JsonFlag, node, print_fields, print_json, print_table
from dataspace.errors import InvalidInput

desensitization_app = typer.Typer(
    help="Desensitization reports of public-data releases (脱敏报告).", no_args_is_help=True
)

Reader = Annotated[str, typer.Option("--as", help="The participant reading, on this node.")]
Product = Annotated[str, typer.Argument(help="Public-data product id.")]


@desensitization_app.command("show")
def show(
    product: Product,
    version: Annotated[int, typer.Argument(help="Release version.", min=1)],
    *,
    reader: Reader,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="FILE", help="Also write the HTML page.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The report of one release: columns, k-anonymity, suppression, rows, source."""
    from dataspace.controlplane import public_releases  # noqa: PLC0415 (imported when run)

    with node() as here:
        found = public_releases.report_of(here.db, reader, product, version)
    if html is not None:
        _write_page(html, found)
    if as_json:
        print_json(found)
        return
    report = found["report"]
    print_fields(f"Desensitization report of {product} v{version}", _summary(found))
    columns = report.get("columns") if isinstance(report.get("columns"), list) else []
    print_table("Columns", ("column", "treatment", "into"), [
        (c.get("column"), c.get("treatment"), c.get("into")) for c in columns if isinstance(c, dict)
    ])  # fmt: skip
    if not found["ledger_matches"] or not found["report_sha256_matches"]:
        raise InvalidInput(
            f"The stored report of {product} v{version} no longer matches the hash in ledger "
            f"entry {found['ledger_sequence']}; tell the data-space operator."
        )


@desensitization_app.command("list")
def list_reports(product: Product, *, reader: Reader, as_json: JsonFlag = False) -> None:
    """The released desensitizations of a product that you may read."""
    from dataspace.controlplane import public_releases  # noqa: PLC0415 (imported when run)

    with node() as here:
        found = public_releases.list_reports(here.db, reader, product)
    if as_json:
        print_json(found)
        return
    columns = ("version", "desensitization_id", "rows_in", "rows_out", "k", "smallest_class",
               "suppressed_rows", "report_sha256")  # fmt: skip
    print_table(f"Desensitization reports of {product}", columns,
                [tuple(item[c] for c in columns) for item in found])  # fmt: skip


def _summary(found: dict[str, Any]) -> dict[str, Any]:
    report = found["report"]
    kanon = report.get("k_anonymity") if isinstance(report.get("k_anonymity"), dict) else {}
    rows = report.get("rows") if isinstance(report.get("rows"), dict) else {}
    matches = found["ledger_matches"] and found["report_sha256_matches"]
    return {
        "application": found["application_id"],
        "authority": found["authority"],
        "rows in / out": f"{rows.get('input')} / {rows.get('output')}",
        "k": kanon.get("k"),
        "quasi-identifiers": kanon.get("quasi_identifiers"),
        "smallest class": kanon.get("smallest_class"),
        "suppressed groups / rows": (
            f"{kanon.get('suppressed_groups')} / {kanon.get('suppressed_rows')}"
        ),
        "source": report.get("source"),
        "report sha256": found["report_sha256"],
        "ledger entry": found["ledger_sequence"],
        "matches the ledger": "yes" if matches else "NO",
    }


def _write_page(path: Path, found: dict[str, Any]) -> None:
    from dataspace.publishing.desensitization_page import render  # noqa: PLC0415

    page = render(found["report"], report_sha256=found["report_sha256"], version=found["version"])
    try:
        path.write_bytes(page)
    except OSError as exc:
        raise InvalidInput(f"Cannot write {path} ({exc.strerror}); choose another file.") from exc


def register_commands(app: typer.Typer) -> None:
    app.add_typer(desensitization_app, name="desensitization")
