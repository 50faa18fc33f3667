"""The README's hub-and-connectors walkthrough, run as it stands.

The block after ``<!-- walkthrough: hub-and-connectors -->`` is run by bash (``set -e``) in a
scratch directory that sees the checkout's ``.venv`` and ``examples`` as a newcomer's
checkout would. Only the embedded stack's ports are moved (``DATASPACE_KAFKA_PORT``,
``DATASPACE_S3_PORT``), so that it does not meet a stack already running on the defaults.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dataspace.stack.ports import free_port, free_port_block

pytestmark = pytest.mark.e2e

CHECKOUT = Path(__file__).resolve().parents[2]
MARKER = "<!-- walkthrough: hub-and-connectors -->"


def walkthrough() -> str:
    readme = (CHECKOUT / "README.md").read_text(encoding="utf-8")
    after = readme.split(MARKER, 1)[1]
    block = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert block is not None, "the README lost its hub-and-connectors walkthrough"
    return block.group(1)


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(CHECKOUT / ".venv")
    (tmp_path / "examples").symlink_to(CHECKOUT / "examples")
    script = tmp_path / "walkthrough.sh"
    script.write_text("set -euo pipefail\n" + walkthrough(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    env.update(DATASPACE_KAFKA_PORT=str(free_port()), DATASPACE_S3_PORT=str(free_port_block(4)))
    try:
        done = subprocess.run(
            ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip
    finally:  # whatever happened, leave no process behind
        for stop in (
            "dataspace connector stop --state supplier-02",
            "dataspace connector stop --state xcmg",
            "dataspace hub --state hub stop",
            "dataspace down",
        ):
            subprocess.run(
                ["bash", "-c", f". .venv/bin/activate && {stop}"], cwd=tmp_path, env=env,
                capture_output=True, check=False, timeout=120,
            )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    landed = list((tmp_path / "supplier-01" / "landed" / "purchase-orders" / "1").glob("*.parquet"))
    assert len(landed) == 1
    rows = pq.read_table(landed[0]).to_pylist()
    assert {row["supplier_id"] for row in rows} == {"supplier-01"}  # its own rows only
    over_dsp = list((tmp_path / "supplier-02" / "landed" / "order-lines" / "1").glob("*.parquet"))
    assert {row["supplier_id"] for row in pq.read_table(over_dsp[0]).to_pylist()} == {"supplier-02"}
    assert "The ledger is intact" in done.stdout
    assert sorted(p.name for p in (tmp_path / "hub" / "keys").glob("*.pem")) == ["operator.pem"]
