"""公共数据授权运营: release desensitized public data to the operators licensed for it.

Trigger it with the approved scenario application it serves and the authority's own data:
``{"application": "app-…", "source": {"connection": "js_bureau_s3", "object":
"bucket/energy-2025.csv"}}`` (or ``"table"``/``"query"`` with a database connection);
``dataspace application release`` does this for you. Any other key is refused. The steps live
in ``dataspace/publicdata/release.py``; each leaves a signed ledger entry, and a refusal
(application not approved, a malformed source, k-anonymity violated, an unlicensed agreement,
a failed expectation suite) fails the run at once, without retries, with the reason in the task
log and in the ledger (``public_release.stopped``). The last task removes the run's staging
whatever happened before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task, teardown

DEFAULT_ARGS = {"owner": "public-data-authority", "retries": 2, "retry_delay": timedelta(minutes=1)}


@contextmanager
def _node() -> Iterator[Any]:
    """This task's node (settings, control plane, key store), closed when the step is done."""
    from dataspace.node import open_node  # noqa: PLC0415 (imported when the task runs)

    with open_node() as node:
        yield node


def _run_directory(node: Any, plan: dict[str, Any]) -> Path:
    from dataspace.publicdata.staging import run_directory  # noqa: PLC0415

    run_id = str(get_current_context()["run_id"])
    return run_directory(node.settings.state_dir, plan["application"], run_id)


def _conf() -> dict[str, Any]:
    run = get_current_context()["dag_run"]
    return dict(run.conf or {}) if run is not None else {}


@dag(
    dag_id="public_data_authorized_release",
    description="Ingest the authority's data, desensitize, validate, release to licensees.",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["dataspace", "public-data", "release"],
    default_args=DEFAULT_ARGS,
    params={
        "application": Param(type="string", pattern="^app-[0-9a-f]{16}$"),
        "source": Param(None, type=["null", "object"]),
    },
)
def public_data_authorized_release() -> None:
    @task
    def authorize() -> dict[str, Any]:
        from dataspace.orchestration import final_refusals  # noqa: PLC0415
        from dataspace.publicdata import release as public_release  # noqa: PLC0415
        from dataspace.publicdata.staging import sweep  # noqa: PLC0415

        conf = {"application": get_current_context()["params"]["application"], **_conf()}
        with final_refusals(), _node() as node:
            public_release.check_conf(conf)
            plan = public_release.authorize(node, str(conf["application"]))
            sweep(node.settings.state_dir, keep=_run_directory(node, plan))
            return plan

    @task
    def ingest_and_desensitize(plan: dict[str, Any]) -> dict[str, Any]:
        from dataspace.orchestration import final_refusals  # noqa: PLC0415
        from dataspace.publicdata import release as public_release  # noqa: PLC0415
        from dataspace.publicdata.airflow_source import connection_of  # noqa: PLC0415

        with final_refusals(), _node() as node:
            request = public_release.check_conf(_conf())
            connection = connection_of(request.connection)
            directory = _run_directory(node, plan)
            return public_release.ingest_and_desensitize(node, plan, request, connection, directory)

    @task
    def check_licences(plan: dict[str, Any]) -> list[str]:
        from dataspace.orchestration import final_refusals  # noqa: PLC0415
        from dataspace.publicdata import release as public_release  # noqa: PLC0415

        with final_refusals(), _node() as node:
            return public_release.check_licences(node, plan)

    @task
    def validate_and_release(
        plan: dict[str, Any], authorized: dict[str, Any], licensed: list[str]
    ) -> dict[str, Any]:
        from dataspace.orchestration import final_refusals  # noqa: PLC0415
        from dataspace.publicdata import release as public_release  # noqa: PLC0415

        with final_refusals(), _node() as node:
            return public_release.release(node, plan, authorized)

    # A teardown runs however the tasks before it ended, and does not decide the run's state.
    @teardown
    def remove_staging() -> None:
        from dataspace.config import load_settings  # noqa: PLC0415
        from dataspace.publicdata.staging import remove_run  # noqa: PLC0415

        context = get_current_context()
        application = str(context["params"]["application"])
        remove_run(load_settings().state_dir, application, str(context["run_id"]))

    # TaskFlow passes XComArgs where the task functions take their values; Airflow's
    # annotations do not say so, hence the ignores on the wiring lines only.
    plan = authorize()
    authorized = ingest_and_desensitize(plan)  # type: ignore[arg-type]
    released = validate_and_release(plan, authorized, check_licences(plan))  # type: ignore[arg-type]
    released >> remove_staging()


public_data_authorized_release()
