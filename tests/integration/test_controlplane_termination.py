"""Contract: revocation, expiry and exhausted delivery counts end an agreement with a reason."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dataspace.controlplane import agreements, negotiations, participants
from dataspace.errors import Conflict, Unauthorized
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import PURPOSE, Space

pytestmark = pytest.mark.integration


def _agreement(market: Space, **terms: object) -> str:
    agreement_id = negotiations.request(
        market.db, market.keys, consumer="supplier-01", product_id="purchase-orders",
        purpose=PURPOSE, **terms,  # type: ignore[arg-type]
    ).agreement_id  # fmt: skip
    negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)
    return agreement_id


def test_the_provider_revokes_and_repeating_it_records_nothing(market: Space) -> None:
    agreement_id = _agreement(market)
    before = market.counts()

    revoked = agreements.revoke(market.db, market.keys, actor="xcmg", agreement_id=agreement_id)
    agreements.revoke(market.db, market.keys, actor="operator", agreement_id=agreement_id)

    assert (revoked.state, revoked.reason) == ("TERMINATED", "revoked")
    assert market.counts() == (before[0] + 1, before[1] + 1)
    assert market.topics()[-1] == (
        "dataspace.to.supplier-01.agreements.terminated.v1",
        "supplier-01",
    )
    with pytest.raises(Conflict, match="has ended \\(revoked\\)"):
        agreements.require_in_force(market.db, market.keys, agreement_id)


def test_the_operator_revokes_but_the_consumer_cannot(market: Space) -> None:
    agreement_id = _agreement(market)

    with pytest.raises(Unauthorized, match="Only the provider"):
        agreements.revoke(market.db, market.keys, actor="supplier-01", agreement_id=agreement_id)
    revoked = agreements.revoke(market.db, market.keys, actor="operator", agreement_id=agreement_id)

    assert revoked.reason == "revoked"


def test_an_expired_agreement_reads_terminated_and_ends_at_its_next_use(market: Space) -> None:
    now = utcnow()
    agreement_id = _agreement(market, valid_until=now + timedelta(days=1))
    later = now + timedelta(days=2)
    before = market.counts()

    seen = agreements.show(market.db, "supplier-01", agreement_id, now=later)
    assert (seen.state, seen.recorded_state, seen.reason) == ("TERMINATED", "FINALIZED", "expired")
    assert market.counts() == before  # reading records nothing
    with pytest.raises(Conflict, match="has ended \\(expired\\)"):
        agreements.require_in_force(market.db, market.keys, agreement_id, now=later)
    with pytest.raises(Conflict, match="expired"):
        agreements.require_in_force(market.db, market.keys, agreement_id, now=later)

    assert market.counts() == (before[0] + 1, before[1] + 1)
    assert market.actions()[-1] == "agreement.terminated"


def test_an_exhausted_agreement_ends(market: Space) -> None:
    agreement_id = _agreement(market, max_deliveries=2)

    agreements.record_delivery(market.db, market.keys, agreement_id)
    counted = agreements.record_delivery(market.db, market.keys, agreement_id)
    assert (counted.deliveries_made, counted.state, counted.reason) == (
        2,
        "TERMINATED",
        "exhausted",
    )
    with pytest.raises(Conflict, match="exhausted"):
        agreements.record_delivery(market.db, market.keys, agreement_id)

    final = agreements.show(market.db, "xcmg", agreement_id)
    assert (final.recorded_state, final.deliveries_made) == ("TERMINATED", 2)


def test_the_sweep_records_every_due_termination_once(market: Space) -> None:
    now = utcnow()
    short = _agreement(market, valid_until=now + timedelta(hours=1))
    market.product("demand-forecasts", schema="demand_forecasts")
    long = negotiations.request(
        market.db, market.keys, consumer="supplier-01", product_id="demand-forecasts",
        purpose=PURPOSE,
    ).agreement_id  # fmt: skip
    negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=long)

    assert agreements.terminate_due(market.db, market.keys, now=now + timedelta(hours=2)) == [short]
    assert agreements.terminate_due(market.db, market.keys, now=now + timedelta(hours=2)) == []


def test_a_suspended_consumer_is_not_delivered_to_until_reinstated(market: Space) -> None:
    agreement_id = _agreement(market)
    participants.suspend(market.db, market.keys, "supplier-01")

    with pytest.raises(Unauthorized, match="cannot receive deliveries"):
        agreements.require_in_force(market.db, market.keys, agreement_id)
    participants.reinstate(market.db, market.keys, "supplier-01")

    assert agreements.require_in_force(market.db, market.keys, agreement_id).state == "FINALIZED"
