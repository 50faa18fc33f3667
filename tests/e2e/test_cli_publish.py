"""`dataspace publish` and `dataspace relay` as a provider runs them, against the real stack."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from dataspace import demo_data
from dataspace.config import Settings
from tests.helpers import DATASPACE, node_environment
from tests.worlds.publish_world import World, make_world, operator_node

pytestmark = pytest.mark.e2e


@pytest.fixture
def node(tmp_path: Path, stack_settings: Settings, unique: str) -> tuple[Path, World]:
    """A node's state directory with a chain leader, suppliers and two agreements."""
    state = tmp_path / "node"
    with operator_node(state) as space:
        world = make_world(space, stack_settings, unique)
        world.agree("supplier-01", 1)
        world.agree("supplier-02", 2)
    return state, world


def run(state: Path, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = node_environment(state, settings)
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


def test_publish_prints_a_summary_and_bad_input_is_one_line(
    node: tuple[Path, World], tmp_path: Path
) -> None:
    state, world = node
    source = demo_data.write_csv(demo_data.purchase_orders(0), tmp_path / "orders.csv")

    done = run(state, world.settings, "publish", "--product", world.product, "--as", "xcmg",
               str(source), "--json")  # fmt: skip

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["status"], summary["version"], summary["rows"]) == ("accepted", 1, 65)
    assert sorted(d["subscriber"] for d in summary["deliveries"]) == ["supplier-01", "supplier-02"]
    assert summary["events_pending"] == 0

    table = run(state, world.settings, "publish", "--product", world.product, "--as", "xcmg",
                str(source))  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "v2" in table.stdout
    assert "supplier-02" in table.stdout
    assert "0 pending" in table.stdout

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("week,supplier_id,part_no,quantity\n2026-W02,supplier-01,X,3\n")
    bad = run(state, world.settings, "publish", "--product", world.product, "--as", "xcmg",
              str(wrong))  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0
    assert "missing column unit_price_cny" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


def test_relay_once_reports_what_it_sent(node: tuple[Path, World]) -> None:
    state, world = node
    relayed = run(state, world.settings, "relay", "--once")

    assert relayed.returncode == 0, relayed.stderr
    assert "sent AgreementConcluded for supplier-01" in relayed.stdout
    assert "0 failed, 0 pending" in relayed.stdout
