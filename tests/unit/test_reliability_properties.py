"""Hostile input, as properties (hypothesis), for issue 6: the policy evaluator is
deterministic and denies by default, the credit-code validator accepts exactly the codes
whose check character is right and refuses everything else cleanly, and the event decoder
turns any bytes into a clean rejection (the real agent on the real broker:
``tests/integration/test_reliability_hostile.py``).

Each test is in the reliability suite; the suite counts every example hypothesis tries.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataspace.errors import InvalidInput
from dataspace.identity.uscc import check_character, validate_uscc
from dataspace.policy.evaluate import Context, evaluate
from dataspace.policy.model import Policy, parse_policy
from dataspace.policy.vocabulary import Action, Operand, Operator, Role

NOW = datetime(2026, 6, 1, tzinfo=UTC)
HOSTILE = "hostile input"
PROPERTY = settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])


def attempt(call: Callable[[Any], Any], value: Any) -> Any:
    """What ``call(value)`` returned, or the InvalidInput it raised (anything else fails)."""
    try:
        return call(value)
    except InvalidInput as refused:
        return refused


# -- the policy evaluator -------------------------------------------------------------------------

PURPOSES = ["supply-planning", "quality", "resale"]
PARTICIPANTS = ["supplier-01", "supplier-02", "xcmg"]
REGIONS = ["CN", "CN-JS", "CN-ZJ", "DE", "US-CA"]
CHAINS = ["construction-machinery", "auto"]
VALUES = {
    Operand.PURPOSE: PURPOSES,
    Operand.RECIPIENT: PARTICIPANTS,
    Operand.RECIPIENT_REGION: REGIONS,
    Operand.RECIPIENT_ROLE: [role.value for role in Role],
    Operand.INDUSTRY_CHAIN: CHAINS,
}


@st.composite
def constraints(draw: st.DrawFn) -> dict[str, Any]:
    operand = draw(st.sampled_from([*VALUES, Operand.DATE_TIME, Operand.DELIVERY_COUNT]))
    if operand is Operand.DATE_TIME:
        days = draw(st.integers(-400, 400))
        operator = draw(st.sampled_from([Operator.GTEQ, Operator.LT]))
        instant = (NOW + timedelta(days=days)).isoformat().replace("+00:00", "Z")
        return {"leftOperand": operand.value, "operator": operator.value, "rightOperand": instant}
    if operand is Operand.DELIVERY_COUNT:
        maximum = draw(st.integers(1, 20))
        return {"leftOperand": operand.value, "operator": "lteq", "rightOperand": maximum}
    values = draw(st.lists(st.sampled_from(VALUES[operand]), min_size=1, max_size=3, unique=True))
    operator = draw(st.sampled_from([Operator.IS_ANY_OF, Operator.IS_NONE_OF]))
    return {"leftOperand": operand.value, "operator": operator.value, "rightOperand": values}


def rules(draw: st.DrawFn, count: int) -> list[dict[str, Any]]:
    return [
        {
            "action": draw(st.sampled_from([a.value for a in Action])),
            "constraint": draw(st.lists(constraints(), max_size=3)),
        }
        for _ in range(count)
    ]


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    document = {
        "uid": "urn:policy:random",
        "permission": rules(draw, draw(st.integers(0, 3))),
        "prohibition": rules(draw, draw(st.integers(0, 2))),
    }
    try:
        return parse_policy(document)
    except InvalidInput:  # e.g. a time window that ends before it starts
        return draw(st.nothing())


@st.composite
def contexts(draw: st.DrawFn) -> Context:
    return Context(
        action=draw(st.sampled_from(list(Action))),
        purpose=draw(st.sampled_from(PURPOSES)),
        recipient=draw(st.sampled_from(PARTICIPANTS)),
        roles=frozenset(draw(st.lists(st.sampled_from(list(Role)), min_size=1, max_size=2))),
        region=draw(st.sampled_from(REGIONS)),
        now=NOW + timedelta(hours=draw(st.integers(-24 * 400, 24 * 400))),
        industry_chains=frozenset(draw(st.lists(st.sampled_from(CHAINS), max_size=2))),
        deliveries_so_far=draw(st.integers(0, 25)),
    )


@pytest.mark.reliability(HOSTILE, "policy evaluator: random policies and requests")
@PROPERTY
@given(policy=policies(), context=contexts())
def test_the_evaluator_is_deterministic_and_denies_by_default(
    policy: Policy, context: Context
) -> None:
    decision = evaluate(policy, context)

    assert evaluate(policy, context) == decision  # same question, same answer
    mine = [p for p in policy.permissions if p.action is context.action]
    if not mine:
        assert not decision.allowed  # nothing permits this action: deny by default
    unconditional = any(not p.constraints for p in mine)
    forbidden = any(p.action is context.action for p in policy.prohibitions)
    if unconditional and not forbidden:
        assert decision.allowed  # ... and it does allow what is plainly permitted
    if decision.allowed:
        assert decision.permission_index is not None
        assert policy.permissions[decision.permission_index].action is context.action
        assert decision.view == policy.permissions[decision.permission_index].view
    else:
        assert decision.view is None


@pytest.mark.reliability(HOSTILE, "policy evaluator: random policies and requests")
@PROPERTY
@given(policy=policies(), context=contexts())
def test_an_unconditional_prohibition_beats_every_permission(
    policy: Policy, context: Context
) -> None:
    document = {
        "uid": policy.uid,
        "permission": [{"action": p.action.value} for p in policy.permissions],
        "prohibition": [{"action": context.action.value}],
    }
    assert not evaluate(parse_policy(document), context).allowed


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
POLICY_KEYS = ["uid", "permission", "prohibition", "action", "constraint", "duty", "leftOperand"]


@pytest.mark.reliability(HOSTILE, "policy parser: random documents")
@PROPERTY
@given(
    document=st.dictionaries(
        st.sampled_from(POLICY_KEYS) | st.text(max_size=8), JSONISH, max_size=5
    )
    | JSONISH
    | st.binary(max_size=64)
)
def test_any_document_is_a_policy_or_one_clean_refusal(document: Any) -> None:
    outcome = attempt(parse_policy, document)
    if isinstance(outcome, InvalidInput):
        assert str(outcome)
        assert "\n" not in str(outcome)
    else:
        assert isinstance(outcome, Policy)


# -- the credit-code validator --------------------------------------------------------------------

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, S, V, Z
AUTHORITIES = "123456789ANY"


@st.composite
def codes(draw: st.DrawFn) -> str:
    """A valid code: registration authority and kind, 6-digit division, 9 body, check."""
    authority = draw(st.sampled_from(AUTHORITIES))
    kind = draw(st.sampled_from("123459"))
    division = draw(st.text(string.digits, min_size=6, max_size=6))
    body = draw(st.text(ALPHABET, min_size=9, max_size=9))
    first17 = authority + kind + division + body
    return first17 + check_character(first17)


@pytest.mark.reliability(HOSTILE, "credit-code validator: random and mutated codes")
@PROPERTY
@given(text=st.text(max_size=24) | st.text(ALPHABET, min_size=18, max_size=18))
def test_any_text_is_a_valid_code_or_one_clean_refusal(text: str) -> None:
    code = attempt(validate_uscc, text)
    if isinstance(code, InvalidInput):
        assert "\n" not in str(code)
    else:
        assert len(code) == 18
        assert code[17] == check_character(code[:17])  # accepted only with the right check


@pytest.mark.reliability(HOSTILE, "credit-code validator: random and mutated codes")
@PROPERTY
@given(code=codes(), position=st.integers(0, 17), replacement=st.sampled_from(ALPHABET))
def test_a_valid_code_passes_and_any_one_change_is_caught(
    code: str, position: int, replacement: str
) -> None:
    try:
        assert validate_uscc(code) == code
    except InvalidInput:
        pytest.fail(f"the valid code {code} was refused")
    changed = code[:position] + replacement + code[position + 1 :]
    if changed != code:
        with pytest.raises(InvalidInput):
            validate_uscc(changed)


@pytest.mark.reliability(HOSTILE, "credit-code validator: random and mutated codes")
@PROPERTY
@given(value=st.none() | st.integers() | st.binary() | st.lists(st.text(max_size=3)))
def test_non_text_is_one_clean_refusal(value: object) -> None:
    with pytest.raises(InvalidInput):
        validate_uscc(value)
