"""Usage policies: frozen dataclasses and the parser that builds them from JSON.

:func:`parse_policy` is the only way in. It accepts a policy exactly when it uses the closed
vocabulary of :mod:`dataspace.policy.vocabulary`, and otherwise raises :class:`InvalidInput`
naming the offending piece by its JSON path (``permission[0].constraint[1].leftOperand``).
:func:`policy_to_json` gives back the normalised JSON, so ``parse(to_json(p)) == p``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from dataspace.canonical import utc_iso
from dataspace.errors import InvalidInput
from dataspace.ids import COLUMN_RULE, SLUG_PATTERN, SLUG_RULE, column_name
from dataspace.policy.vocabulary import (
    OPERATORS_OF,
    REGION_PATTERN,
    Action,
    DutyAction,
    MaskMethod,
    Operand,
    Operator,
    Role,
)

POLICY_KEYS = frozenset({"@context", "@type", "uid", "profile", "target", "assigner"})
POLICY_KEYS |= {"permission", "prohibition"}
PROFILE = "urn:dataspace:odrl-profile:v1"
MAX_UID_LENGTH = 256
_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True)
class SetConstraint:
    """``operand`` is (isAnyOf) or is not (isNoneOf) among ``values``."""

    operand: Operand
    operator: Operator
    values: tuple[str, ...]


@dataclass(frozen=True)
class TimeConstraint:
    """The time of the request is ``gteq`` (on or after) or ``lt`` (before) ``instant``."""

    operator: Operator
    instant: datetime


@dataclass(frozen=True)
class CountConstraint:
    """The delivery being decided is at most the ``maximum``-th one."""

    maximum: int


Constraint = SetConstraint | TimeConstraint | CountConstraint


@dataclass(frozen=True)
class Mask:
    column: str
    method: MaskMethod


@dataclass(frozen=True)
class ViewSpec:
    """What a recipient may see: ``columns`` None means every column of the release."""

    columns: tuple[str, ...] | None = None
    masks: tuple[Mask, ...] = ()
    row_filter_column: str | None = None


@dataclass(frozen=True)
class Permission:
    action: Action
    constraints: tuple[Constraint, ...] = ()
    view: ViewSpec = field(default_factory=ViewSpec)


@dataclass(frozen=True)
class Prohibition:
    action: Action
    constraints: tuple[Constraint, ...] = ()


@dataclass(frozen=True)
class Policy:
    uid: str
    permissions: tuple[Permission, ...] = ()
    prohibitions: tuple[Prohibition, ...] = ()


def parse_policy(source: str | bytes | Mapping[str, Any]) -> Policy:
    """Parse and validate a policy given as JSON text or an already decoded object."""
    document = _decode(source)
    _only_keys(document, POLICY_KEYS, "policy")
    uid = document.get("uid")
    if not isinstance(uid, str) or not uid.strip() or len(uid) > MAX_UID_LENGTH:
        raise InvalidInput(
            f"The policy's uid must be a non-empty string of at most {MAX_UID_LENGTH} characters."
        )
    permissions = tuple(
        _permission(rule, f"permission[{i}]")
        for i, rule in enumerate(_list(document, "permission", "policy"))
    )
    prohibitions = tuple(
        _prohibition(rule, f"prohibition[{i}]")
        for i, rule in enumerate(_list(document, "prohibition", "policy"))
    )
    return Policy(uid, permissions, prohibitions)


def _decode(source: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, str | bytes):
        try:
            document = json.loads(source)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(
                f"The policy is not valid JSON ({exc}); fix the syntax and send it again."
            ) from exc
    else:
        document = source
    if not isinstance(document, Mapping):
        raise InvalidInput("The policy must be a JSON object with a uid and permission rules.")
    return document


def _only_keys(obj: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in obj if key not in allowed)
    if unknown:
        raise InvalidInput(
            f"The policy's {where} has the unknown key {unknown[0]!r}; "
            f"use only {', '.join(sorted(allowed))}."
        )


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise InvalidInput(f"The policy's {where}.{key} must be a list.")
    return value


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"The policy's {where} must be a JSON object.")
    return value


def _enum(kind: type[_E], value: Any, where: str) -> _E:
    try:
        return kind(value)
    except ValueError as exc:
        choices = ", ".join(member.value for member in kind)
        raise InvalidInput(
            f"The policy's {where} is the unknown value {value!r}; use one of: {choices}."
        ) from exc


def _permission(value: Any, where: str) -> Permission:
    rule = _object(value, where)
    _only_keys(rule, frozenset({"action", "constraint", "duty"}), where)
    action = _enum(Action, rule.get("action"), f"{where}.action")
    constraints = _constraints(rule, where)
    view = ViewSpec()
    for index, duty in enumerate(_list(rule, "duty", where)):
        view = _add_duty(view, _object(duty, f"{where}.duty[{index}]"), f"{where}.duty[{index}]")
    return Permission(action, constraints, view)


def _prohibition(value: Any, where: str) -> Prohibition:
    rule = _object(value, where)
    _only_keys(rule, frozenset({"action", "constraint"}), where)
    action = _enum(Action, rule.get("action"), f"{where}.action")
    return Prohibition(action, _constraints(rule, where))


def _constraints(rule: Mapping[str, Any], where: str) -> tuple[Constraint, ...]:
    parsed = tuple(
        _constraint(item, f"{where}.constraint[{i}]")
        for i, item in enumerate(_list(rule, "constraint", where))
    )
    _check_window(parsed, where)
    return parsed


def _constraint(value: Any, where: str) -> Constraint:
    item = _object(value, where)
    _only_keys(item, frozenset({"leftOperand", "operator", "rightOperand"}), where)
    operand = _enum(Operand, item.get("leftOperand"), f"{where}.leftOperand")
    operator = _enum(Operator, item.get("operator"), f"{where}.operator")
    if operator not in OPERATORS_OF[operand]:
        allowed = ", ".join(sorted(OPERATORS_OF[operand]))
        raise InvalidInput(
            f"The policy's {where} uses the operator {operator.value!r} with {operand.value!r}, "
            f"which allows only: {allowed}."
        )
    right = item.get("rightOperand")
    where = f"{where}.rightOperand"
    if operand is Operand.DATE_TIME:
        return TimeConstraint(operator, _utc_instant(right, where))
    if operand is Operand.DELIVERY_COUNT:
        if not isinstance(right, int) or isinstance(right, bool) or right < 0:
            raise InvalidInput(f"The policy's {where} must be a whole number of deliveries >= 0.")
        return CountConstraint(right)
    return SetConstraint(operand, operator, _set_values(operand, right, where))


def _set_values(operand: Operand, right: Any, where: str) -> tuple[str, ...]:
    if not isinstance(right, list) or not right:
        raise InvalidInput(f"The policy's {where} must be a non-empty list of values.")
    for index, value in enumerate(right):
        _check_value(operand, value, f"{where}[{index}]")
    return tuple(dict.fromkeys(right))  # drop repeats, keep the author's order


def _check_value(operand: Operand, value: Any, where: str) -> None:
    if operand is Operand.RECIPIENT_ROLE:
        _enum(Role, value, where)
    elif operand is Operand.RECIPIENT_REGION:
        if not isinstance(value, str) or REGION_PATTERN.fullmatch(value) is None:
            raise InvalidInput(
                f"The policy's {where} is {value!r}, not a region code such as CN or CN-JS "
                "(ISO 3166-1 alpha-2, optionally with an ISO 3166-2 subdivision)."
            )
    elif not isinstance(value, str) or SLUG_PATTERN.fullmatch(value) is None:
        raise InvalidInput(
            f"The policy's {where} is {value!r}, not a valid {operand.value} value: "
            f"it must be {SLUG_RULE}."
        )


def _utc_instant(value: Any, where: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        instant = None
    if instant is None or instant.utcoffset() != timedelta(0):
        raise InvalidInput(
            f"The policy's {where} is {value!r}, not an ISO 8601 time in UTC; "
            "write it like 2026-01-01T00:00:00Z."
        )
    return instant.astimezone(UTC)


def _check_window(constraints: tuple[Constraint, ...], where: str) -> None:
    starts = [
        c.instant
        for c in constraints
        if isinstance(c, TimeConstraint) and c.operator == Operator.GTEQ
    ]
    ends = [
        c.instant
        for c in constraints
        if isinstance(c, TimeConstraint) and c.operator == Operator.LT
    ]
    if starts and ends and max(starts) >= min(ends):
        raise InvalidInput(
            f"The policy's {where} has a validity window that ends before it starts; "
            "make the lt time later than the gteq time."
        )


def _add_duty(view: ViewSpec, duty: Mapping[str, Any], where: str) -> ViewSpec:
    """Return ``view`` narrowed by one view obligation; contradictions are rejected."""
    action = _enum(DutyAction, duty.get("action"), f"{where}.action")
    if action is DutyAction.PROJECT:
        _only_keys(duty, frozenset({"action", "columns"}), where)
        if view.columns is not None:
            raise InvalidInput(f"The policy's {where} is a second project duty; merge them.")
        columns = _columns(duty.get("columns"), f"{where}.columns")
        view = replace(view, columns=columns)
    elif action is DutyAction.MASK:
        _only_keys(duty, frozenset({"action", "columns", "method"}), where)
        method = _enum(MaskMethod, duty.get("method"), f"{where}.method")
        masks = [
            Mask(column, method) for column in _columns(duty.get("columns"), f"{where}.columns")
        ]
        view = replace(view, masks=view.masks + tuple(masks))
    else:
        _only_keys(duty, frozenset({"action", "column"}), where)
        if view.row_filter_column is not None:
            raise InvalidInput(f"The policy's {where} is a second filterRows duty; keep one.")
        view = replace(view, row_filter_column=_column(duty.get("column"), f"{where}.column"))
    _check_view(view, where)
    return view


def _columns(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"The policy's {where} must be a non-empty list of column names.")
    columns = tuple(_column(item, f"{where}[{i}]") for i, item in enumerate(value))
    if len(set(columns)) != len(columns):
        raise InvalidInput(f"The policy's {where} names a column twice; name each once.")
    return columns


def _column(value: Any, where: str) -> str:
    try:
        return column_name(value)
    except InvalidInput as exc:
        raise InvalidInput(
            f"The policy's {where} is {value!r}, not a valid column name: it must be {COLUMN_RULE}."
        ) from exc


def _check_view(view: ViewSpec, where: str) -> None:
    masked = [mask.column for mask in view.masks]
    if len(set(masked)) != len(masked):
        raise InvalidInput(f"The policy's {where} masks a column that is already masked.")
    if view.columns is not None:
        hidden = [column for column in masked if column not in view.columns]
        if hidden:
            raise InvalidInput(
                f"The policy's {where} masks {hidden[0]!r}, which the project duty leaves out; "
                "add it to the projection or drop the mask."
            )


def policy_to_json(policy: Policy) -> dict[str, Any]:
    """The normalised JSON form of ``policy``; :func:`parse_policy` reads it back unchanged."""
    return {
        "@context": "http://www.w3.org/ns/odrl.jsonld",
        "@type": "Set",
        "uid": policy.uid,
        "profile": PROFILE,
        "permission": [_permission_json(rule) for rule in policy.permissions],
        "prohibition": [
            {"action": rule.action.value, "constraint": _constraints_json(rule.constraints)}
            for rule in policy.prohibitions
        ],
    }


def _permission_json(rule: Permission) -> dict[str, Any]:
    duties: list[dict[str, Any]] = []
    if rule.view.columns is not None:
        duties.append({"action": "project", "columns": list(rule.view.columns)})
    for mask in rule.view.masks:
        duties.append({"action": "mask", "columns": [mask.column], "method": mask.method.value})
    if rule.view.row_filter_column is not None:
        duties.append({"action": "filterRows", "column": rule.view.row_filter_column})
    return {
        "action": rule.action.value,
        "constraint": _constraints_json(rule.constraints),
        "duty": duties,
    }


def _constraints_json(constraints: tuple[Constraint, ...]) -> list[dict[str, Any]]:
    return [constraint_json(constraint) for constraint in constraints]


def constraint_json(constraint: Constraint) -> dict[str, Any]:
    """One constraint in its JSON form."""
    if isinstance(constraint, TimeConstraint):
        instant = utc_iso(constraint.instant)
        return {
            "leftOperand": "dateTime",
            "operator": constraint.operator.value,
            "rightOperand": instant,
        }
    if isinstance(constraint, CountConstraint):
        return {
            "leftOperand": "deliveryCount",
            "operator": "lteq",
            "rightOperand": constraint.maximum,
        }
    return {
        "leftOperand": constraint.operand.value,
        "operator": constraint.operator.value,
        "rightOperand": list(constraint.values),
    }
