"""The three jobs as the DAGs and the CLI start them: a node in, JSON-ready results out.

Each takes what it needs from the node (buckets, rules, the 123+ configuration) and calls
the core; results are small dicts (keys, checksums, counts), never data frames, so an Airflow
task can return them through XCom.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from dataspace.node import Node
from dataspace.operations import data_spaces, evaluation, quality, settlement
from dataspace.operations.evaluation_report import render_evaluation
from dataspace.operations.metering import Month
from dataspace.operations.settlement_rules import load_rules
from dataspace.operations.stores import report_link


def quality_check(
    node: Node, *, products: Sequence[str] = (), now: datetime | None = None
) -> list[dict[str, Any]]:
    store = node.release_store()
    checks = quality.check_products(
        node.settings, node.db, node.keys, store, products=products, now=now
    )
    return [check.to_json() for check in checks]


def settle_month(
    node: Node, *, month: str, rules_path: Path | None = None, now: datetime | None = None
) -> dict[str, Any]:
    rules = load_rules(rules_path)
    store = node.reports_store()
    result = settlement.settle(node.db, node.keys, store, rules, month=Month.parse(month), now=now)
    return {**result.to_json(), "bucket": store.bucket, "rules": rules.source}


def evaluation_report(
    node: Node, *, as_of: date, spaces_path: Path | None = None
) -> dict[str, Any]:
    """The report for ``as_of``; ``spaces_path`` defaults to the node's ``data_spaces_file``."""
    spaces = data_spaces.load_data_spaces(spaces_path or node.settings.data_spaces_file)
    figures = evaluation.gather(node.db, spaces, as_of)
    store = node.reports_store()
    stored = evaluation.publish_report(store, figures, render_evaluation(figures))
    return {
        "bucket": store.bucket,
        "key": stored.key,
        "sha256": stored.sha256,
        "metrics_key": evaluation.report_prefix(as_of) + "metrics.json",
        "link": report_link(node.settings, stored.key),
        "members": figures.members,
        "deliveries": figures.deliveries,
        "spaces": figures.spaces,
    }
