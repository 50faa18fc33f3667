"""`dataspace quality check`, `settle` and `report evaluation` as the operator runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from dataspace.config import Settings
from dataspace.operations.stores import release_store, reports_store
from tests.helpers import DATASPACE, node_environment
from tests.worlds.operations_world import publish_orders
from tests.worlds.publish_world import World, make_world, operator_node

pytestmark = pytest.mark.e2e


@pytest.fixture
def node(tmp_path: Path, stack_settings: Settings, unique: str) -> tuple[Path, World]:
    """A node's state directory with a chain leader and one published release."""
    state = tmp_path / "node"
    with operator_node(state) as space:
        world = make_world(space, stack_settings, unique)
        world.settings = world.settings.model_copy(update={"reports_bucket": f"rep-{unique}"})
        publish_orders(world, tmp_path)
    return state, world


def run(state: Path, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = node_environment(state, settings, DATASPACE_REPORTS_BUCKET=settings.reports_bucket)
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


def test_quality_check_prints_each_product_and_stores_its_report(
    node: tuple[Path, World],
) -> None:
    state, world = node

    done = run(state, world.settings, "quality", "check", "--product", world.product, "--json")

    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["products"]
    assert (result["product"], result["version"], result["status"]) == (world.product, 1, "ok")
    assert result["score"] == 100.0
    with release_store(world.settings).open_input(result["report_key"]) as source:
        assert b"quality score 100 / 100" in source.read()


def test_settle_refuses_a_bad_month_and_bad_rules_in_one_sentence(
    node: tuple[Path, World], tmp_path: Path
) -> None:
    state, world = node
    rules = tmp_path / "rules.toml"
    rules.write_text("[revenue_share.enterprise]\nprovider = 0.95\n", encoding="utf-8")

    bad_month = run(state, world.settings, "settle", "--month", "2026-13")
    bad_rules = run(state, world.settings, "settle", "--month", "2026-10", "--rules", str(rules))

    assert bad_month.returncode == 2
    assert "The month '2026-13' is not valid; write it as YYYY-MM" in bad_month.stderr
    assert bad_rules.returncode == 2
    assert "revenue_share.enterprise add up to 1.05, not 1" in bad_rules.stderr
    for done in (bad_month, bad_rules):
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    listing = reports_store(world.settings).filesystem.get_file_info(
        pafs.FileSelector(world.settings.reports_bucket, recursive=True)
    )
    assert listing == []  # nothing half-written


def test_settle_and_report_evaluation_write_their_objects(node: tuple[Path, World]) -> None:
    state, world = node

    settled = run(state, world.settings, "settle", "--month", "2026-09", "--json")
    report = run(state, world.settings, "report", "evaluation", "--as-of", "2026-11-30")

    assert settled.returncode == 0, settled.stderr
    result = json.loads(settled.stdout)
    assert (result["month"], result["already_settled"]) == ("2026-09", False)
    assert result["totals"]["deliveries"] == "0"
    assert report.returncode == 0, report.stderr
    key = "evaluation/2026-11-30/evaluation-report.html"
    assert f"Report: {world.settings.reports_bucket}/{key}" in report.stdout
    assert "X-Amz-Signature=" in report.stdout
    with reports_store(world.settings).open_input(key) as source:
        assert b"<svg" in source.read()
