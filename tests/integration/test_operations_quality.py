"""The scheduled quality check on the real stack and both databases: it re-validates the stored
release, checks freshness, stores its HTML report next to the release, records the score in
the catalog and the evidence in the ledger, and raises signed alerts when something is wrong."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dataspace import demo_data
from dataspace.config import Settings
from dataspace.controlplane import catalog, ledger
from dataspace.operations.quality import ProductCheck, check_products
from dataspace.operations.stores import release_store
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.worlds.operations_world import (
    ORDERS,
    outbox_events,
    overwrite,
    publish_orders,
    read_text,
)
from tests.worlds.publish_world import LEADER, World, make_world

pytestmark = pytest.mark.integration


@pytest.fixture
def world(space: Space, stack_settings: Settings, unique: str) -> World:
    return make_world(space, stack_settings, unique)


def check(world: World, now: datetime | None = None) -> list[ProductCheck]:
    store = release_store(world.settings)
    return check_products(
        world.settings, world.db, world.space.keys, store, products=[world.product], now=now
    )


def test_a_sound_fresh_release_scores_100_with_its_report_and_no_alert(
    world: World, tmp_path: Path
) -> None:
    published = publish_orders(world, tmp_path)

    [result] = check(world)

    assert (result.status, result.score, result.alerts) == ("ok", 100.0, ())
    assert result.release is not None
    assert (result.release.version, result.release.rows) == (1, ORDERS.num_rows)
    assert result.report_key == f"{world.product}/1/quality-check-{utcnow().date()}.html"
    report = read_text(release_store(world.settings), result.report_key)
    assert "quality score 100 / 100" in report
    assert "expect_column_values_to_be_between" in report
    assert published.sha256 in report
    shown = catalog.show_product(world.db, world.product)
    assert (shown.quality_score, shown.quality_report_key) == (100.0, result.report_key)
    assert shown.quality_checked_at is not None
    [dataset] = catalog.export_dcat(world.db)["dcat:dataset"]
    assert dataset["dqv:hasQualityMeasurement"]["dqv:value"]["@value"] == "100"
    assert world.space.actions()[-1] == "quality.checked"
    assert outbox_events(world, "QualityAlert") == []


def test_a_release_altered_in_the_store_fails_and_raises_critical_alerts(
    world: World, tmp_path: Path
) -> None:
    publish_orders(world, tmp_path)
    store = release_store(world.settings)
    overwrite(store, f"{world.product}/1/part-0.parquet", demo_data.spoiled(ORDERS, "quantity"))

    [result] = check(world)

    assert result.status == "failing"
    assert {alert.check for alert in result.alerts} == {"object_integrity", "expectation_suite"}
    assert result.release is not None
    assert not result.release.intact
    # 6 expectations (one fails) + integrity (fails) + freshness (met): 6 of 8
    assert result.score == 75.0
    assert "suite FAILED" in read_text(store, result.report_key)
    assert catalog.show_product(world.db, world.product).quality_score == 75.0
    alerts = outbox_events(world, "QualityAlert")
    assert sorted(event.body["check"] for event in alerts) == [
        "expectation_suite",
        "object_integrity",
    ]
    for event in alerts:
        assert (event.actor, event.body["provider_id"]) == ("operator", LEADER)
        assert (event.body["product_id"], event.body["version"]) == (world.product, 1)
        assert event.body["severity"] == "critical"
    assert world.space.actions()[-3:] == ["quality.checked", "quality.alerted", "quality.alerted"]
    assert ledger.verify(world.db).ok


def test_a_release_older_than_its_cadence_allows_is_stale_with_a_warning(
    world: World, tmp_path: Path
) -> None:
    publish_orders(world, tmp_path)

    [result] = check(world, now=utcnow() + timedelta(days=12))  # weekly: stale after 10.5 days

    assert result.status == "stale"
    [alert] = result.alerts
    assert (alert.severity, alert.check, alert.threshold) == ("warning", "freshness", 252.0)
    assert alert.observed is not None
    assert 12 * 24 - 1 < alert.observed <= 12 * 24
    assert result.score == 87.5  # 6 expectations + integrity of 8 checks
    [event] = outbox_events(world, "QualityAlert")
    assert (event.body["check"], event.body["observed_value"]) == ("freshness", alert.observed)
    assert "STALE" in read_text(release_store(world.settings), result.report_key)


def test_a_product_without_a_release_has_no_score_until_it_is_due(world: World) -> None:
    [result] = check(world)

    assert (result.status, result.score, result.release) == ("ok", None, None)
    assert result.report_key == f"{world.product}/quality-check-{utcnow().date()}.html"
    assert "no accepted release" in read_text(release_store(world.settings), result.report_key)
