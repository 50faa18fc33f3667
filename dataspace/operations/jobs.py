"""The three jobs as the DAGs and the CLI start them: settings in, JSON-ready results out.

Each opens what it needs from ``Settings`` (buckets, rules, the 123+ configuration) and calls
the core; results are small dicts (keys, checksums, counts), never data frames, so an Airflow
task can return them through XCom.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from dataspace.config import Settings
from dataspace.controlplane.keystore import KeyStore
from dataspace.operations import data_spaces, evaluation, quality, settlement
from dataspace.operations.evaluation_report import render_evaluation
from dataspace.operations.metering import Month
from dataspace.operations.settlement_rules import load_rules
from dataspace.operations.stores import release_store, report_link, reports_store
from dataspace.store.db import Database


def quality_check(
    settings: Settings,
    db: Database,
    keys: KeyStore,
    *,
    products: Sequence[str] = (),
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    store = release_store(settings)
    checks = quality.check_products(settings, db, keys, store, products=products, now=now)
    return [check.to_json() for check in checks]


def settle_month(
    settings: Settings,
    db: Database,
    keys: KeyStore,
    *,
    month: str,
    rules_path: Path | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    rules = load_rules(rules_path)
    store = reports_store(settings)
    result = settlement.settle(db, keys, store, rules, month=Month.parse(month), now=now)
    return {**result.to_json(), "bucket": store.bucket, "rules": rules.source}


def evaluation_report(
    settings: Settings,
    db: Database,
    *,
    as_of: date,
    spaces_path: Path = data_spaces.DEFAULT_PATH,
) -> dict[str, Any]:
    spaces = data_spaces.load_data_spaces(spaces_path)
    figures = evaluation.gather(db, spaces, as_of)
    store = reports_store(settings)
    stored = evaluation.publish_report(store, figures, render_evaluation(figures))
    return {
        "bucket": store.bucket,
        "key": stored.key,
        "sha256": stored.sha256,
        "metrics_key": evaluation.report_prefix(as_of) + "metrics.json",
        "link": report_link(settings, stored.key),
        "members": figures.members,
        "deliveries": figures.deliveries,
        "spaces": figures.spaces,
    }
