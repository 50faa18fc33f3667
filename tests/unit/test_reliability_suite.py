"""The reliability suite's own plumbing: every registered test exists, and the table adds up
what the tests recorded (and counts nothing a failed or skipped test claimed)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.reliability import plugin
from tests.reliability.record import Measured
from tests.reliability.suite import REGISTERED, registered

ROOT = Path(__file__).resolve().parents[2]


def test_every_registered_test_exists() -> None:
    missing = []
    for nodeid in REGISTERED:
        path, name = nodeid.split("::")
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        if name not in names:
            missing.append(nodeid)
    assert missing == []


def test_parametrized_variants_are_registered_with_their_test() -> None:
    nodeid = next(iter(REGISTERED))
    assert registered(f"{nodeid}[sqlite]") == REGISTERED[nodeid]
    assert registered(nodeid + "_and_more") is None


def _test(nodeid: str, outcome: str, **fields: object) -> Measured:
    test = Measured(nodeid, outcome=outcome)
    for name, value in fields.items():
        setattr(test, name, value)
    return test


def test_the_table_adds_up_what_passed_and_flags_what_did_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = {
        "f1": ("faults", "broker killed"),
        "f2": ("faults", "store killed"),
        "s1": ("security", "keys"),
        "h1": ("hostile input", "decoder"),
    }
    monkeypatch.setattr(plugin, "_LINES", lines)
    tests = [
        _test("f1", "passed", faults=["a", "b"], due=6, landed_once=6),
        _test("f2", "failed", faults=["c"], due=3, landed_once=1),
        _test("s1", "passed", reads_attempted=5, reads_succeeded=0),
        _test("h1", "skipped"),
    ]
    tests[3].hostile["decoder"] += 7

    text = "\n".join(plugin.render(tests))

    assert "| faults injected / survived                 | 3 / 2" in text
    assert "9 / 2 (a test failed)" in text  # due / lost, with the failure said
    assert "| unauthorized reads (attempted / succeeded) | 5 / 0" in text
    assert "| hostile inputs tried                       | 7" in text
    assert "0/1 passed (failed)" in text
    assert "0/1 passed (skipped)" in text
    assert "suite tests passed                         | 2 of 4" in text
