"""When a node began (what the scheduled operator DAGs compare a period with): the time of
its earliest ledger entry, whatever order the entries were recorded in, on either database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dataspace.identity.keystore import KeyStore
from dataspace.orchestration import node_began
from dataspace.store.db import Database
from tests.fixtures.controlplane import Space

pytestmark = pytest.mark.integration


def test_a_node_begins_with_its_earliest_ledger_entry(db: Database, keys: KeyStore) -> None:
    assert node_began(db) is None  # nothing recorded: the node has not begun
    space = Space(db, keys)
    space.operator("Jiangsu Data Hub", now=datetime(2026, 12, 7, 9, tzinfo=UTC))
    assert node_began(db) == datetime(2026, 12, 7, 9, tzinfo=UTC)

    # A history recorded afterwards with the times it happened at counts from then.
    space.member("xcmg", role="chain_leader", now=datetime(2026, 10, 5, 9, tzinfo=UTC))

    assert node_began(db) == datetime(2026, 10, 5, 9, tzinfo=UTC)
