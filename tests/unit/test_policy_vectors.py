"""Runs tests/vectors/policy_vectors.json: the executable specification of the policy profile."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from dataspace.errors import InvalidInput
from dataspace.policy.evaluate import Context, evaluate
from dataspace.policy.model import parse_policy, policy_to_json

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "policy_vectors.json").read_text(encoding="utf-8")
)
CASES = VECTORS["cases"]


def _policy_source(case):
    policy = case["policy"]
    if isinstance(policy, str) and policy in VECTORS["policies"]:
        return VECTORS["policies"][policy]
    return policy


def _context(overrides):
    merged = {**VECTORS["defaultContext"], **overrides}
    return Context(
        action=merged["action"],
        purpose=merged["purpose"],
        recipient=merged["recipient"],
        roles=frozenset(merged["roles"]),
        region=merged["region"],
        industry_chains=frozenset(merged["industryChains"]),
        now=datetime.fromisoformat(merged["now"]),
        deliveries_so_far=merged["deliveriesSoFar"],
    )


def _view_json(view):
    return {
        "columns": None if view.columns is None else list(view.columns),
        "masks": [[mask.column, mask.method.value] for mask in view.masks],
        "rowFilterColumn": view.row_filter_column,
    }


def test_there_are_enough_vectors_and_every_kind_is_covered():
    assert len(CASES) >= 45
    text = json.dumps(VECTORS)
    for term in (
        "purpose", "recipientRole", "recipient", "recipientRegion", "industryChain",
        "dateTime", "deliveryCount", "isAnyOf", "isNoneOf", "gteq", '"lt"', "lteq",
        "project", "mask", "filterRows", "prohibition",
    ):  # fmt: skip
        assert term in text


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_vector(case):
    expect = case["expect"]
    if "error" in expect:
        assert expect["error"] == "InvalidInput"
        with pytest.raises(InvalidInput) as info:
            parse_policy(_policy_source(case))
        for fragment in expect["message"]:
            assert fragment in str(info.value)
        return
    decision = evaluate(parse_policy(_policy_source(case)), _context(case["context"]))
    assert decision.allowed is expect["allowed"], decision.reasons
    for fragment in expect["reasons"]:
        assert any(fragment in reason for reason in decision.reasons), (fragment, decision)
    if not decision.allowed:
        assert decision.view is None
        assert decision.permission_index is None
    if "view" in expect:
        assert _view_json(decision.view) == expect["view"]
    if "permission" in expect:
        assert decision.permission_index == expect["permission"]


@pytest.mark.parametrize("name", sorted(VECTORS["policies"]))
def test_every_vector_policy_survives_a_json_round_trip(name):
    policy = parse_policy(VECTORS["policies"][name])
    assert parse_policy(json.dumps(policy_to_json(policy))) == policy
