"""The settlement's arithmetic on metered deliveries: who pays what, and who receives it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from dataspace.errors import Conflict
from dataspace.operations.fees import Member, settle_month
from dataspace.operations.metering import MeteredDelivery, Month
from dataspace.operations.settlement_rules import Rules, load_rules

RULES = """
[membership_fee]
chain_leader = 1000
authorized_operator = 500
supplier = 100
[service_fee]
per_delivery = 1
per_gib = 4
[price]
general = 10
important = 30
per_million_rows = 2
[revenue_share.public_data]
provider = 0.5
operator = 0.2
authority = 0.3
"""
DELIVERY = MeteredDelivery(
    delivery_id="dlv-a-v1", agreement_id="agr-a", product_id="energy", grade="important",
    category="public_data", provider_id="operator-co", subscriber_id="sme", sha256="0" * 64,
    rows=500_000, bytes=1024**3 // 2, announced_at=datetime(2026, 10, 6, tzinfo=UTC),
    flag=None, detail="",
)  # fmt: skip
MEMBERS = [Member("operator-co", ("authorized_operator",)), Member("sme", ("supplier",))]


@pytest.fixture
def rules(tmp_path: Path) -> Rules:
    path = tmp_path / "rules.toml"
    path.write_text(RULES, encoding="utf-8")
    return load_rules(path)


def test_a_public_data_delivery_is_charged_and_shared_three_ways(rules: Rules) -> None:
    result = settle_month(
        [DELIVERY], MEMBERS, rules, operator="operator", authorities=["authority"]
    )

    parties = {p.participant_id: p for p in result.parties}
    # price 30 + 2 * 0.5 = 31.00; service 1 + 4 * 0.5 = 3.00
    assert (parties["sme"].usage_charges, parties["sme"].service_fees) == (Decimal(31), Decimal(3))
    assert parties["authority"].revenue == Decimal("9.30")
    assert parties["operator-co"].revenue == Decimal("15.50")
    assert parties["operator"].revenue == Decimal(500 + 100) + Decimal(3) + Decimal("6.20")
    assert parties["sme"].net == -(Decimal(100) + Decimal(31) + Decimal(3))
    paid = sum(p.membership_fee + p.service_fees + p.usage_charges for p in result.parties)
    assert paid == sum(p.revenue for p in result.parties)  # nothing created or lost


def test_flagged_deliveries_are_metered_but_not_charged(rules: Rules) -> None:
    flagged = replace(DELIVERY, delivery_id="dlv-a-v2", flag="no_receipt")

    result = settle_month(
        [DELIVERY, flagged], [], rules, operator="operator", authorities=["authority"]
    )

    [line] = result.agreements
    assert (line.deliveries, line.reconciled, line.flagged) == (2, 1, 1)
    assert line.rows == 2 * DELIVERY.rows
    assert line.usage_charge == Decimal(31)
    assert [d.delivery_id for d in result.differences] == ["dlv-a-v2"]


def test_the_authority_share_needs_exactly_one_recipient(rules: Rules) -> None:
    with pytest.raises(Conflict, match="admitted public-data authorities are: a, b"):
        settle_month([DELIVERY], [], rules, operator="operator", authorities=["a", "b"])


def test_a_month_runs_from_its_first_day_to_the_next_month() -> None:
    assert (Month.parse("2026-12").start, Month.parse("2026-12").end) == (
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )  # fmt: skip
    assert str(Month.before(datetime(2027, 1, 1, 6, tzinfo=UTC))) == "2026-12"
