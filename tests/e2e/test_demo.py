"""`make demo`'s story runs end to end and checks itself, on a stack of its own."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from dataspace.demo import run_demo
from dataspace.stack.stack import Stack
from tests.fixtures.stack import embedded_settings

pytestmark = pytest.mark.e2e


def test_the_demo_story_holds(tmp_path: Path) -> None:
    # Its own stack: the demo's suppliers use their default consumer groups.
    settings = embedded_settings(tmp_path / "state")
    stack = Stack(settings)
    output = io.StringIO()
    try:
        stack.up()
        run_demo(settings, Console(file=output, width=200))
    finally:
        stack.down()

    printed = output.getvalue()
    assert "The ledger is intact" in printed
    assert "quarantined" in printed
    assert "(revoked)" in printed
    assert "(expired)" in printed
    landing = tmp_path / "state" / "demo" / "landing"
    assert list((landing / "supplier-04").rglob("*.parquet")) == []  # expired
    versions = sorted(p.parent.name for p in (landing / "supplier-03").rglob("*.parquet"))
    assert versions == ["1"]  # revoked before version 3; version 2 was quarantined
    masked = pq.read_table(next((landing / "supplier-02").rglob("*.parquet")))
    assert masked.column("unit_price_cny").type == "string"
