"""The control-plane commands as a user runs them: the happy path, and one clear line for each
kind of bad input, with a non-zero exit, no traceback and nothing written."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dataspace.identity.uscc import make_uscc
from tests.fixtures.controlplane import PURPOSE, use_policy
from tests.helpers import DATASPACE

pytestmark = pytest.mark.e2e

LEADER_USCC = make_uscc("91320300MA0000001")
SUPPLIER_USCC = make_uscc("91320500MA0000002")


def run(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATASPACE_")}
    env.update({"DATASPACE_STATE_DIR": str(state_dir), "COLUMNS": "200"})
    return subprocess.run(
        [DATASPACE, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def ok(state_dir: Path, *args: str) -> Any:
    """Run a command with --json and return its parsed output."""
    result = run(state_dir, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def footprint(state_dir: Path) -> tuple[int, ...]:
    """How many rows each control-plane table holds (read directly: faster than the CLI)."""
    tables = ("participants", "products", "offers", "negotiations", "ledger_entries", "outbox")
    with sqlite3.connect(state_dir / "control-plane.db") as connection:
        return tuple(connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables)  # noqa: S608 (constant names)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Operator, chain leader `xcmg` with `purchase-orders`, admitted `supplier-01`."""
    state = tmp_path_factory.mktemp("node")
    offer = state / "offer.json"
    offer.write_text(json.dumps(use_policy()))
    ok(state, "operator", "init", "--name", "Jiangsu Data Hub",
       "--uscc", make_uscc("12320000MB0000001"), "--region", "CN-JS")  # fmt: skip
    for pid, uscc, role in (("xcmg", LEADER_USCC, "chain_leader"),
                            ("supplier-01", SUPPLIER_USCC, "supplier")):  # fmt: skip
        ok(state, "participant", "register", "--name", f"{pid} Co.", "--id", pid, "--uscc", uscc,
           "--role", role, "--region", "CN-JS", "--chain", "construction-machinery")  # fmt: skip
        ok(state, "participant", "admit", pid)
    ok(state, "product", "create", "--id", "purchase-orders", "--as", "xcmg",
       "--title-zh", "采购订单", "--title-en", "Purchase orders", "--schema", "purchase_orders",
       "--suite", "purchase_orders", "--chain", "construction-machinery",
       "--offer", str(offer))  # fmt: skip
    return state


@pytest.fixture
def node(prepared: Path, tmp_path: Path) -> Path:
    """A copy of the prepared node, so each test changes only its own."""
    return Path(shutil.copytree(prepared, tmp_path / "node"))


def test_the_happy_path_from_request_to_revocation(node: Path) -> None:
    requested = ok(node, "agreement", "request", "--as", "supplier-01",
                   "--product", "purchase-orders", "--purpose", PURPOSE)  # fmt: skip
    agreement_id = requested["agreement_id"]
    assert requested["state"] == "REQUESTED"

    assert ok(node, "agreement", "accept", "--as", "xcmg", agreement_id)["state"] == "FINALIZED"
    mine = ok(node, "agreement", "list", "--as", "supplier-01")
    assert [a["agreement_id"] for a in mine] == [agreement_id]
    shown = ok(node, "agreement", "show", "--as", "supplier-01", agreement_id)
    assert shown["document"]["consumer"]["uscc"] == SUPPLIER_USCC
    assert ok(node, "product", "list", "--chain", "construction-machinery")[0]["product_id"] == (
        "purchase-orders"
    )
    assert ok(node, "ledger", "checkpoint")["signer"] == "operator"
    revoked = ok(node, "agreement", "revoke", "--as", "xcmg", agreement_id)
    assert (revoked["state"], revoked["reason"]) == ("TERMINATED", "revoked")
    assert ok(node, "ledger", "verify")["ok"] is True
    assert [e["action"] for e in ok(node, "ledger", "show", "--limit", "2")] == [
        "agreement.finalized",
        "agreement.terminated",
    ]


def test_tables_and_the_dcat_export(node: Path) -> None:
    listed = run(node, "participant", "list")
    exported = run(node, "catalog", "export", "--format", "dcat", "--output", str(node / "c.json"))

    assert listed.returncode == 0
    assert "supplier-01" in listed.stdout
    assert exported.returncode == 0, exported.stderr
    assert json.loads((node / "c.json").read_text())["dcat:dataset"][0]["dct:identifier"] == (
        "purchase-orders"
    )


def test_a_tampered_ledger_row_fails_verify_naming_the_entry(node: Path) -> None:
    with sqlite3.connect(node / "control-plane.db") as connection:
        connection.execute("UPDATE ledger_entries SET actor = 'xcmg' WHERE sequence = 3")

    result = run(node, "ledger", "verify")

    assert result.returncode == 7
    assert "sequence 3" in result.stderr
    assert "Traceback" not in result.stderr


def _policy_file(node: Path, content: str) -> str:
    path = node / "policy.json"
    path.write_text(content)
    return str(path)


BAD_INPUT = {
    "invalid credit code": (
        ["participant", "register", "--name", "Bad Co", "--uscc", "91320500MA000000X1",
         "--role", "supplier", "--region", "CN-JS"], 2, "check character",
    ),
    "unknown participant": (["participant", "admit", "ghost"], 3, "No participant with id 'ghost'"),
    "unknown product": (
        ["agreement", "request", "--as", "supplier-01", "--product", "nope", "--purpose", PURPOSE],
        3, "No product with id 'nope'",
    ),
    "duplicate registration": (
        ["participant", "register", "--name", "Copy", "--id", "copy", "--uscc", SUPPLIER_USCC,
         "--role", "supplier", "--region", "CN-JS"], 4, "already registered as 'supplier-01'",
    ),
    "malformed policy": (
        ["product", "create", "--id", "p2", "--as", "xcmg", "--title-zh", "二", "--title-en", "Two",
         "--schema", "purchase_orders", "--suite", "purchase_orders", "--offer", "{malformed}"],
        2, "is not valid JSON",
    ),
    "unknown operand": (
        ["product", "create", "--id", "p2", "--as", "xcmg", "--title-zh", "二", "--title-en", "Two",
         "--schema", "purchase_orders", "--suite", "purchase_orders", "--offer", "{colour}"],
        2, "leftOperand is the unknown value 'colour'",
    ),
    "someone else's agreement": (
        ["agreement", "show", "--as", "supplier-01", "agr-000000000000"], 3,
        "You have no agreement",
    ),
}  # fmt: skip
POLICIES = {
    "{malformed}": "{not json",
    "{colour}": json.dumps(
        {"uid": "u", "permission": [{"action": "use", "constraint": [
            {"leftOperand": "colour", "operator": "isAnyOf", "rightOperand": ["red"]}]}]}
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_sentence_a_nonzero_exit_and_no_change(node: Path, case: str) -> None:
    args, code, expected = BAD_INPUT[case]
    args = [_policy_file(node, POLICIES[a]) if a in POLICIES else a for a in args]
    before = footprint(node)

    result = run(node, *args)

    assert result.returncode == code, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert footprint(node) == before


def test_a_wrong_key_file_is_refused(node: Path) -> None:
    keys = node / "keys"
    (keys / "supplier-01.pem").unlink()
    shutil.copy(keys / "xcmg.pem", keys / "supplier-01.pem")

    result = run(node, "agreement", "request", "--as", "supplier-01",
                 "--product", "purchase-orders", "--purpose", PURPOSE)  # fmt: skip

    assert result.returncode == 5
    assert "does not match the public key registered for 'supplier-01'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_suspended_participant_cannot_request(node: Path) -> None:
    ok(node, "participant", "suspend", "supplier-01")
    before = footprint(node)

    result = run(node, "agreement", "request", "--as", "supplier-01",
                 "--product", "purchase-orders", "--purpose", PURPOSE)  # fmt: skip

    assert result.returncode == 5
    assert "'supplier-01' is suspended" in result.stderr
    assert "Traceback" not in result.stderr
    assert footprint(node) == before
