"""Contract: a state change, its ledger entry and its signed event are committed together or not
at all; only changes with an event schema are announced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from dataspace.controlplane import evidence, negotiations, participants, signing
from dataspace.events.envelope import DecodedEvent, decode
from dataspace.events.registry import default_registry, event_id_for
from dataspace.store.models import NegotiationRow, OutboxRow, ParticipantRow
from tests.fixtures.controlplane import PURPOSE, Space

pytestmark = pytest.mark.integration


class Injected(Exception):
    pass


def _fail(*_args: Any, **_kwargs: Any) -> None:
    raise Injected


def _request(market: Space) -> str:
    return negotiations.request(
        market.db, market.keys, consumer="supplier-01", product_id="purchase-orders",
        purpose=PURPOSE,
    ).agreement_id  # fmt: skip


def last_event(space: Space) -> tuple[OutboxRow, DecodedEvent]:
    """The newest outbox row, verified and decoded as a consumer would."""
    with space.db.transaction() as session:
        row = session.scalars(select(OutboxRow).order_by(OutboxRow.id.desc()).limit(1)).one()
        session.expunge(row)

    def public_key_of(actor: str) -> str:
        return participants.show_participant(space.db, actor).public_key

    return row, decode(row.payload, row.headers, public_key_of, topic=row.topic)


@pytest.mark.parametrize(
    ("step", "announced"),
    [
        (lambda m: m.register("supplier-02"), False),
        (lambda m: participants.suspend(m.db, m.keys, "supplier-01"), True),
        (_request, False),
        (lambda m: m.product("other-orders"), False),
    ],
    ids=["register", "suspend", "request", "catalog"],
)
def test_each_change_writes_one_entry_and_an_event_only_with_a_schema(
    market: Space, step: Callable[[Space], object], announced: bool
) -> None:
    entries, messages = market.counts()
    step(market)
    assert market.counts() == (entries + 1, messages + int(announced))


def test_a_repeated_admission_records_nothing(market: Space) -> None:
    before = market.counts()
    participants.admit(market.db, market.keys, "supplier-01")
    assert market.counts() == before


def test_an_admission_is_a_signed_avro_event_keyed_by_the_participant(space: Space) -> None:
    space.register("supplier-01")
    entries, messages = space.counts()
    participants.admit(space.db, space.keys, "supplier-01")

    row, event = last_event(space)

    assert space.counts() == (entries + 1, messages + 1)
    assert (row.topic, row.key) == ("dataspace.participants.admitted.v1", "supplier-01")
    assert row.topic == default_registry().topic("ParticipantAdmitted")
    assert (event.event_type, event.actor) == ("ParticipantAdmitted", "operator")
    assert event.body["participant_id"] == "supplier-01"
    assert (
        event.body["public_key"]
        == participants.show_participant(space.db, "supplier-01").public_key
    )
    assert b"PRIVATE KEY" not in row.payload


def test_a_concluded_agreement_is_announced_with_a_stable_id(market: Space) -> None:
    agreement_id = _request(market)
    negotiations.accept(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)

    row, event = last_event(market)

    assert (row.topic, row.key) == (
        "dataspace.to.supplier-01.agreements.concluded.v1",
        "supplier-01",
    )
    assert event.event_id == event_id_for("AgreementConcluded", agreement_id)
    assert event.actor == "xcmg"
    assert event.body["agreement_id"] == agreement_id
    assert event.body["subscriber_id"] == "supplier-01"
    assert len(event.body["document_sha256"]) == 64
    # Negotiation steps before finalizing are ledger-only.
    assert [topic for topic, _ in market.topics()].count(
        "dataspace.to.supplier-01.agreements.concluded.v1"
    ) == 1
    assert not any(topic.startswith("dataspace.negotiations.") for topic, _ in market.topics())


def test_a_rejection_announces_a_termination_only_after_the_provider_agreed(
    market: Space,
) -> None:
    early = _request(market)
    before = market.counts()
    negotiations.reject(market.db, market.keys, actor="supplier-01", negotiation_id=early)
    assert market.counts() == (before[0] + 1, before[1])

    market.member("supplier-02")
    late = negotiations.request(
        market.db, market.keys, consumer="supplier-02", product_id="purchase-orders",
        purpose=PURPOSE,
    ).agreement_id  # fmt: skip
    signing.agree(market.db, market.keys, provider="xcmg", negotiation_id=late)
    negotiations.reject(market.db, market.keys, actor="supplier-02", negotiation_id=late)

    row, event = last_event(market)
    assert (row.topic, row.key) == (
        "dataspace.to.supplier-02.agreements.terminated.v1",
        "supplier-02",
    )
    assert (event.body["agreement_id"], event.body["reason"]) == (late, "rejected")


def test_a_failure_after_the_row_change_leaves_no_row_entry_event_or_key(
    space: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = space.counts()
    monkeypatch.setattr(evidence.ledger_store, "append", _fail)

    with pytest.raises(Injected):
        space.register("supplier-01")

    with space.db.transaction() as session:
        assert session.get(ParticipantRow, "supplier-01") is None
    assert space.counts() == before
    assert not space.keys.has("supplier-01")


def test_a_failed_enqueue_leaves_the_participant_as_it_was(
    market: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = market.counts()
    monkeypatch.setattr(evidence.outbox, "enqueue", _fail)

    with pytest.raises(Injected):
        participants.suspend(market.db, market.keys, "supplier-01")

    assert participants.show_participant(market.db, "supplier-01").status == "admitted"
    assert market.counts() == before


def test_a_failed_transition_leaves_the_negotiation_as_it_was(
    market: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    agreement_id = _request(market)
    before = market.counts()
    monkeypatch.setattr(evidence.ledger_store, "append", _fail)

    with pytest.raises(Injected):
        negotiations.reject(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)

    with market.db.transaction() as session:
        row = session.get(NegotiationRow, agreement_id)
        assert row is not None
        assert (row.state, row.reason, len(row.history)) == ("REQUESTED", None, 1)
    assert market.counts() == before
