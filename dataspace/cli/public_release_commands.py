"""`dataspace application release APP --connection C --object|--table|--query …`.

Runs the ``public_data_authorized_release`` DAG on this node's Airflow for an approved
application and the authority's own data, and (by default) waits for it: the one command an
authority needs instead of writing ``airflow dags trigger --conf`` JSON by hand. The source is
checked here first, so a malformed one never starts a run.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from dataspace.cli.application_commands import application_app
from dataspace.cli.wiring import JsonFlag, node, print_fields, print_json
from dataspace.errors import Refused

DAG_ID = "public_data_authorized_release"
WAIT_SECONDS = 1800.0


def release(
    application: Annotated[str, typer.Argument(help="The approved application, app-….")],
    *,
    connection: Annotated[
        str, typer.Option(help="Airflow connection to the authority's S3 user or database.")
    ],
    object_: Annotated[
        str | None, typer.Option("--object", help="bucket/path/file.csv or .parquet in that S3.")
    ] = None,
    table: Annotated[str | None, typer.Option(help="[schema.]table in that database.")] = None,
    query: Annotated[str | None, typer.Option(help="One SELECT in that database.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the run succeeds or fails.")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most.")] = WAIT_SECONDS,
    as_json: JsonFlag = False,
) -> None:
    """Release an approved application's public data from the authority's own store."""
    from dataspace.controlplane import applications  # noqa: PLC0415 (imported when it runs)
    from dataspace.publicdata.release import check_conf  # noqa: PLC0415
    from dataspace.stack.airflow_api import AirflowApi  # noqa: PLC0415
    from dataspace.store.types import utcnow  # noqa: PLC0415

    given = {"object": object_, "table": table, "query": query}
    source = {"connection": connection, **{k: v for k, v in given.items() if v is not None}}
    conf: dict[str, Any] = {"application": application, "source": source}
    check_conf(conf)
    with node() as here:
        applications.require_approved(here.db, application, utcnow())
        api = AirflowApi(here.settings)
    run_id = api.trigger(DAG_ID, conf)
    result: dict[str, Any] = {"dag_id": DAG_ID, "run_id": run_id, "state": "queued"}
    if wait:
        outcome = api.wait(DAG_ID, run_id, timeout)
        result |= {"state": outcome.state, "failed_tasks": list(outcome.failed)}
        if outcome.reason:
            result["reason"] = outcome.reason
    _show(result, as_json)
    if result["state"] == "failed":
        raise Refused(
            f"The release run {run_id} failed"
            + (f": {result['reason']}" if result.get("reason") else "; see its task logs.")
        )


def _show(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
    else:
        print_fields(f"Release run of {DAG_ID}", result)


def register_commands(app: typer.Typer) -> None:  # the group is application's
    application_app.command("release")(release)
