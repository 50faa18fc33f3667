"""Contract: negotiation from request to a finalized agreement signed by both parties."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dataspace.contracts.agreement import agreement_from_json, verify_agreement
from dataspace.controlplane import agreements, ledger, negotiations, participants, signing
from dataspace.controlplane.acting import acting
from dataspace.errors import Conflict, NotFound, Unauthorized
from dataspace.identity.acts import mint_act, recorded_act
from dataspace.identity.keys import b64url_decode, load_private_key
from dataspace.policy.model import parse_policy
from dataspace.store.models import LedgerEntryRow
from tests.fixtures.controlplane import ARTIFACTS, CHAIN, PURPOSE, Space, use_policy

pytestmark = pytest.mark.integration


def _request(market: Space, consumer: str = "supplier-01", **kwargs: object) -> str:
    view = negotiations.request(
        market.db,
        market.keys,
        consumer=consumer,
        product_id="purchase-orders",
        purpose=PURPOSE,
        **kwargs,  # type: ignore[arg-type]
    )
    return view.agreement_id


def test_request_then_accept_finalizes_an_agreement_both_parties_signed(market: Space) -> None:
    agreement_id = _request(market)

    view = negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)

    assert view.state == "FINALIZED"
    assert [step["state"] for step in view.history] == [
        "REQUESTED",
        "AGREED",
        "VERIFIED",
        "FINALIZED",
    ]
    assert view.document is not None
    document = agreement_from_json(view.document)
    provider = participants.show_participant(market.db, "xcmg")
    consumer = participants.show_participant(market.db, "supplier-01")
    assert (document.provider.uscc, document.consumer.uscc) == (provider.uscc, consumer.uscc)
    verify_agreement(
        document,
        b64url_decode(view.provider_signature or ""),
        b64url_decode(view.consumer_signature or ""),
        provider.public_key,
        consumer.public_key,
    )
    assert market.actions()[-4:] == [
        "negotiation.requested",
        "negotiation.agreed",
        "negotiation.verified",
        "agreement.finalized",
    ]


def test_every_step_is_idempotent(market: Space) -> None:
    agreement_id = _request(market)
    assert _request(market) == agreement_id  # an open request is returned, not repeated
    negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)
    after = market.counts()

    negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)
    negotiations.accept(market.db, market.keys, actor="supplier-01", negotiation_id=agreement_id)
    signing.agree(market.db, market.keys, provider="xcmg", negotiation_id=agreement_id)
    signing.verify(market.db, market.keys, consumer="supplier-01", negotiation_id=agreement_id)
    signing.finalize(market.db, market.keys, provider="xcmg", negotiation_id=agreement_id)

    assert market.counts() == after


def test_counter_offer_accepted_by_the_consumer_becomes_the_agreement(market: Space) -> None:
    agreement_id = _request(market)
    narrower = parse_policy(
        use_policy("urn:policy:po-narrower", prohibition=[{"action": "distribute"}])
    )

    offered = negotiations.counter(
        market.db, market.keys, provider="xcmg", negotiation_id=agreement_id,
        policy=narrower, artifacts=ARTIFACTS,
    )  # fmt: skip
    accepted = negotiations.accept(
        market.db, market.keys, actor="supplier-01", negotiation_id=agreement_id
    )
    final = negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)

    assert offered.state == "OFFERED"
    assert accepted.state == "ACCEPTED"
    assert final.state == "FINALIZED"
    assert final.document is not None
    assert final.document["policy"]["uid"] == "urn:policy:po-narrower"
    assert "negotiation.offered" in market.actions()
    assert "negotiation.accepted" in market.actions()


def test_the_consumer_counters_a_counter_offer_and_its_terms_become_the_agreement(
    market: Space,
) -> None:
    agreement_id = _request(market)
    narrower = parse_policy(
        use_policy("urn:policy:po-narrower", prohibition=[{"action": "distribute"}])
    )
    own_terms = parse_policy(use_policy("urn:policy:po-consumer"))
    with pytest.raises(Conflict, match="answers a counter-offer"):  # nothing offered yet
        negotiations.counter_request(
            market.db, market.keys, consumer="supplier-01", negotiation_id=agreement_id,
            policy=own_terms, artifacts=ARTIFACTS,
        )  # fmt: skip
    negotiations.counter(
        market.db, market.keys, provider="xcmg", negotiation_id=agreement_id,
        policy=narrower, artifacts=ARTIFACTS,
    )  # fmt: skip
    with pytest.raises(Unauthorized, match="Only the consumer"):
        negotiations.counter_request(
            market.db, market.keys, consumer="xcmg", negotiation_id=agreement_id,
            policy=own_terms, artifacts=ARTIFACTS,
        )  # fmt: skip
    requested = negotiations.counter_request(
        market.db, market.keys, consumer="supplier-01", negotiation_id=agreement_id,
        policy=own_terms, artifacts=ARTIFACTS,
    )  # fmt: skip
    again = negotiations.counter_request(
        market.db, market.keys, consumer="supplier-01", negotiation_id=agreement_id,
        policy=own_terms, artifacts=ARTIFACTS,
    )  # fmt: skip
    final = negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)

    assert (requested.state, again.state, final.state) == ("REQUESTED", "REQUESTED", "FINALIZED")
    assert final.document is not None
    assert final.document["policy"]["uid"] == "urn:policy:po-consumer"
    assert market.actions().count("negotiation.requested") == 2  # the repeat recorded nothing


def test_a_counter_offer_naming_an_unknown_column_is_refused(market: Space) -> None:
    agreement_id = _request(market)
    wrong = use_policy()
    wrong["permission"][0]["duty"] = [{"action": "filterRows", "column": "vendor"}]

    with pytest.raises(Exception, match="schema does not have"):
        negotiations.counter(
            market.db, market.keys, provider="xcmg", negotiation_id=agreement_id,
            policy=parse_policy(wrong), artifacts=ARTIFACTS,
        )  # fmt: skip


def test_either_party_rejects_and_the_negotiation_ends(market: Space) -> None:
    agreement_id = _request(market)
    before = market.counts()

    rejected = negotiations.reject(
        market.db, market.keys, actor="xcmg", negotiation_id=agreement_id
    )
    negotiations.reject(market.db, market.keys, actor="supplier-01", negotiation_id=agreement_id)

    assert (rejected.state, rejected.reason) == ("TERMINATED", "rejected")
    assert market.counts() == (before[0] + 1, before[1])  # nothing was agreed: not announced
    with pytest.raises(Conflict, match="start a new negotiation"):
        negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)
    assert _request(market) != agreement_id  # a new request is a new negotiation


def test_a_suspended_consumer_cannot_negotiate(market: Space) -> None:
    participants.suspend(market.db, market.keys, "supplier-01")
    before = market.counts()

    with pytest.raises(Unauthorized, match="'supplier-01' is suspended"):
        _request(market)
    assert market.counts() == before


def test_a_not_admitted_consumer_cannot_negotiate(market: Space) -> None:
    market.register("supplier-02")

    with pytest.raises(Unauthorized, match="not admitted"):
        _request(market, consumer="supplier-02")


def test_suspending_the_consumer_stops_the_conclusion(market: Space) -> None:
    agreement_id = _request(market)
    participants.suspend(market.db, market.keys, "supplier-01")

    with pytest.raises(Unauthorized, match="suspended"):
        negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)
    assert agreements.show(market.db, "xcmg", agreement_id).state == "REQUESTED"


def test_a_purpose_the_offer_does_not_grant_is_refused(market: Space) -> None:
    with pytest.raises(Unauthorized, match="grants 'supplier-01' nothing"):
        negotiations.request(
            market.db, market.keys, consumer="supplier-01", product_id="purchase-orders",
            purpose="marketing",
        )  # fmt: skip


def test_only_the_provider_agrees_and_only_parties_see_it(market: Space) -> None:
    market.member("supplier-02")
    agreement_id = _request(market)

    with pytest.raises(Unauthorized, match="Only the provider"):
        signing.agree(market.db, market.keys, provider="supplier-01", negotiation_id=agreement_id)
    with pytest.raises(NotFound, match="You have no agreement"):
        negotiations.accept(
            market.db, market.keys, actor="supplier-02", negotiation_id=agreement_id
        )


def test_a_consumer_sees_only_its_own_agreements(market: Space) -> None:
    market.member("supplier-02")
    mine = _request(market)
    theirs = _request(market, consumer="supplier-02")

    assert [v.agreement_id for v in agreements.list_agreements(market.db, "supplier-01")] == [mine]
    assert {v.agreement_id for v in agreements.list_agreements(market.db, "xcmg")} == {mine, theirs}
    assert len(agreements.list_agreements(market.db, "operator")) == 2
    with pytest.raises(NotFound):
        agreements.show(market.db, "supplier-01", theirs)


def test_auto_accept_concludes_at_once_for_members_of_the_chain(market: Space) -> None:
    market.product("auto-orders", auto_accept_chains=(CHAIN,))

    view = negotiations.request(
        market.db, market.keys, consumer="supplier-01", product_id="auto-orders", purpose=PURPOSE
    )

    assert view.state == "FINALIZED"


def test_a_remote_consumer_signature_is_accepted_and_a_wrong_one_refused(market: Space) -> None:
    agreement_id = _request(market)
    consumer_key = load_private_key(market.keys.path_of("supplier-01"))
    market.keys.path_of("supplier-01").unlink()  # the consumer signs elsewhere from now on
    agreed = negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)
    assert agreed.state == "AGREED"
    payload = signing.agreement_signing_payload(agreement_from_json(agreed.document or {}))
    wrong_key = load_private_key(market.keys.path_of("xcmg"))
    before = market.counts()

    # The consumer's key is elsewhere: its own signed request must be in hand (as the hub's
    # API puts it), and the ledger keeps that request as the consumer's proof.
    body = b'{"signature":"..."}'
    token = mint_act("supplier-01", consumer_key, "POST", f"/agreements/{agreement_id}/sign", body)
    act = recorded_act(token, consumer_key.public_key_b64)
    with pytest.raises(Unauthorized, match="not on this node"):
        signing.verify(
            market.db, market.keys, consumer="supplier-01", negotiation_id=agreement_id,
            signature=consumer_key.sign(payload),
        )  # fmt: skip
    with acting(act, body), pytest.raises(Unauthorized, match="does not verify against"):
        signing.verify(
            market.db, market.keys, consumer="supplier-01", negotiation_id=agreement_id,
            signature=wrong_key.sign(payload),
        )  # fmt: skip
    assert market.counts() == before
    with acting(act, body):
        signing.verify(
            market.db, market.keys, consumer="supplier-01", negotiation_id=agreement_id,
            signature=consumer_key.sign(payload),
        )  # fmt: skip
    final = negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)

    assert final.state == "FINALIZED"
    assert market.actions()[-2:] == ["negotiation.verified", "agreement.finalized"]
    with market.db.transaction() as session:
        verified = session.scalars(
            select(LedgerEntryRow).where(LedgerEntryRow.action == "negotiation.verified")
        ).one()
        assert (verified.actor, verified.sealer, verified.attestation) == (
            "supplier-01", "operator", token,
        )  # fmt: skip
    assert ledger.verify(market.db).ok
