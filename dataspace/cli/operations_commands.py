"""`dataspace quality check`, `dataspace settle` and `dataspace report evaluation`: the
operator's recurring jobs without Airflow, through the same core as the DAGs."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from dataspace.cli.wiring import JsonFlag, console, node, print_json, print_table
from dataspace.errors import InvalidInput

quality_app = typer.Typer(help="Quality checks of the catalog's products.", no_args_is_help=True)
report_app = typer.Typer(help="Reports for the data-space operator.", no_args_is_help=True)
FAILING_EXIT_CODE = 10


@quality_app.command("check")
def quality_check(
    *,
    product: Annotated[
        list[str] | None, typer.Option("--product", help="Check only this product (repeatable).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-validate every product's newest release, check freshness, store reports, alert.

    Exits 10 when a product is failing or stale (after recording and alerting).
    """
    from dataspace.operations import jobs  # noqa: PLC0415 (imported when the command runs)

    with node() as here:
        results = jobs.quality_check(here, products=product or ())
        flushed = here.flush_outbox()
    if as_json:
        print_json(
            {"products": results, "events_sent": flushed.sent, "events_pending": flushed.pending}
        )
    else:
        rows = [
            (r["product"], r["version"], r["status"], r["score"], r["freshness"], r["report_key"])
            for r in results
        ]
        print_table(
            "Quality check", ("product", "version", "status", "score", "freshness", "report"), rows
        )
        if flushed.error:
            console.print(f"{flushed.pending} alert events wait in the outbox: {flushed.error}.")
    if any(r["status"] != "ok" for r in results):
        raise typer.Exit(FAILING_EXIT_CODE)


def settle(
    *,
    month: Annotated[str, typer.Option(help="The month to settle, YYYY-MM (e.g. 2026-10).")],
    rules: Annotated[
        Path | None,
        typer.Option(help="Fee and revenue-share rules (TOML or JSON); defaults apply."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Meter, reconcile and bill a month; write its statements; seal them in the ledger."""
    from dataspace.operations import jobs  # noqa: PLC0415

    with node() as here:
        result = jobs.settle_month(here, month=month, rules_path=rules)
    if as_json:
        print_json(result)
        return
    state = "already settled" if result["already_settled"] else "settled"
    console.print(f"{result['month']} {state} (ledger entry {result['ledger_sequence']}).")
    print_table("Totals", ("figure", "value"), list(result["totals"].items()))
    print_table(
        "Statements",
        ("object", "SHA-256"),
        [(f"{result['bucket']}/{key}", sha) for key, sha in result["statements"].items()],
    )
    if result["differences"]:
        print_table(
            "Differences (withheld)",
            ("delivery", "kind", "detail"),
            [(d["delivery"], d["kind"], d["detail"]) for d in result["differences"]],
        )


@report_app.command("evaluation")
def evaluation(
    *,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The day the figures are for (default: today, UTC)."),
    ] = None,
    spaces: Annotated[
        Path | None,
        typer.Option(help="The 123+ data-space configuration (default: the node's setting)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write the evaluation report (HTML with charts) and print its key and a link."""
    from dataspace.operations import jobs  # noqa: PLC0415

    day = _day(as_of)
    with node() as here:
        result = jobs.evaluation_report(here, as_of=day, spaces_path=spaces)
    if as_json:
        print_json(result)
        return
    console.print(f"Report: {result['bucket']}/{result['key']}")
    console.print(f"Link (valid 7 days): {result['link']}", soft_wrap=True)


def _day(value: str | None) -> date:
    from dataspace.store.types import utcnow  # noqa: PLC0415

    if value is None:
        return utcnow().date()
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"--as-of {value!r} is not a date; write it as YYYY-MM-DD.") from exc


def register_commands(app: typer.Typer) -> None:
    app.add_typer(quality_app, name="quality")
    app.add_typer(report_app, name="report")
    app.command("settle")(settle)
