"""Monthly settlement of the data space (会员费、服务费、收益分成).

On the 1st of each month (after the receipt grace period, see the rules) it settles the month
before: meters deliveries, rows and bytes per agreement from the ledger, reconciles them with
the subscribers' receipts, bills membership and service fees and shares revenue between
provider, operator and public-data authority, writes the statements as Parquet and CSV to the
reports bucket and seals their SHA-256 in a ledger entry. Re-running a month changes nothing.
Steps: ``dataspace/operations/settlement.py``; rules: ``dataspace/operations/settlement_rules.py``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

DEFAULT_ARGS = {"owner": "data-space-operator", "retries": 1, "retry_delay": timedelta(minutes=10)}
log = logging.getLogger(__name__)


@dag(
    dag_id="settlement",
    description="Meter, reconcile and bill a month; statements to S3; sealed in the ledger.",
    schedule="0 6 7 * *",  # the 7th: after the default 5-day receipt grace of the month before
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    tags=["dataspace", "settlement", "operator"],
    default_args=DEFAULT_ARGS,
    params={
        "month": Param(None, type=["null", "string"], pattern="^[0-9]{4}-[0-9]{2}$"),
        "rules": Param(None, type=["null", "string"]),
    },
)
def settlement() -> None:
    @task
    def settle_month() -> dict[str, Any]:
        from dataspace.node import open_node  # noqa: PLC0415 (imported when the task runs)
        from dataspace.operations import jobs  # noqa: PLC0415
        from dataspace.orchestration import final_refusals, scheduled_month  # noqa: PLC0415

        context = get_current_context()
        params = context["params"]
        rules = Path(params["rules"]) if params["rules"] else None
        with final_refusals(), open_node() as node:
            # A month the user names is settled whatever it is; the scheduler's only if the
            # node existed before it ended (otherwise the task is skipped).
            month = params["month"] or scheduled_month(node.db, context["logical_date"])
            result = jobs.settle_month(node, month=month, rules_path=rules)
        log.info(
            "settled %s: ledger entry %s, statements %s in bucket %s",
            result["month"], result["ledger_sequence"], result["statements_sha256"],
            result["bucket"],
        )  # fmt: skip
        for difference in result["differences"]:
            log.warning("withheld %s: %s", difference["delivery"], difference["kind"])
        return result

    settle_month()


settlement()
