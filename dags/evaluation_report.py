"""The evaluation report of the data space (接入主体数量、流通交易规模、生态活跃度, “123+”).

Monthly, it writes an HTML report with charts to the reports bucket
(``evaluation/<day>/evaluation-report.html``, figures in ``metrics.json``) and logs its key
and a presigned link valid for seven days. The 123+ view comes from ``config/data_spaces.toml``
(or the file in the ``spaces`` parameter). Steps: ``dataspace/operations/evaluation.py``.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

DEFAULT_ARGS = {"owner": "data-space-operator", "retries": 2, "retry_delay": timedelta(minutes=5)}
log = logging.getLogger(__name__)


@dag(
    dag_id="evaluation_report",
    description="Participants, circulation, activity and the 123+ view, as an HTML report.",
    schedule="0 7 1 * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["dataspace", "evaluation", "report", "operator"],
    default_args=DEFAULT_ARGS,
    params={
        "as_of": Param(None, type=["null", "string"], format="date"),
        "spaces": Param(None, type=["null", "string"]),
    },
)
def evaluation_report() -> None:
    @task
    def write_report() -> dict[str, Any]:
        from dataspace.node import open_node  # noqa: PLC0415 (imported when the task runs)
        from dataspace.operations import jobs  # noqa: PLC0415
        from dataspace.orchestration import final_refusals, scheduled_day  # noqa: PLC0415

        context = get_current_context()
        params = context["params"]
        spaces = Path(params["spaces"]) if params["spaces"] else None
        with final_refusals(), open_node() as node:
            # A day the user names is reported whatever it is; the scheduler's (the day before
            # the run) only if the node existed before it ended (otherwise the task is skipped).
            as_of = (
                date.fromisoformat(params["as_of"])
                if params["as_of"]
                else scheduled_day(node.db, context["logical_date"])
            )
            result = jobs.evaluation_report(node, as_of=as_of, spaces_path=spaces)
        log.info("evaluation report: %s/%s", result["bucket"], result["key"])
        log.info("link (valid 7 days): %s", result["link"])
        return result

    write_report()


evaluation_report()
