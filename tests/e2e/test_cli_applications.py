"""`dataspace application` and `dataspace incident` as a user runs them: apply, approve,
reject, list; one clear line and a non-zero exit for each kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataspace.identity.uscc import make_uscc
from tests.e2e.test_cli_controlplane import footprint, ok, run
from tests.worlds.public_data_world import AUTHORITY, OPERATOR_OFFER, SCHEMA

pytestmark = pytest.mark.e2e

TERM = ("--from", "2026-01-01T00:00:00Z", "--until", "2030-01-01T00:00:00Z")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Operator, authority with `energy-emissions`, admitted operators op-a and op-b."""
    state = tmp_path_factory.mktemp("node")
    offer = state / "offer.json"
    offer.write_text(json.dumps(OPERATOR_OFFER))
    ok(state, "operator", "init", "--name", "Jiangsu Data Hub",
       "--uscc", make_uscc("12320000MB0000001"), "--region", "CN-JS")  # fmt: skip
    people = ((AUTHORITY, "11320000MB0000002", "public_data_authority"),
              ("op-a", "91320100MA0000003", "authorized_operator"),
              ("op-b", "91320100MA0000004", "authorized_operator"))  # fmt: skip
    for pid, prefix, role in people:
        ok(state, "participant", "register", "--name", f"{pid} 有限公司", "--id", pid,
           "--uscc", make_uscc(prefix), "--role", role, "--region", "CN-JS")  # fmt: skip
        ok(state, "participant", "admit", pid)
    ok(state, "product", "create", "--id", "energy-emissions", "--as", AUTHORITY,
       "--title-zh", "企业用电与排放", "--title-en", "Energy and emissions", "--schema", SCHEMA,
       "--suite", SCHEMA, "--offer", str(offer))  # fmt: skip
    return state


def apply(node: Path, who: str, scenario: str) -> dict[str, str]:
    return ok(node, "application", "apply", "--as", who, "--product", "energy-emissions",  # type: ignore[no-any-return]
              "--scenario", scenario, "--purpose", "carbon-accounting", *TERM)  # fmt: skip


def test_apply_approve_reject_and_list(node: Path) -> None:
    first = apply(node, "op-a", "park-carbon")
    second = apply(node, "op-b", "credit-scoring")
    assert (first["status"], second["status"]) == ("pending", "pending")

    approved = ok(node, "application", "approve", first["application_id"], "--as", AUTHORITY)
    rejected = ok(node, "application", "reject", second["application_id"], "--as", AUTHORITY,
                  "--reason", "不符合公共利益")  # fmt: skip

    assert approved["status"] == "approved"
    assert approved["agreement_id"].startswith("agr-")
    assert (rejected["status"], rejected["decision_reason"]) == ("rejected", "不符合公共利益")
    listed = ok(node, "application", "list", "--product", "energy-emissions")
    assert [a["status"] for a in listed] == ["approved", "rejected"]
    table = run(node, "application", "list")
    assert table.returncode == 0
    assert first["application_id"] in table.stdout
    assert ok(node, "incident", "list") == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("apply", "--as", "op-a", "--product", "energy-emissions", "--scenario", "x",
          "--purpose", "p", "--from", "2026-01-01T00:00:00Z"), 2, "--from and --until"),
        (("apply", "--as", "op-a", "--product", "energy-emissions", "--scenario", "x",
          "--purpose", "p", "--tier", "top", *TERM), 2, "The tier 'top' is not one of"),
        (("apply", "--as", AUTHORITY, "--product", "energy-emissions", "--scenario", "x",
          "--purpose", "p", *TERM), 5, "is not an authorized operator"),
        (("show", "app-0000000000000000"), 3, "There is no application"),
        (("reject", "app-0000000000000000", "--as", AUTHORITY), 2, "needs a reason"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_changes_nothing(
    node: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    before = footprint(node)
    result = run(node, "application", *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert footprint(node) == before
