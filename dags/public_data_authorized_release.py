"""公共数据授权运营: release desensitized public data to the operators licensed for it.

Trigger it with the approved scenario application it serves (``{"application": "app-…"}``).
The steps live in ``dataspace/publicdata/release.py``; each leaves a signed ledger entry, and a
refusal (application not approved, k-anonymity violated, an unlicensed agreement, a failed
expectation suite) fails the run at once, without retries, with the reason in the task log
and in the ledger (``public_release.stopped``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

DEFAULT_ARGS = {"owner": "public-data-authority", "retries": 2, "retry_delay": timedelta(minutes=1)}


@contextmanager
def _node() -> Iterator[Any]:
    """This task's node (settings, control plane, key store), closed when the step is done."""
    from dataspace.node import open_node  # noqa: PLC0415 (imported when the task runs)

    with open_node() as node:
        yield node


def _staging(node: Any, plan: dict[str, Any]) -> Path:
    from dataspace.publicdata.release import staging_dir  # noqa: PLC0415

    run_id = str(get_current_context()["run_id"])
    return staging_dir(node, plan["application"], run_id)


@dag(
    dag_id="public_data_authorized_release",
    description="Ingest, desensitize, validate and release public data to licensed operators.",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["dataspace", "public-data", "release"],
    default_args=DEFAULT_ARGS,
    params={
        "application": Param(type="string", pattern="^app-[0-9a-f]{16}$"),
        "enterprises": Param(None, type=["null", "integer"], minimum=1),
    },
)
def public_data_authorized_release() -> None:
    @task
    def authorize() -> dict[str, Any]:
        from dataspace.orchestration import final_refusals  # noqa: PLC0415
        from dataspace.publicdata import release as public_release  # noqa: PLC0415

        application = str(get_current_context()["params"]["application"])
        with final_refusals(), _node() as node:
            return public_release.authorize(node, application)

    @task
    def ingest(plan: dict[str, Any]) -> str:
        from dataspace.orchestration import final_refusals  # noqa: PLC0415
        from dataspace.publicdata import release as public_release  # noqa: PLC0415

        enterprises = get_current_context()["params"]["enterprises"]
        with final_refusals(), _node() as node:
            target = _staging(node, plan) / "source.parquet"
            return public_release.ingest(node, plan, target, enterprises)

    @task
    def desensitize(plan: dict[str, Any], source: str) -> str:
        from dataspace.orchestration import final_refusals  # noqa: PLC0415
        from dataspace.publicdata import release as public_release  # noqa: PLC0415

        with final_refusals(), _node() as node:
            target = _staging(node, plan) / "desensitized.parquet"
            return public_release.desensitize(node, plan, Path(source), target)

    @task
    def check_licences(plan: dict[str, Any]) -> list[str]:
        from dataspace.orchestration import final_refusals  # noqa: PLC0415
        from dataspace.publicdata import release as public_release  # noqa: PLC0415

        with final_refusals(), _node() as node:
            return public_release.check_licences(node, plan)

    @task
    def validate_and_release(
        plan: dict[str, Any], desensitized: str, licensed: list[str]
    ) -> dict[str, Any]:
        from dataspace.orchestration import final_refusals  # noqa: PLC0415
        from dataspace.publicdata import release as public_release  # noqa: PLC0415

        with final_refusals(), _node() as node:
            return public_release.release(node, plan, Path(desensitized))

    # TaskFlow passes XComArgs where the task functions take their values; Airflow's
    # annotations do not say so, hence the ignores on the wiring lines only.
    plan = authorize()
    desensitized = desensitize(plan, ingest(plan))  # type: ignore[arg-type]
    validate_and_release(plan, desensitized, check_licences(plan))  # type: ignore[arg-type]


public_data_authorized_release()
