"""Contract: a state change, its ledger entry and its event are committed together or not at all."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from dataspace.controlplane import evidence, negotiations, participants
from dataspace.store.models import NegotiationRow, OutboxRow, ParticipantRow
from tests.fixtures.controlplane import PURPOSE, Space

pytestmark = pytest.mark.integration


class Injected(Exception):
    pass


def _fail_enqueue(*_args: Any, **_kwargs: Any) -> None:
    raise Injected


def test_each_change_writes_one_entry_and_one_event(market: Space) -> None:
    steps = [
        lambda: market.register("supplier-02"),
        lambda: participants.admit(market.db, market.keys, "supplier-02"),
        lambda: participants.suspend(market.db, market.keys, "supplier-02"),
        lambda: negotiations.request(
            market.db, market.keys, consumer="supplier-01", product_id="purchase-orders",
            purpose=PURPOSE,
        ),
    ]  # fmt: skip
    for step in steps:
        entries, messages = market.counts()
        step()
        assert market.counts() == (entries + 1, messages + 1)


def test_the_event_names_the_change_and_holds_no_secret(market: Space) -> None:
    with market.db.transaction() as session:
        row = session.scalars(select(OutboxRow).order_by(OutboxRow.id.desc()).limit(1)).one()
        topic, key, headers, payload = row.topic, row.key, row.headers, row.payload
    event = json.loads(payload)

    assert (topic, key) == ("dataspace.catalog.published.v1", "xcmg")
    assert headers == {"content-type": "application/json"}
    assert set(event) == {"eventId", "type", "time", "actor", "subjectIds", "ledgerSequence"}
    assert event["actor"] == "xcmg"
    assert b"PRIVATE KEY" not in payload


def test_a_failure_after_the_row_change_leaves_no_row_entry_event_or_key(
    space: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = space.counts()
    monkeypatch.setattr(evidence.outbox, "enqueue", _fail_enqueue)

    with pytest.raises(Injected):
        space.register("supplier-01")

    with space.db.transaction() as session:
        assert session.get(ParticipantRow, "supplier-01") is None
    assert space.counts() == before
    assert not space.keys.has("supplier-01")


def test_a_failed_transition_leaves_the_negotiation_as_it_was(
    market: Space, monkeypatch: pytest.MonkeyPatch
) -> None:
    agreement_id = negotiations.request(
        market.db, market.keys, consumer="supplier-01", product_id="purchase-orders",
        purpose=PURPOSE,
    ).agreement_id  # fmt: skip
    before = market.counts()
    monkeypatch.setattr(evidence.outbox, "enqueue", _fail_enqueue)

    with pytest.raises(Injected):
        negotiations.reject(market.db, market.keys, actor="xcmg", negotiation_id=agreement_id)

    with market.db.transaction() as session:
        row = session.get(NegotiationRow, agreement_id)
        assert row is not None
        assert (row.state, row.reason, len(row.history)) == ("REQUESTED", None, 1)
    assert market.counts() == before
