"""Our policies as ODRL 2.2, in the compact form of the Dataspace Protocol 2025-1 context.

Guarantees of :func:`odrl_policy`:

- the result uses the terms of the DSP ODRL context (``permission``, ``action``,
  ``leftOperand`` ...) and carries no ``@context``: the DSP message around it has that;
- ODRL's own actions and left operands are ``odrl:`` compact IRIs, operators are the DSP
  context's terms (``isAnyOf``); the profile's own terms are absolute ``urn:dataspace:vocab:``
  IRIs, so a JSON-LD processor expands the whole policy without any relative IRI, with or
  without the profile context of :func:`profile_document`;
- an Offer always names its assigner (ODRL 2.2 requires one); an Agreement names its
  assigner, assignee and target; empty rule lists are left out (the DSP schema wants
  ``minItems: 1``);
- :func:`policy_from_odrl` reads such a document back: ``policy_from_odrl(odrl_policy(p, ...))``
  equals ``p`` when ``policy_id`` is ``p.uid``; anything outside the profile is refused with
  one sentence (:class:`InvalidInput`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, Literal, TypeVar

from dataspace.canonical import utc_iso
from dataspace.errors import InvalidInput
from dataspace.policy.model import (
    PROFILE,
    Constraint,
    CountConstraint,
    Permission,
    Policy,
    Prohibition,
    TimeConstraint,
    parse_policy,
)
from dataspace.policy.vocabulary import Action, DutyAction, MaskMethod, Operand, Operator

ODRL = "http://www.w3.org/ns/odrl/2/"
VOCAB = "urn:dataspace:vocab:"  # the namespace of every term the profile adds to ODRL
XSD = "http://www.w3.org/2001/XMLSchema#"
PROFILE_DOCUMENT = "profile.jsonld"

# ODRL has terms for these; the other operands are the profile's own.
ODRL_OPERANDS = {
    Operand.PURPOSE: "odrl:purpose",
    Operand.RECIPIENT: "odrl:recipient",
    Operand.DATE_TIME: "odrl:dateTime",
    Operand.DELIVERY_COUNT: "odrl:count",
}
COLUMN, COLUMNS, METHOD = (VOCAB + name for name in ("column", "columns", "method"))

# The terms of the DSP ODRL context this module writes, defined exactly as there
# (tests/unit/test_odrl_conformance.py compares them), so that a document outside a DSP
# message, such as the DCAT export, can carry them inline.
ODRL_CONTEXT: dict[str, Any] = {
    "odrl": ODRL,
    "Offer": "odrl:Offer",
    "Agreement": "odrl:Agreement",
    "profile": {"@type": "@id", "@id": "odrl:profile"},
    "target": {"@type": "@id", "@id": "odrl:target"},
    "assignee": {"@type": "@id", "@id": "odrl:assignee"},
    "assigner": {"@type": "@id", "@id": "odrl:assigner"},
    "action": {"@type": "@vocab", "@id": "odrl:action"},
    **{
        rule: {"@type": "@id", "@id": f"odrl:{rule}", "@container": "@set"}
        for rule in ("permission", "prohibition", "duty", "constraint")
    },
    "leftOperand": {"@type": "@vocab", "@id": "odrl:leftOperand"},
    "operator": {"@type": "@vocab", "@id": "odrl:operator"},
    "rightOperand": "odrl:rightOperand",
    **{operator.value: f"odrl:{operator.value}" for operator in Operator},
}


def odrl_policy(
    policy: Policy,
    *,
    kind: Literal["Offer", "Agreement"],
    policy_id: str,
    assigner: str,
    assignee: str | None = None,
    target: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """``policy`` as an ODRL Offer or Agreement (see the module docstring for guarantees).

    The parties, target and id are written as given; they must be absolute IRIs. An Offer
    without ``target`` is a catalog offer (the dataset around it is the target). A policy
    without any rule is refused: ODRL and the DSP schema need at least one.
    """
    if not policy.permissions and not policy.prohibitions:
        raise InvalidInput(
            f"The policy {policy.uid!r} has no rule; an ODRL policy needs at least one "
            "permission or prohibition."
        )
    if kind == "Agreement" and (assignee is None or target is None):
        raise InvalidInput("An ODRL agreement needs both an assignee and a target; pass them.")
    document: dict[str, Any] = {
        "@id": policy_id,
        "@type": kind,
        "profile": PROFILE,
        "assigner": assigner,
    }
    optional = {"assignee": assignee, "target": target}
    optional["timestamp"] = utc_iso(timestamp) if timestamp is not None else None
    document |= {key: value for key, value in optional.items() if value is not None}
    if policy.permissions:
        document["permission"] = [_permission(rule) for rule in policy.permissions]
    if policy.prohibitions:
        document["prohibition"] = [_prohibition(rule) for rule in policy.prohibitions]
    return document


def action_term(action: Action) -> str:
    """ODRL's own action of the same name (use, distribute, aggregate)."""
    return f"odrl:{action.value}"


def operand_term(operand: Operand) -> str:
    """``odrl:<name>`` where ODRL defines the operand, the profile's absolute IRI otherwise."""
    return ODRL_OPERANDS.get(operand, VOCAB + operand.value)


def _permission(rule: Permission) -> dict[str, Any]:
    rendered = _prohibition(Prohibition(rule.action, rule.constraints))
    duties: list[dict[str, Any]] = []
    view = rule.view
    if view.columns is not None:
        duties.append({"action": VOCAB + "project", COLUMNS: {"@list": list(view.columns)}})
    for mask in view.masks:
        method = {"@id": VOCAB + mask.method.value}
        duties.append({"action": VOCAB + "mask", COLUMN: mask.column, METHOD: method})
    if view.row_filter_column is not None:
        duties.append({"action": VOCAB + "filterRows", COLUMN: view.row_filter_column})
    return rendered | ({"duty": duties} if duties else {})


def _prohibition(rule: Prohibition) -> dict[str, Any]:
    rendered: dict[str, Any] = {"action": action_term(rule.action)}
    if rule.constraints:
        rendered["constraint"] = [_constraint(constraint) for constraint in rule.constraints]
    return rendered


def _constraint(constraint: Constraint) -> dict[str, Any]:
    right: Any
    if isinstance(constraint, TimeConstraint):
        operand, operator = Operand.DATE_TIME, constraint.operator
        right = {"@value": utc_iso(constraint.instant), "@type": XSD + "dateTime"}
    elif isinstance(constraint, CountConstraint):
        operand, operator = Operand.DELIVERY_COUNT, Operator.LTEQ
        right = {"@value": constraint.maximum, "@type": XSD + "integer"}
    else:
        operand, operator = constraint.operand, constraint.operator
        right = list(constraint.values)
    return {"leftOperand": operand_term(operand), "operator": operator.value, "rightOperand": right}


# -- the published profile -------------------------------------------------------------------


def profile_document() -> dict[str, Any]:
    """The profile's JSON-LD document: a context for its terms and a definition of each.

    Read from the installed package; every call returns a fresh object the caller may change.
    """
    return json.loads(_profile_text())  # type: ignore[no-any-return]


@cache
def _profile_text() -> str:
    return (
        resources.files("dataspace.policy").joinpath(PROFILE_DOCUMENT).read_text(encoding="utf-8")
    )


# -- reading an ODRL document back -----------------------------------------------------------

POLICY_KEYS = frozenset({"@context", "@id", "@type", "profile", "assigner", "assignee"})
POLICY_KEYS |= {"target", "timestamp", "permission", "prohibition"}
POLICY_TYPES = frozenset({ODRL + "Offer", ODRL + "Agreement", ODRL + "Set"})
ACTIONS = {ODRL + action.value: action for action in Action}
OPERANDS = {operand_term(operand).replace("odrl:", ODRL): operand for operand in Operand}
DUTIES = {VOCAB + duty.value: duty for duty in DutyAction}
METHODS = {VOCAB + method.value: method for method in MaskMethod}
RULE_KEYS = {
    "permission": frozenset({"action", "constraint", "duty"}),
    "prohibition": frozenset({"action", "constraint"}),
}
_T = TypeVar("_T")


def policy_from_odrl(document: Mapping[str, Any]) -> Policy:
    """Parse an ODRL policy in the DSP compact form back into a :class:`Policy`.

    Accepts what :func:`odrl_policy` writes, with ODRL terms also as full IRIs or as the DSP
    context's bare terms; the parties and target are not part of :class:`Policy` and are
    left to the caller. Raises :class:`InvalidInput` naming the first piece outside the profile.
    """
    if not isinstance(document, Mapping):
        raise InvalidInput("The ODRL policy must be a JSON object; send an Offer or Agreement.")
    _only(document, POLICY_KEYS, "ODRL policy")
    if _expand(document.get("@type"), "ODRL policy's @type") not in POLICY_TYPES:
        raise InvalidInput(
            f"The ODRL policy's @type {document.get('@type')!r} is not Offer, Agreement or Set."
        )
    profiles = document.get("profile", PROFILE)
    if PROFILE not in ([profiles] if isinstance(profiles, str) else profiles or []):
        raise InvalidInput(
            f"The ODRL policy's profile {profiles!r} is not {PROFILE}; only that profile is "
            "understood here."
        )
    uid = document.get("@id")
    permissions = _rules(document, "permission")
    prohibitions = _rules(document, "prohibition")
    return parse_policy({"uid": uid, "permission": permissions, "prohibition": prohibitions})


def _rules(document: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    rules = document.get(key, [])
    if not isinstance(rules, list):
        raise InvalidInput(f"The ODRL policy's {key} must be a list of rules.")
    return [_rule(rule, RULE_KEYS[key], f"{key}[{index}]") for index, rule in enumerate(rules)]


def _rule(rule: Any, allowed: frozenset[str], where: str) -> dict[str, Any]:
    _only(_object(rule, where), allowed, f"ODRL policy's {where}")
    action = _lookup(ACTIONS, rule.get("action"), f"{where}.action")
    plain: dict[str, Any] = {"action": action.value}
    constraints = _list(rule, "constraint", where)
    plain["constraint"] = [_read_constraint(c, f"{where}.constraint[{i}]") for i, c in constraints]
    if "duty" in rule:
        plain["duty"] = [_read_duty(d, f"{where}.duty[{i}]") for i, d in _list(rule, "duty", where)]
    return plain


def _read_constraint(value: Any, where: str) -> dict[str, Any]:
    item = _object(value, where)
    _only(item, frozenset({"leftOperand", "operator", "rightOperand"}), f"ODRL policy's {where}")
    operand = _lookup(OPERANDS, item.get("leftOperand"), f"{where}.leftOperand")
    operator = _expand(item.get("operator"), f"ODRL policy's {where}.operator").removeprefix(ODRL)
    right = item.get("rightOperand")
    if isinstance(right, Mapping) and "@value" in right:
        right = right["@value"]  # a typed literal: the profile knows each operand's type
    if isinstance(right, str) and operand not in (Operand.DATE_TIME, Operand.DELIVERY_COUNT):
        right = [right]  # one value of a set-valued operand
    return {"leftOperand": operand.value, "operator": operator, "rightOperand": right}


def _read_duty(value: Any, where: str) -> dict[str, Any]:
    duty = _object(value, where)
    _only(duty, frozenset({"action", COLUMN, COLUMNS, METHOD}), f"ODRL policy's {where}")
    action = _lookup(DUTIES, duty.get("action"), f"{where}.action")
    plain: dict[str, Any] = {"action": action.value}
    if COLUMNS in duty:
        listed = duty[COLUMNS]
        plain["columns"] = listed.get("@list") if isinstance(listed, Mapping) else listed
    if COLUMN in duty:
        key = "column" if action is DutyAction.FILTER_ROWS else "columns"
        plain[key] = duty[COLUMN] if key == "column" else [duty[COLUMN]]
    if METHOD in duty:
        method = duty[METHOD]
        method = method.get("@id") if isinstance(method, Mapping) else method
        plain["method"] = _lookup(METHODS, method, f"{where}.method").value
    return plain


def _expand(term: Any, where: str) -> str:
    """The IRI ``term`` stands for in the DSP ODRL context: a term it defines, or an IRI."""
    defined = ODRL_CONTEXT.get(term) if isinstance(term, str) else None
    if isinstance(defined, str):
        term = defined
    if not isinstance(term, str) or ":" not in term:
        raise InvalidInput(
            f"The {where} {term!r} is neither an IRI nor a term of the DSP ODRL context."
        )
    return ODRL + term.removeprefix("odrl:") if term.startswith("odrl:") else term


def _lookup(known: Mapping[str, _T], term: Any, where: str) -> _T:
    iri = _expand(term, f"ODRL policy's {where}")
    if iri not in known:
        raise InvalidInput(
            f"The ODRL policy's {where} {term!r} is outside the profile {PROFILE}; "
            f"use one of: {', '.join(sorted(known))}."
        )
    return known[iri]


def _only(obj: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in obj if key not in allowed)
    if unknown:
        raise InvalidInput(
            f"The {where} has the key {unknown[0]!r}, which the profile {PROFILE} does not "
            f"use; use only {', '.join(sorted(allowed))}."
        )


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"The ODRL policy's {where} must be a JSON object.")
    return value


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[tuple[int, Any]]:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise InvalidInput(f"The ODRL policy's {where}.{key} must be a list.")
    return list(enumerate(value))
