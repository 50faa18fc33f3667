"""`dataspace application` and `dataspace incident` as a user runs them: apply, approve,
reject, list, attempts after a rejection; one clear line and a non-zero exit for each kind of
bad input, and for each way around the application (approving a rejected one or one whose
term has ended, requesting a licence on public data directly)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def apply(node: Path, who: str, scenario: str, term: tuple[str, ...] = TERM) -> dict[str, Any]:
    return ok(node, "application", "apply", *applying(who, scenario, term))  # type: ignore[no-any-return]


def applying(who: str, scenario: str, term: tuple[str, ...] = TERM) -> tuple[str, ...]:
    return ("--as", who, "--product", "energy-emissions", "--scenario", scenario,
            "--purpose", "carbon-accounting", *term)  # fmt: skip


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


def refused(node: Path, code: int, message: str, *args: str) -> None:
    """``dataspace *args`` exits with ``code``, says ``message`` and changes nothing."""
    before = footprint(node)
    result = run(node, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert footprint(node) == before


def test_approving_a_rejected_application_exits_4_and_concludes_nothing(node: Path) -> None:
    application = apply(node, "op-b", "grid-planning")["application_id"]
    ok(node, "application", "reject", application, "--as", AUTHORITY, "--reason", "不符合")

    refused(node, 4, "already rejected, so it cannot be approved",
            "application", "approve", application, "--as", AUTHORITY)  # fmt: skip
    assert ok(node, "agreement", "list", "--as", "op-b") == []


def test_approving_for_a_term_that_has_ended_is_refused(node: Path) -> None:
    ended = ("--from", "2020-01-01T00:00:00Z", "--until", "2021-01-01T00:00:00Z")
    application = apply(node, "op-b", "past-audit", ended)["application_id"]

    refused(node, 9, "ended at 2021-01-01T00:00:00Z, so nothing is approved",
            "application", "approve", application, "--as", AUTHORITY)  # fmt: skip


def test_a_rejected_operator_applies_again_and_sees_every_attempt(node: Path) -> None:
    first = apply(node, "op-b", "heat-mapping")
    ok(node, "application", "reject", first["application_id"], "--as", AUTHORITY,
       "--reason", "范围过宽")  # fmt: skip

    second = apply(node, "op-b", "heat-mapping")

    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert second["application_id"] != first["application_id"]
    shown = ok(node, "application", "show", second["application_id"])
    assert [(a["application_id"], a["attempt"], a["status"], a["decision_reason"])
            for a in shown["attempts"]] == [
        (first["application_id"], 1, "rejected", "范围过宽"),
        (second["application_id"], 2, "pending", None),
    ]  # fmt: skip
    assert shown["attempts"][0]["decided_at"].startswith("20")
    table = run(node, "application", "show", first["application_id"]).stdout
    assert "范围过宽" in table
    assert second["application_id"] in table
    refused(node, 4, f"{second['application_id']} (attempt 2, pending) in force",
            "application", "apply", *applying("op-b", "heat-mapping"))  # fmt: skip
    listed = ok(node, "application", "list", "--product", "energy-emissions")
    assert sorted(a["attempt"] for a in listed if a["scenario"] == "heat-mapping") == [1, 2]
    assert "attempt" in run(node, "application", "list").stdout


@pytest.mark.parametrize("purpose", ["carbon-accounting", "credit-scoring"])
def test_a_licence_on_public_data_is_not_requested_directly(node: Path, purpose: str) -> None:
    """Whether or not the operator holds an application (op-a's is for carbon-accounting)."""
    refused(node, 9, "licensed only through an approved scenario application",
            "agreement", "request", "--as", "op-a", "--product", "energy-emissions",
            "--purpose", purpose)  # fmt: skip
