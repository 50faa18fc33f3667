"""The delivery pipeline end to end: the real `publish` on the provider's side and the real
subscriber agent on each supplier's side, over the session's Kafka and Swift and both
databases. Every step of the demo: own rows, a masked price, a projection, an expired
agreement, a revoked one before the next version, a quarantined release, receipts in a ledger
that verifies; and what must land nothing: an agreement revoked after the announcement, a
tampered object, a participant without an agreement.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dataspace import demo_data
from dataspace.config import Settings
from dataspace.controlplane import agreements, ledger, releases
from dataspace.errors import Unauthorized
from dataspace.operations.stores import release_store
from dataspace.store.models import DeliveryRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.helpers import wait_for
from tests.worlds.chain_world import LEADER, Chain, landed_ids

pytestmark = pytest.mark.integration

HASH = re.compile(r"[0-9a-f]{64}")
PROJECTED = ["week", "supplier_id", "part_no", "quantity"]


@pytest.fixture
def chain(space: Space, stack_settings: Settings, unique: str, tmp_path: Path) -> Chain:
    """Suppliers 01 (own rows), 02 (masked price), 03 (projection), 04 (expired)."""
    isolated = stack_settings.model_copy(update={"release_bucket": f"rel-{unique}"})
    chain = Chain(space, isolated, unique, tmp_path)
    # Concluded first, so it has ended by the time the others are set up.
    ends = utcnow() + timedelta(seconds=1)
    chain.agree(4, "own rows", valid_until=ends)
    chain.agree(1, "own rows")
    chain.agree(2, "masked price")
    chain.agree(3, "projection")
    wait_for(lambda: utcnow() > ends, timeout=10)
    return chain


def test_each_supplier_lands_exactly_its_view_receipted_and_nothing_more(chain: Chain) -> None:
    s1, s2, s3, expired = (chain.supplier(n) for n in (1, 2, 3, 4))
    week0 = chain.orders(0)

    first = chain.publish(week0, "week-0")
    agents = chain.receive_all([s1, s2, s3, expired])

    assert (first.status, first.version, first.events_pending) == ("accepted", 1, 0)
    reasons = {line.subscriber: line.reason for line in first.deliveries}
    assert "ended (expired)" in (reasons.pop(expired) or "")
    assert reasons == {s1: None, s2: None, s3: None}
    expected = {s: [releases.delivery_id(chain.agreements[s], 1)] for s in (s1, s2, s3)}
    assert {s: landed_ids(agents[s]) for s in expected} == expected
    assert all(summary.rejected == summary.refused == [] for summary in agents.values())
    assert (agents[expired].landed, chain.landed_files(expired)) == ([], [])
    for supplier in (s1, s2, s3):
        assert chain.landed_files(supplier) == [chain.part(1)]

    mine = chain.own_rows(week0, s1)
    assert mine.num_rows > 0
    assert chain.landed(s1, 1).equals(mine)
    assert_masked(chain.landed(s2, 1), chain.own_rows(week0, s2))
    projected = chain.landed(s3, 1)
    assert projected.column_names == PROJECTED
    assert projected.equals(chain.own_rows(week0, s3).select(PROJECTED))

    delivered = {d: (s, "landed") for s, ids in expected.items() for d in ids}
    assert chain.deliveries() == delivered
    assert sorted(chain.receipts()) == sorted((s, ids[0]) for s, ids in expected.items())
    assert ledger.verify(chain.db).ok

    # Revoked: the next version is not delivered to s1; the others land it beside v1.
    agreements.revoke(chain.db, chain.space.keys, actor=LEADER, agreement_id=chain.agreements[s1])
    week1 = chain.orders(1)
    second = chain.publish(week1, "week-1")
    again = chain.receive_all([s1, s2, s3])

    assert "revoked" in ({line.subscriber: line.reason for line in second.deliveries}[s1] or "")
    assert sorted(line.subscriber for line in second.delivered) == [s2, s3]
    assert again[s1].landed == []
    assert chain.landed_files(s1) == [chain.part(1)]
    for supplier in (s2, s3):
        assert landed_ids(again[supplier]) == [releases.delivery_id(chain.agreements[supplier], 2)]
        assert chain.landed_files(supplier) == [chain.part(1), chain.part(2)]
    assert_masked(chain.landed(s2, 2), chain.own_rows(week1, s2))
    assert chain.landed(s3, 2).equals(chain.own_rows(week1, s3).select(PROJECTED))

    # Quarantined: bad data delivers nothing and nobody lands anything new.
    bad = chain.publish(demo_data.spoiled(chain.orders(2), "quantity"), "week-2-spoiled")
    third = chain.receive_all([s2, s3])

    assert (bad.status, bad.version, bad.deliveries) == ("quarantined", 3, ())
    assert all(summary.landed == [] for summary in third.values())
    assert chain.landed_files(s2) == chain.landed_files(s3) == [chain.part(1), chain.part(2)]
    assert all(state == "landed" for _, state in chain.deliveries().values())
    assert len(chain.deliveries()) == len(chain.receipts()) == 5
    assert ledger.verify(chain.db).ok


def assert_masked(landed: pa.Table, own: pa.Table) -> None:
    """Own rows, every column but the price as given, the price a salted SHA-256 hex."""
    assert landed.num_rows == own.num_rows > 0
    assert landed.column_names == own.column_names
    for name in ("week", "supplier_id", "part_no", "quantity"):
        assert landed.column(name).equals(own.column(name))
    hashes = landed.column("unit_price_cny").to_pylist()
    prices = pc.cast(own.column("unit_price_cny"), pa.string()).to_pylist()
    assert all(HASH.fullmatch(value) for value in hashes)
    assert not set(hashes) & set(prices)


def test_revoked_at_grant_time_tampered_or_not_ours_lands_nothing(chain: Chain) -> None:
    s1, s2, s3 = (chain.supplier(n) for n in (1, 2, 3))
    outsider = chain.supplier(9)
    chain.space.member(outsider)
    summary = chain.publish(chain.orders(0), "week-0")
    announced = {line.subscriber: line.delivery_id for line in summary.delivered}
    assert sorted(announced) == [s1, s2, s3]
    # Announced and relayed; then s1's agreement is revoked and s2's object swapped.
    agreements.revoke(chain.db, chain.space.keys, actor=LEADER, agreement_id=chain.agreements[s1])
    tamper(chain, announced[s2])

    agents = chain.receive_all([s1, s2, s3, outsider])

    assert [r.delivery_id for r in agents[s1].refused] == [announced[s1]]
    assert "revoked" in agents[s1].refused[0].reason
    assert [r.reason.value for r in agents[s2].rejected] == ["checksum_mismatch"]
    assert agents[s2].rejected[0].dead_letter_topic is not None
    assert landed_ids(agents[s3]) == [announced[s3]]
    assert agents[outsider].landed == agents[outsider].refused == []
    assert [chain.landed_files(s) for s in (s1, s2, outsider)] == [[], [], []]
    with pytest.raises(Unauthorized):
        chain.control(outsider).grant(announced[s3])
    assert dict(chain.deliveries().values()) == {s1: "announced", s2: "announced", s3: "landed"}
    assert chain.receipts() == [(s3, announced[s3])]
    assert chain.receive(s1, resync=True).landed == []  # a revoked delivery is never due
    assert ledger.verify(chain.db).ok


def tamper(chain: Chain, delivery_id: str) -> None:
    """Someone with write access to the bucket replaces a view with other valid Parquet."""
    with chain.db.transaction() as session:
        row = session.get(DeliveryRow, delivery_id)
        assert row is not None
        key = row.object_key
    store = release_store(chain.settings)
    with store.filesystem.open_output_stream(store.path(key)) as out:
        pq.write_table(chain.orders(5), out)
