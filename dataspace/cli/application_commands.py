"""`dataspace application apply|approve|reject|list|show` and `dataspace incident list`.

Public-data authorized operation: an authorized operator applies for one usage scenario of a
public-data product; the authority holding the product approves (concluding the agreement
that licenses the operator, the only way to a licence on public data) or rejects it. A
rejected operator, or one whose term has ended, applies again: a new attempt, listed with the
earlier ones by `application show`. Releases are made by the
``public_data_authorized_release`` DAG for an approved application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from dataspace.cli.wiring import JsonFlag, node, parse_time, print_fields, print_json, print_table

if TYPE_CHECKING:
    from dataspace.controlplane.applications import ApplicationView
from dataspace.errors import InvalidInput

application_app = typer.Typer(
    help="Scenario applications for public data (公共数据授权运营).", no_args_is_help=True
)
incident_app = typer.Typer(help="Quality incidents opened for quarantined releases.")

Actor = Annotated[str, typer.Option("--as", help="The participant acting from this node.")]
ApplicationId = Annotated[str, typer.Argument(help="Application id, e.g. app-1a2b3c4d5e6f7a8b.")]


def _show(view: ApplicationView, as_json: bool) -> None:
    if as_json:
        print_json(view.to_json())
    else:
        print_fields(f"Application {view.application_id}", view.to_json())


@application_app.command("apply")
def apply(
    *,
    applicant: Actor,
    product: Annotated[str, typer.Option(help="Public-data product id.")],
    scenario: Annotated[
        str, typer.Option(help="Usage scenario (slug); one application in force per scenario.")
    ],
    purpose: Annotated[str, typer.Option(help="Purpose of use (slug).")],
    tier: Annotated[str, typer.Option(help="general, important or core.")] = "general",
    start: Annotated[str, typer.Option("--from", help="ISO 8601 start of the term.")] = "",
    end: Annotated[str, typer.Option("--until", help="ISO 8601 end of the term.")] = "",
    description: Annotated[str, typer.Option(help="What the data is used for.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Apply, as an authorized operator, for one usage scenario of a public-data product."""
    from dataspace.controlplane import applications  # noqa: PLC0415 (imported when the command runs)
    from dataspace.controlplane.applications import Scenario  # noqa: PLC0415

    term_start, term_end = parse_time(start or None, "--from"), parse_time(end or None, "--until")
    if term_start is None or term_end is None:
        raise InvalidInput("Give the term with --from and --until, e.g. 2026-01-01T00:00:00Z.")
    wanted = Scenario(scenario, purpose, tier, term_start, term_end, description)
    with node() as here:
        view = applications.apply(
            here.db, here.keys, applicant=applicant, product=product, scenario=wanted
        )
    _show(view, as_json)


@application_app.command("approve")
def approve(
    application: ApplicationId,
    *,
    authority: Actor,
    reason: Annotated[str, typer.Option(help="Why (optional).")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Approve, as the product's public-data authority; concludes the licensing agreement."""
    from dataspace.controlplane import applications  # noqa: PLC0415

    _decide(applications.approve, application, authority, reason, as_json)


@application_app.command("reject")
def reject(
    application: ApplicationId,
    *,
    authority: Actor,
    reason: Annotated[str, typer.Option(help="Why; required.")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Reject, as the product's public-data authority, saying why."""
    from dataspace.controlplane import applications  # noqa: PLC0415

    _decide(applications.reject, application, authority, reason, as_json)


def _decide(
    decision: Callable[..., ApplicationView],
    application: str,
    authority: str,
    reason: str,
    as_json: bool,
) -> None:
    with node() as here:
        view = decision(
            here.db, here.keys, authority=authority, application=application, reason=reason
        )
    _show(view, as_json)


@application_app.command("show")
def show(application: ApplicationId, as_json: JsonFlag = False) -> None:
    """One application and its decision, with every attempt at its scenario."""
    from dataspace.controlplane import applications  # noqa: PLC0415

    with node() as here:
        view = applications.show(here.db, application)
        attempts = applications.attempts(here.db, application)
    history = [
        {"application_id": a.application_id, "attempt": a.attempt, "status": a.status,
         "decided_at": a.to_json()["decided_at"], "decision_reason": a.decision_reason}
        for a in attempts
    ]  # fmt: skip
    if as_json:
        print_json({**view.to_json(), "attempts": history})
        return
    _show(view, as_json)
    columns = ("attempt", "id", "status", "decided", "reason")
    rows = [(a["attempt"], a["application_id"], a["status"], a["decided_at"],
             a["decision_reason"]) for a in history]  # fmt: skip
    print_table(f"Attempts at {view.scenario} of {view.product_id} by {view.applicant}", columns,
                rows)  # fmt: skip


@application_app.command("list")
def list_(
    product: Annotated[str | None, typer.Option(help="Only this product.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every application, oldest first."""
    from dataspace.controlplane import applications  # noqa: PLC0415

    with node() as here:
        views = applications.list_applications(here.db, product)
    if as_json:
        print_json([view.to_json() for view in views])
        return
    columns = ("id", "applicant", "product", "scenario", "attempt", "tier", "status", "agreement")
    rows = [(v.application_id, v.applicant, v.product_id, v.scenario, v.attempt, v.tier,
             v.status, v.agreement_id) for v in views]  # fmt: skip
    print_table("Scenario applications", columns, rows)


@incident_app.command("list")
def list_incidents(
    product: Annotated[str | None, typer.Option(help="Only this product.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Quality incidents, oldest first."""
    from dataspace.controlplane import incidents  # noqa: PLC0415

    with node() as here:
        views = incidents.list_incidents(here.db, product)
    if as_json:
        print_json([view.to_json() for view in views])
        return
    columns = ("id", "provider", "product", "version", "status", "notified", "opened")
    rows = [(v.incident_id, v.provider, v.product_id, v.version, v.status, v.notified,
             v.opened_at) for v in views]  # fmt: skip
    print_table("Quality incidents", columns, rows)


def register_commands(app: typer.Typer) -> None:
    app.add_typer(application_app, name="application")
    app.add_typer(incident_app, name="incident")
