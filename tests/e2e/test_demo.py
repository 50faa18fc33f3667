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
        run_demo(settings, Console(file=output, width=80))  # a narrow terminal
    finally:
        stack.down()

    printed = output.getvalue()
    assert "The ledger is intact" in printed
    assert "offline, with the participants' own keys" in printed
    assert "quarantined" in printed
    assert "(revoked)" in printed
    assert "(expired)" in printed
    assert "asked for week 2 again: refused" in printed
    assert "…" not in printed  # tables wrap; no id is cut
    demo = tmp_path / "state" / "demo"
    assert list((demo / "supplier-04" / "landed").rglob("*.parquet")) == []  # expired
    versions = sorted(p.parent.name for p in (demo / "supplier-03" / "landed").rglob("*.parquet"))
    assert versions == ["1"]  # revoked before version 3; version 2 was quarantined
    suspended = sorted(p.parent.name for p in (demo / "supplier-02" / "landed").rglob("*.parquet"))
    assert suspended == ["1"]  # suspended after week 2 was announced: its grant was refused
    masked = pq.read_table(next((demo / "supplier-02" / "landed").rglob("*.parquet")))
    assert masked.column("unit_price_cny").type == "string"
    # Each party's directory holds its own key and nobody else's; the hub only the operator's.
    keys = {d.name: sorted(k.stem for k in (d / "keys").glob("*.pem")) for d in demo.iterdir()
            if (d / "keys").is_dir()}  # fmt: skip
    assert keys == {
        "hub": ["operator"],
        "xcmg": ["xcmg"],
        **{f"supplier-0{n}": [f"supplier-0{n}"] for n in range(1, 5)},
    }
