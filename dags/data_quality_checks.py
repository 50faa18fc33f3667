"""Daily quality check of every data product in the catalog.

Re-validates each product's newest release from the object store against its expectation
suite, checks its freshness against its cadence, stores an HTML report next to the release,
records the score in the catalog and raises signed QualityAlert events for failing or stale
products, then sends them from the outbox. Steps: ``dataspace/operations/quality.py``.
Each product is checked by a task of its own (mapped), since the gate is CPU-bound. A failing
product does not fail the run: it is what the run reports; a product that cannot be checked
(its object is gone, the store is down) fails its task, and the others' alerts still go out.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

DEFAULT_ARGS = {"owner": "data-space-operator", "retries": 2, "retry_delay": timedelta(minutes=5)}
log = logging.getLogger(__name__)


@dag(
    dag_id="data_quality_checks",
    description="Re-validate the newest release of every product, check freshness, alert.",
    schedule="@daily",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["dataspace", "quality", "operator"],
    default_args=DEFAULT_ARGS,
    params={"products": Param([], type="array", items={"type": "string"})},
)
def data_quality_checks() -> None:
    @task
    def list_products() -> list[str]:
        from dataspace.controlplane import catalog  # noqa: PLC0415 (imported when the task runs)
        from dataspace.node import open_node  # noqa: PLC0415

        named = list(get_current_context()["params"]["products"])
        if named:
            return named
        with open_node() as node:
            return [view.product_id for view in catalog.list_products(node.db)]

    @task
    def check_product(product: str) -> dict[str, Any]:
        """One product per mapped task: the gate is CPU-bound (benchmarks/quality_check.py)."""
        from dataspace.node import open_node  # noqa: PLC0415
        from dataspace.operations import jobs  # noqa: PLC0415
        from dataspace.orchestration import final_refusals  # noqa: PLC0415

        with final_refusals(), open_node() as node:
            [result] = jobs.quality_check(node, products=[product])
        log.info(
            "product %s v%s: %s, score %s, report %s",
            result["product"], result["version"], result["status"], result["score"],
            result["report_key"],
        )  # fmt: skip
        return result

    @task(trigger_rule="all_done")  # one product that could not be checked holds back no alert
    def send_alerts(products: list[str], results: list[dict[str, Any]]) -> dict[str, Any]:
        from dataspace.node import open_node  # noqa: PLC0415 (imported when the task runs)

        with open_node() as node:
            flushed = node.flush_outbox()
        checked = [result for result in results if result]
        if flushed.error:
            log.warning("%s events wait in the outbox: %s", flushed.pending, flushed.error)
        if len(checked) < len(products):
            from airflow.sdk.exceptions import AirflowFailException  # noqa: PLC0415

            raise AirflowFailException(
                f"{len(products) - len(checked)} of {len(products)} products could not be "
                "checked; see the failed check_product tasks."
            )
        alerts = sum(len(result["alerts"]) for result in checked)
        return {"alerts": alerts, "sent": flushed.sent, "pending": flushed.pending}

    products = list_products()
    # TaskFlow passes XComArgs where send_alerts takes values (Airflow's annotations do not).
    send_alerts(products, check_product.expand(product=products))  # type: ignore[arg-type]


data_quality_checks()
