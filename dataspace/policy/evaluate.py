"""The policy evaluator: deterministic, deny by default, prohibitions first.

Guarantees of :func:`evaluate`:

- it is a pure function of (policy, context): no clock, no I/O, same answer every time;
- a request is allowed only when some permission for its action has every constraint
  satisfied and no prohibition for its action has every constraint satisfied;
- a prohibition beats any permission; with no applicable permission the answer is "deny";
- the first satisfied permission in document order grants, and its duties give the view;
- ``reasons`` lists, in policy order, why each rule applied or did not, in plain words.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from dataspace.canonical import utc_iso
from dataspace.errors import InvalidInput
from dataspace.ids import participant_id
from dataspace.policy.model import (
    Constraint,
    CountConstraint,
    Policy,
    SetConstraint,
    TimeConstraint,
    ViewSpec,
)
from dataspace.policy.vocabulary import (
    REGION_PATTERN,
    Action,
    Operand,
    Operator,
    Role,
    region_within,
)

_MULTI_VALUED = frozenset({Operand.RECIPIENT_ROLE, Operand.INDUSTRY_CHAIN})
_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True)
class Context:
    """The request being decided: who wants to do what, for which purpose, and when.

    ``deliveries_so_far`` counts deliveries already made under the agreement; the request is
    for delivery number ``deliveries_so_far + 1``.
    """

    action: Action
    purpose: str
    recipient: str
    roles: frozenset[Role]
    region: str
    now: datetime
    industry_chains: frozenset[str] = field(default_factory=frozenset)
    deliveries_so_far: int = 0

    def __post_init__(self) -> None:
        # Normalise what callers commonly pass (plain strings, lists) and validate it once.
        object.__setattr__(self, "action", _known(Action, self.action, "action"))
        roles = frozenset(_known(Role, role, "role") for role in self.roles)
        object.__setattr__(self, "roles", roles)
        object.__setattr__(self, "industry_chains", frozenset(self.industry_chains))
        participant_id(self.recipient)
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise InvalidInput("The evaluation time has no timezone; pass an aware UTC datetime.")
        if REGION_PATTERN.fullmatch(self.region) is None:
            raise InvalidInput(
                f"The recipient region {self.region!r} is not a region code such as CN-JS."
            )
        if self.deliveries_so_far < 0:
            raise InvalidInput("The number of deliveries so far cannot be negative.")


@dataclass(frozen=True)
class Decision:
    """The outcome: ``view`` is the delivery's view when allowed and None when denied."""

    allowed: bool
    reasons: tuple[str, ...]
    view: ViewSpec | None = None
    permission_index: int | None = None


def evaluate(policy: Policy, context: Context) -> Decision:
    """Decide whether ``context`` is allowed under ``policy`` (see the module docstring)."""
    action = context.action.value
    forbidding: list[str] = []
    for index, prohibition in enumerate(policy.prohibitions):
        if prohibition.action is context.action:
            met, why = _all_met(prohibition.constraints, context)
            if met:
                forbidding.append(f"prohibition[{index}] forbids {action}: {why}")
    if forbidding:
        return Decision(False, ("denied: a prohibition applies", *forbidding))
    misses: list[str] = []
    for index, permission in enumerate(policy.permissions):
        if permission.action is not context.action:
            continue
        met, why = _all_met(permission.constraints, context)
        if met:
            reason = f"permission[{index}] allows {action}: {why}"
            return Decision(True, ("allowed", reason), permission.view, index)
        misses.append(f"permission[{index}] does not apply: {why}")
    if not misses:
        misses.append(f"no permission in the policy is for the action {action}")
    return Decision(False, ("denied: no permission applies (deny by default)", *misses))


def _all_met(constraints: Iterable[Constraint], context: Context) -> tuple[bool, str]:
    """(True, all reasons) if every constraint is met, else (False, the first failure)."""
    satisfied: list[str] = []
    for constraint in constraints:
        met, reason = check_constraint(constraint, context)
        if not met:
            return False, reason
        satisfied.append(reason)
    return True, "; ".join(satisfied) or "the rule has no constraints"


def check_constraint(constraint: Constraint, context: Context) -> tuple[bool, str]:
    """Whether one constraint holds for ``context``, with a sentence fragment saying why."""
    if isinstance(constraint, TimeConstraint):
        return _check_time(constraint, context.now)
    if isinstance(constraint, CountConstraint):
        number = context.deliveries_so_far + 1
        met = number <= constraint.maximum
        relation = "within" if met else "beyond"
        return met, f"delivery {number} is {relation} the maximum of {constraint.maximum}"
    return _check_set(constraint, context)


def _check_time(constraint: TimeConstraint, now: datetime) -> tuple[bool, str]:
    instant = utc_iso(constraint.instant)
    if constraint.operator is Operator.GTEQ:
        met = now >= constraint.instant
        return met, f"dateTime {utc_iso(now)} is {'on or after' if met else 'before'} {instant}"
    met = now < constraint.instant
    return met, f"dateTime {utc_iso(now)} is {'before' if met else 'on or after'} {instant}"


def _check_set(constraint: SetConstraint, context: Context) -> tuple[bool, str]:
    facts = _facts(constraint.operand, context)
    values = constraint.values
    if constraint.operand is Operand.RECIPIENT_REGION:
        hits = [fact for fact in facts if any(region_within(fact, area) for area in values)]
    else:
        hits = [fact for fact in facts if fact in values]
    met = bool(hits) == (constraint.operator is Operator.IS_ANY_OF)
    listed = ", ".join(values)
    if constraint.operand is Operand.RECIPIENT_REGION:
        shown = next(iter(facts))
        relation = "is within one of" if hits else "is within none of"
    elif constraint.operand in _MULTI_VALUED:
        shown = "{" + ", ".join(sorted(facts)) + "}"
        relation = "includes one of" if hits else "includes none of"
    else:
        shown = next(iter(facts))
        relation = "is one of" if hits else "is not one of"
    return met, f"{constraint.operand.value} {shown} {relation} [{listed}]"


def _facts(operand: Operand, context: Context) -> frozenset[str]:
    if operand is Operand.PURPOSE:
        return frozenset({context.purpose})
    if operand is Operand.RECIPIENT:
        return frozenset({context.recipient})
    if operand is Operand.RECIPIENT_REGION:
        return frozenset({context.region})
    if operand is Operand.RECIPIENT_ROLE:
        return frozenset(role.value for role in context.roles)
    if operand is Operand.INDUSTRY_CHAIN:
        return context.industry_chains
    raise AssertionError(f"{operand} is not a set operand")  # the parser rules this out


def _known(kind: type[_E], value: object, what: str) -> _E:
    if isinstance(value, str) and value in kind._value2member_map_:
        return kind(value)
    choices = ", ".join(member.value for member in kind)
    raise InvalidInput(f"The {what} {value!r} is unknown; use one of: {choices}.")
