"""The composition root: parts made once per process, and closed by their owner."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dataspace.config import load_settings
from dataspace.errors import InvalidInput
from dataspace.identity.keystore import KeyStore
from dataspace.node import Node, open_node
from dataspace.resources import data_root
from dataspace.store.db import Database


@pytest.fixture
def node(tmp_path: Path) -> Node:
    """A node whose schemas and suites are copies the test may take away."""
    for folder in ("schemas", "expectations"):
        shutil.copytree(data_root() / folder, tmp_path / folder)
    settings = load_settings(
        state_dir=tmp_path / "state",
        schemas_dir=tmp_path / "schemas",
        expectations_dir=tmp_path / "expectations",
    )
    return Node(settings, Database(f"sqlite:///{tmp_path / 'cp.db'}"), KeyStore(tmp_path / "k"))


def test_a_product_schema_and_suite_are_parsed_once(node: Node, tmp_path: Path) -> None:
    schema, suite = node.product_schema("purchase_orders"), node.suite("purchase_orders")
    shutil.rmtree(tmp_path / "schemas")
    shutil.rmtree(tmp_path / "expectations")

    assert node.product_schema("purchase_orders") is schema
    assert node.suite("purchase_orders") is suite
    with pytest.raises(InvalidInput, match="demand_forecasts"):
        node.product_schema("demand_forecasts")  # never read before, and now gone


def test_open_node_migrates_a_new_database_and_closes_it(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state")
    (tmp_path / "state").mkdir()
    with open_node(settings) as node:
        assert node.owns_db
        with node.db.transaction(read_only=True) as session:
            tables = session.connection().dialect.get_table_names(session.connection())
    assert "participants" in tables
    assert node._sender is None  # nothing was sent, so no producer was made


def test_a_node_over_a_borrowed_database_leaves_it_open(node: Node) -> None:
    node.close()
    node.close()  # twice is fine
    with node.db.transaction(read_only=True) as session:
        assert session.connection().exec_driver_sql("SELECT 1").scalar() == 1
