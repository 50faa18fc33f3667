"""The evaluation report on the real stack and both databases: the plan's yardsticks from the
control plane, the 123+ view from configuration, an HTML report with charts behind a link."""

from __future__ import annotations

import json
import urllib.request
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from dataspace.config import Settings
from dataspace.node import Node
from dataspace.operations.jobs import evaluation_report
from dataspace.operations.stores import reports_store
from tests.fixtures.controlplane import Space
from tests.worlds.settlement_world import Trade, october_trade

pytestmark = pytest.mark.integration

SPACES = """
target_year = 2028
[targets]
benchmark = 10
provincial_sample = 20
regional = 30
[[space]]
id = "machinery"
name = "工程机械产业链数据空间"
tier = "provincial_sample"
city = "徐州"
chain = "construction-machinery"
since = 2025
[[space]]
id = "nev"
name = "新能源汽车产业链数据空间"
tier = "benchmark"
city = "常州"
chain = "new-energy-vehicles"
since = 2026
[[space]]
id = "textiles"
name = "纺织服装产业链数据空间"
tier = "regional"
city = "南通"
chain = "textiles"
since = 2027
"""


@pytest.fixture
def trade(space: Space, stack_settings: Settings, unique: str, tmp_path: Path) -> Trade:
    """Four members and three agreements in October; v1, v2 in October, v3 in November."""
    trade = october_trade(space, stack_settings, unique)
    for version in (1, 2, 3):
        trade.publish(version, tmp_path)
    return trade


@pytest.fixture
def spaces(tmp_path: Path) -> Path:
    path = tmp_path / "spaces.toml"
    path.write_text(SPACES, encoding="utf-8")
    return path


def stored(trade: Trade, key: str) -> bytes:
    with reports_store(trade.settings).open_input(key) as source:
        return bytes(source.read())


def test_the_report_counts_participants_circulation_and_activity(
    trade: Trade, spaces: Path
) -> None:
    with closing(Node(trade.settings, trade.space.db, trade.space.keys)) as node:
        result = evaluation_report(node, as_of=date(2026, 11, 30), spaces_path=spaces)

    assert result["key"] == "evaluation/2026-11-30/evaluation-report.html"
    figures = json.loads(stored(trade, result["metrics_key"]))
    assert (figures["members"], figures["by_role"]) == (4, {"supplier": 3, "chain_leader": 1})
    assert figures["by_chain"] == {"construction-machinery": 4}
    assert (figures["agreements"], figures["agreements_in_force"]) == (3, 3)
    months = {m["month"]: m for m in figures["months"]}
    assert len(months) == 12
    assert min(months) == "2025-12"
    october, november = months["2026-10"], months["2026-11"]
    assert (october["deliveries"], october["active_subscribers"]) == (6, 3)
    assert (october["new_members"], october["new_products"], october["new_agreements"]) == (4, 1, 3)
    assert (november["deliveries"], november["new_members"]) == (3, 0)
    assert figures["deliveries"] == 9
    assert figures["rows"] == sum(m["rows"] for m in figures["months"])
    # 123+: the textiles space is recognised only in 2027
    assert figures["spaces"] == {"benchmark": 1, "provincial_sample": 1, "regional": 0}

    page = stored(trade, result["key"]).decode()
    assert page.count("<svg") >= 8
    assert "全国标杆" in page
    assert "Active subscribers per month" in page
    with urllib.request.urlopen(result["link"], timeout=10) as response:  # the presigned link
        assert response.read().decode() == page


def test_a_day_sees_only_what_was_recorded_by_its_end(trade: Trade, spaces: Path) -> None:
    with closing(Node(trade.settings, trade.space.db, trade.space.keys)) as node:
        result = evaluation_report(node, as_of=date(2026, 10, 31), spaces_path=spaces)

    figures = json.loads(stored(trade, result["metrics_key"]))
    assert figures["deliveries"] == 6
    assert figures["months"][-1]["month"] == "2026-10"
