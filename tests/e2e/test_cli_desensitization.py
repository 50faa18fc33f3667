"""Public data from the command line: `dataspace publish` of a public-data product is refused
and stores nothing; after the authorized-operation path released it, `dataspace
desensitization show|list` serve its report to its readers only (real S3 and Kafka)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dataspace.config import Settings
from dataspace.errors import Refused, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.store.db import Database
from tests.fixtures.controlplane import Space
from tests.helpers import DATASPACE, node_environment
from tests.worlds.public_data_world import AUTHORITY
from tests.worlds.public_release_world import (
    LICENSED,
    SUPPLIER,
    UNLICENSED,
    PublicReleaseWorld,
    make_public_release_world,
)
from tests.worlds.publish_world import list_keys, operator_node

pytestmark = pytest.mark.e2e


@pytest.fixture
def node(tmp_path: Path, stack_settings: Settings, unique: str) -> tuple[Path, PublicReleaseWorld]:
    """A node's state directory with the authority, its product and an approved application."""
    state = tmp_path / "node"
    with operator_node(state) as space:
        world = make_public_release_world(space, stack_settings, unique)
    return state, world


def run(state: Path, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = node_environment(state, settings)
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env=env, timeout=180, check=False
    )


def count(state: Path, query: str) -> int:
    with sqlite3.connect(state / "control-plane.db") as connection:
        return int(connection.execute(query).fetchone()[0])


def test_publishing_public_data_directly_is_refused_and_stores_nothing(
    node: tuple[Path, PublicReleaseWorld], tmp_path: Path
) -> None:
    state, world = node
    path = world.desensitized(tmp_path / "energy.parquet")

    refused = run(state, world.settings, "publish", "--product", world.product, "--as",
                  AUTHORITY, str(path))  # fmt: skip

    assert refused.returncode == Refused.exit_code
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "public data is released only through the authorized-operation path" in refused.stderr
    assert "dataspace application release APP" in refused.stderr
    assert count(state, "SELECT count(*) FROM releases") == 0
    assert count(state, "SELECT count(*) FROM ledger_entries WHERE action LIKE 'release.%'") == 0
    with reopened(state, world) as again, again.node() as here:
        assert list_keys(here.release_store(), f"{world.product}/") == []


def test_desensitization_show_and_list_serve_the_report_to_its_readers_only(
    node: tuple[Path, PublicReleaseWorld], tmp_path: Path
) -> None:
    state, world = node
    path = world.desensitized(tmp_path / "energy.parquet")
    with reopened(state, world) as again:
        again.publish(path, again.desensitize(path))

    for reader in (AUTHORITY, "operator", LICENSED):
        page = tmp_path / f"{reader}.html"
        shown = run(state, world.settings, "desensitization", "show", "--as", reader,
                    world.product, "1", "--json", "--html", str(page))  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        found = json.loads(shown.stdout)
        assert (found["report"], found["ledger_matches"]) == (world.report(path), True)
        assert world.product in page.read_text(encoding="utf-8")
    table = run(state, world.settings, "desensitization", "show", "--as", LICENSED,
                world.product, "1")  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "matches the ledger" in table.stdout
    assert "credit_code" in table.stdout
    listed = run(state, world.settings, "desensitization", "list", "--as", LICENSED,
                 world.product, "--json")  # fmt: skip
    assert [item["version"] for item in json.loads(listed.stdout)] == [1]
    for stranger in (UNLICENSED, SUPPLIER):
        refused = run(state, world.settings, "desensitization", "show", "--as", stranger,
                      world.product, "1")  # fmt: skip
        assert refused.returncode == Unauthorized.exit_code
        assert "read its desensitization report" in refused.stderr


@contextmanager
def reopened(state: Path, world: PublicReleaseWorld) -> Iterator[PublicReleaseWorld]:
    """The world on the node's database again (the fixture closed it)."""
    with Database(f"sqlite:///{state / 'control-plane.db'}") as db:
        space = Space(db, KeyStore(state / "keys"))
        yield PublicReleaseWorld(space, world.settings, world.product, world.application)
