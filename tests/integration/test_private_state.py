"""State files holding business data are their owner's only (issue 18).

The control-plane database and landed Parquet files used to be created 0644 in 0755
directories, readable by every user of the machine. Now directories are made 0700 and files
0600, whatever the umask: the tests run under the usual umask 022, which would leave them open.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from dataspace.adapters.s3 import presigner
from dataspace.agent.control_plane import LocalControlPlane
from dataspace.agent.landed import FILE_NAME as LANDED_LOG
from dataspace.agent.subscriber import SubscribeOptions, subscribe
from dataspace.config import Settings
from dataspace.node import open_node
from dataspace.stack.stack import Stack
from dataspace.store.db import Database
from tests.fixtures.controlplane import Space
from tests.worlds.delivery_setup import PRODUCT, Provider, release_store

pytestmark = pytest.mark.integration

QUICK_JOIN = {"session.timeout.ms": "2000", "heartbeat.interval.ms": "300"}


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default umask: without an explicit mode, files 0644 and directories 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_node_keeps_its_database_and_keys_private(
    tmp_path: Path, stack_settings: Settings
) -> None:
    state = tmp_path / "new" / "state"
    settings = stack_settings.model_copy(update={"state_dir": state, "database_url": None})

    with open_node(settings) as node:
        node.keys.create("supplier-01")
        database = state / "control-plane.db"
        assert {path.name: mode(path) for path in state.glob("control-plane.db*")} == {
            database.name: 0o600,
            f"{database.name}-wal": 0o600,  # WAL mode: SQLite copies the database's mode
            f"{database.name}-shm": 0o600,
        }
        assert mode(state) == 0o700
        assert mode(state.parent) == 0o700  # made here, so made private too
        assert mode(state / "keys") == 0o700
        assert mode(state / "keys" / "supplier-01.pem") == 0o600


def test_an_existing_state_directory_is_made_private(
    tmp_path: Path, stack_settings: Settings
) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    settings = stack_settings.model_copy(update={"state_dir": state, "database_url": None})

    with open_node(settings):
        assert mode(state) == 0o700


def test_the_embedded_stack_keeps_its_object_store_in_a_private_state_directory(
    tmp_path: Path, stack_settings: Settings
) -> None:
    state = tmp_path / "stack"
    state.mkdir(mode=0o755)
    stack = Stack(stack_settings.model_copy(update={"state_dir": state}))

    with stack.locked():  # what `up` and `down` do first
        assert mode(state) == 0o700


def test_a_landed_delivery_and_the_landing_record_are_private(
    *, market: Space, stack_settings: Settings, unique: str, tmp_path: Path
) -> None:
    provider = Provider(market, release_store(stack_settings, f"releases-{unique}"), stack_settings)
    subscriber = f"sup-{unique}"
    delivered = provider.publish(provider.agreement(subscriber), 1)
    presign = presigner(stack_settings.s3(), provider.store.bucket)
    control = LocalControlPlane(market.db, market.keys, presign, subscriber)
    landing = tmp_path / "landing"
    quick = stack_settings.model_copy(update={"kafka_options": QUICK_JOIN})

    summary = subscribe(quick, control, landing, SubscribeOptions(once=True, idle_seconds=1.0))

    landed = landing / PRODUCT / "1" / "part-0.parquet"
    assert [item.path for item in summary.landed] == [landed]
    assert delivered.stored.rows == summary.rows
    assert mode(landed) == 0o600
    for directory in (landing, landed.parent, landed.parent.parent):
        assert mode(directory) == 0o700, directory
    assert mode(landing / LANDED_LOG) == 0o600
    if market.db.url.get_backend_name() == "sqlite":
        database = Path(str(market.db.url.database))
        assert mode(database) == 0o600


def test_a_sqlite_database_given_by_url_is_private_but_its_existing_folder_is_left_alone(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)

    with Database(f"sqlite:///{shared / 'x.db'}") as database, database.transaction() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))

    assert mode(shared / "x.db") == 0o600
    assert mode(shared) == 0o755  # the user's folder: not ours to change
