"""Contract: the grade of a product decides what an agreement may grant and who must approve."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from dataspace.controlplane import agreements, negotiations
from dataspace.errors import InvalidInput, Unauthorized
from dataspace.policy.model import parse_policy, policy_to_json
from dataspace.store.models import OfferRow
from tests.fixtures.controlplane import PURPOSE, Space, aggregate_policy, use_policy

pytestmark = pytest.mark.integration


def _request(space: Space, product: str, consumer: str = "supplier-01") -> str:
    return negotiations.request(
        space.db, space.keys, consumer=consumer, product_id=product, purpose=PURPOSE
    ).agreement_id


def _accept(space: Space, agreement_id: str) -> str:
    return negotiations.accept(
        space.db, space.keys, actor="xcmg", negotiation_id=agreement_id
    ).state


def test_a_core_grade_product_cannot_offer_raw_delivery(market: Space) -> None:
    with pytest.raises(InvalidInput, match="core-grade data never leaves raw"):
        market.product("core-orders", grade="core", offers=(use_policy(),))


def test_a_core_grade_raw_agreement_is_refused_even_if_the_offer_slipped_in(
    market: Space,
) -> None:
    market.product("core-orders", grade="core", offers=(aggregate_policy(),))
    raw = policy_to_json(parse_policy(use_policy()))
    with market.db.transaction() as session:  # an offer written around the service
        session.execute(
            update(OfferRow).where(OfferRow.product_id == "core-orders").values(policy=raw)
        )
    agreement_id = _request(market, "core-orders")
    negotiations.approve(market.db, market.keys, negotiation_id=agreement_id)
    before = market.counts()

    with pytest.raises(InvalidInput, match="never leaves raw"):
        _accept(market, agreement_id)
    assert market.counts() == before
    assert agreements.show(market.db, "xcmg", agreement_id).state == "REQUESTED"


def test_core_grade_compute_to_data_is_concluded_with_approval(market: Space) -> None:
    market.product("core-orders", grade="core", offers=(aggregate_policy(),))
    agreement_id = _request(market, "core-orders")

    with pytest.raises(Unauthorized, match="needs the operator's approval"):
        _accept(market, agreement_id)
    negotiations.approve(market.db, market.keys, negotiation_id=agreement_id)

    assert _accept(market, agreement_id) == "FINALIZED"


def test_important_grade_needs_the_operators_approval(market: Space) -> None:
    market.product("important-orders", grade="important")
    agreement_id = _request(market, "important-orders")
    before = market.counts()

    with pytest.raises(Unauthorized, match="needs the operator's approval"):
        _accept(market, agreement_id)
    assert market.counts() == before

    approved = negotiations.approve(market.db, market.keys, negotiation_id=agreement_id)
    negotiations.approve(market.db, market.keys, negotiation_id=agreement_id)  # no-op
    assert approved.operator_approved is True
    assert market.actions().count("negotiation.approved") == 1
    assert _accept(market, agreement_id) == "FINALIZED"


def test_important_grade_outside_cn_needs_an_export_approval(market: Space) -> None:
    market.member("bosch-de", region="DE-BY")
    market.product("important-orders", grade="important")
    agreement_id = _request(market, "important-orders", consumer="bosch-de")
    negotiations.approve(market.db, market.keys, negotiation_id=agreement_id)

    with pytest.raises(Unauthorized, match="without an export approval"):
        _accept(market, agreement_id)
    negotiations.approve(market.db, market.keys, negotiation_id=agreement_id, export=True)

    assert _accept(market, agreement_id) == "FINALIZED"


def test_an_auto_accept_rule_waits_for_a_missing_approval(market: Space) -> None:
    market.product(
        "important-orders", grade="important", auto_accept_chains=("construction-machinery",)
    )

    view = negotiations.request(
        market.db, market.keys, consumer="supplier-01", product_id="important-orders",
        purpose=PURPOSE,
    )  # fmt: skip

    assert view.state == "REQUESTED"
