from datetime import UTC, datetime

import pytest

from dataspace.errors import InvalidInput, Unauthorized
from dataspace.policy.evaluate import Context, evaluate
from dataspace.policy.grades import Grade, check_grade
from dataspace.policy.model import parse_policy
from dataspace.policy.vocabulary import Action, Role

NOW = datetime(2026, 6, 1, tzinfo=UTC)
RAW = parse_policy({"uid": "raw", "permission": [{"action": "use"}, {"action": "aggregate"}]})
AGGREGATE_ONLY = parse_policy(
    {
        "uid": "agg",
        "permission": [{"action": "aggregate"}],
        "prohibition": [{"action": "use"}],
    }
)


def _context(**overrides):
    fields = {
        "action": "use",
        "purpose": "supply-planning",
        "recipient": "supplier-01",
        "roles": ["supplier"],
        "region": "CN-JS",
        "now": NOW,
    }
    return Context(**{**fields, **overrides})


def test_context_normalises_strings_and_lists():
    context = _context(industry_chains=["auto"])
    assert context.action is Action.USE
    assert context.roles == frozenset({Role.SUPPLIER})
    assert context.industry_chains == frozenset({"auto"})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"now": datetime(2026, 6, 1)}, "no timezone"),
        ({"action": "sell"}, "action 'sell' is unknown"),
        ({"roles": ["admin"]}, "role 'admin' is unknown"),
        ({"region": "Jiangsu"}, "not a region code"),
        ({"recipient": "../x"}, "participant id"),
        ({"deliveries_so_far": -1}, "cannot be negative"),
    ],
)
def test_context_rejects_bad_facts(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        _context(**overrides)


def test_evaluation_is_deterministic():
    policy = parse_policy(
        {
            "uid": "p",
            "permission": [
                {
                    "action": "use",
                    "constraint": [
                        {
                            "leftOperand": "industryChain",
                            "operator": "isAnyOf",
                            "rightOperand": ["a"],
                        }
                    ],
                }
            ],
        }
    )
    context = _context(industry_chains=["z", "a", "m", "b"])
    decisions = {evaluate(policy, context) for _ in range(20)}
    assert len(decisions) == 1


def test_general_grade_has_no_extra_conditions():
    reasons = check_grade(Grade.GENERAL, RAW, "US-CA", False, False)
    assert reasons == ["general grade: no conditions beyond the policy"]


def test_core_grade_refuses_raw_delivery_even_with_every_approval():
    with pytest.raises(InvalidInput, match=r"permits 'use' in permission\[0\].*never leaves raw"):
        check_grade(Grade.CORE, RAW, "CN-JS", True, True)


def test_core_grade_refuses_distribute_too():
    policy = parse_policy({"uid": "d", "permission": [{"action": "distribute"}]})
    with pytest.raises(InvalidInput, match="'distribute'"):
        check_grade(Grade.CORE, policy, "CN-JS", True, True)


def test_core_grade_allows_compute_to_data_with_approval():
    reasons = check_grade(Grade.CORE, AGGREGATE_ONLY, "CN-JS", True, False)
    assert any("compute-to-data" in reason for reason in reasons)
    assert any("within CN" in reason for reason in reasons)


@pytest.mark.parametrize("grade", [Grade.IMPORTANT, Grade.CORE])
def test_important_and_core_need_the_operators_approval(grade):
    with pytest.raises(Unauthorized, match="operator's approval"):
        check_grade(grade, AGGREGATE_ONLY, "CN-JS", False, False)


def test_important_grade_within_cn_needs_no_export_approval():
    reasons = check_grade(Grade.IMPORTANT, RAW, "CN", True, False)
    assert "important grade: the operator approved the agreement" in reasons


@pytest.mark.parametrize("region", ["DE-BY", "HK", "US"])
def test_important_grade_abroad_needs_export_approval(region):
    with pytest.raises(Unauthorized, match=f"in {region} without an export approval"):
        check_grade(Grade.IMPORTANT, RAW, region, True, False)
    reasons = check_grade(Grade.IMPORTANT, RAW, region, True, True)
    assert f"important grade: export approval on record for {region}" in reasons


def test_grade_accepts_its_string_value_and_checks_the_region():
    assert check_grade("important", RAW, "CN-ZJ", True, False)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="region code"):
        check_grade(Grade.IMPORTANT, RAW, "china", True, True)
