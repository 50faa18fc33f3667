"""One publish of a product at a time, on the real stack and both databases: a second,
concurrent publish is refused at once with one sentence and writes nothing; a reservation left
by a crashed publisher does not block the product."""

from __future__ import annotations

import subprocess
import sys
import threading
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dataspace import demo_data
from dataspace.config import Settings
from dataspace.errors import Conflict
from dataspace.node import Node
from dataspace.operations.stores import release_store
from dataspace.publishing.publish import PublishSummary, publish
from dataspace.store.models import ReleaseReservationRow, ReleaseRow
from dataspace.store.types import utcnow
from tests.fixtures.controlplane import Space
from tests.worlds.publish_world import LEADER, World, list_keys, make_world, write_input

pytestmark = pytest.mark.integration

ORDERS = demo_data.purchase_orders(0)
REFUSED = "is being published by another publish"


@pytest.fixture
def world(space: Space, stack_settings: Settings, unique: str) -> World:
    world = make_world(space, stack_settings, unique)
    world.agree("supplier-01", 1)
    return world


def run(world: World, source: Path) -> PublishSummary:
    with closing(Node(world.settings, world.db, world.space.keys)) as node:
        return publish(node, product_id=world.product, provider=LEADER, source=source)


def test_a_concurrent_publish_is_refused_at_once_and_writes_nothing(
    world: World, tmp_path: Path
) -> None:
    sources = [write_input(ORDERS, tmp_path / f"orders-{n}.parquet") for n in (1, 2)]
    start = threading.Barrier(2)
    outcomes: list[PublishSummary | Exception] = []

    def attempt(source: Path) -> None:
        start.wait()
        try:
            outcomes.append(run(world, source))
        except Conflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    published = [o for o in outcomes if isinstance(o, PublishSummary)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert [(s.status, s.version) for s in published] == [("accepted", 1)]
    assert len(refused) == 1
    message = str(refused[0])
    assert f"Version 1 of '{world.product}' {REFUSED}" in message
    assert message.count(". ") == 0
    keys = list_keys(release_store(world.settings), f"{world.product}/")
    assert keys
    assert all(key.startswith(f"{world.product}/1/") for key in keys)
    assert reservations(world) == []
    assert run(world, sources[1]).version == 2  # settled: the next publish goes ahead


def test_a_publisher_that_died_holding_the_version_does_not_block_the_product(
    world: World, tmp_path: Path, database_url: str
) -> None:
    # A real publisher process reserves version 1, then dies before writing anything.
    script = (
        "import os, sys\nfrom pathlib import Path\n"
        "from dataspace.controlplane import releases\n"
        "from dataspace.identity.keystore import KeyStore\n"
        "from dataspace.store.db import Database\n"
        "from dataspace.store.types import utcnow\n"
        "db, keys = Database(sys.argv[1]), KeyStore(Path(sys.argv[2]))\n"
        "releases.plan_release(db, keys, product=sys.argv[3], provider='xcmg',"
        " mode='snapshot', now=utcnow())\n"
        "os._exit(9)\n"
    )
    keys_dir = str(world.space.keys.directory)
    died = subprocess.Popen(
        [sys.executable, "-c", script, database_url, keys_dir, world.product],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    _, errors = died.communicate(timeout=60)
    assert died.returncode == 9, errors
    held = reservations(world)
    assert [(row.version, row.token.split(":")[1]) for row in held] == [(1, str(died.pid))]

    summary = run(world, write_input(ORDERS, tmp_path / "orders.parquet"))

    assert (summary.status, summary.version) == ("accepted", 1)
    assert reservations(world) == []


def test_another_hosts_reservation_blocks_until_it_expires(world: World, tmp_path: Path) -> None:
    source = write_input(ORDERS, tmp_path / "orders.parquet")
    hold(world, expires_in=timedelta(minutes=5))

    with pytest.raises(Conflict, match=REFUSED):
        run(world, source)
    assert list_keys(release_store(world.settings), f"{world.product}/") == []
    assert released_versions(world) == []

    hold(world, expires_in=timedelta(seconds=-1))  # its publisher stopped renewing it
    assert run(world, source).version == 1
    assert reservations(world) == []


def hold(world: World, *, expires_in: timedelta) -> None:
    """A reservation of version 1 by a publish on another host."""
    now = utcnow()
    with world.db.transaction() as session:
        row = session.get(ReleaseReservationRow, world.product)
        if row is None:
            row = ReleaseReservationRow(product_id=world.product)
            session.add(row)
        row.version, row.token = 1, "elsewhere.example:4242:feedc0de"
        row.reserved_at, row.expires_at = now, now + expires_in


def reservations(world: World) -> list[ReleaseReservationRow]:
    with world.db.transaction() as session:
        rows = list(session.scalars(select(ReleaseReservationRow)))
        session.expunge_all()
        return rows


def released_versions(world: World) -> list[int]:
    with world.db.transaction() as session:
        query = select(ReleaseRow.version).where(ReleaseRow.product_id == world.product)
        return list(session.scalars(query))
