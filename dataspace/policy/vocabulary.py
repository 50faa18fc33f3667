"""The closed vocabulary of the usage-policy profile (see ``docs/policy-profile.md``).

Every term a policy may use is listed here; anything else is rejected when the policy is
created. Changing this file changes the profile: update the document and the test vectors
in the same commit.
"""

from __future__ import annotations

from enum import StrEnum

from dataspace.identity.membership import HOME_COUNTRY, REGION_PATTERN, Role

# Roles and regions are part of the vocabulary (recipientRole, recipientRegion) but belong
# to participants, so they are defined with identity and re-exported here.
__all__ = ["HOME_COUNTRY", "REGION_PATTERN", "Role"]


class Action(StrEnum):
    """What a permission or prohibition is about. Actions are independent: none implies another."""

    USE = "use"  # receive deliveries of (a view of) the rows and use them
    DISTRIBUTE = "distribute"  # pass received rows on to a third party
    AGGREGATE = "aggregate"  # run approved aggregate queries next to the data (compute-to-data)


RAW_ACTIONS = frozenset({Action.USE, Action.DISTRIBUTE})


class Operand(StrEnum):
    """Left operands of a constraint: facts about the request being decided."""

    PURPOSE = "purpose"
    RECIPIENT_ROLE = "recipientRole"
    RECIPIENT = "recipient"
    RECIPIENT_REGION = "recipientRegion"
    INDUSTRY_CHAIN = "industryChain"
    DATE_TIME = "dateTime"
    DELIVERY_COUNT = "deliveryCount"


class Operator(StrEnum):
    IS_ANY_OF = "isAnyOf"
    IS_NONE_OF = "isNoneOf"
    GTEQ = "gteq"
    LT = "lt"
    LTEQ = "lteq"


SET_OPERATORS = frozenset({Operator.IS_ANY_OF, Operator.IS_NONE_OF})
OPERATORS_OF: dict[Operand, frozenset[Operator]] = {
    Operand.PURPOSE: SET_OPERATORS,
    Operand.RECIPIENT_ROLE: SET_OPERATORS,
    Operand.RECIPIENT: SET_OPERATORS,
    Operand.RECIPIENT_REGION: SET_OPERATORS,
    Operand.INDUSTRY_CHAIN: SET_OPERATORS,
    Operand.DATE_TIME: frozenset({Operator.GTEQ, Operator.LT}),
    Operand.DELIVERY_COUNT: frozenset({Operator.LTEQ}),
}


class DutyAction(StrEnum):
    """View obligations a permission attaches to what it grants."""

    PROJECT = "project"  # the recipient receives only these columns
    MASK = "mask"  # these columns are masked with a method
    FILTER_ROWS = "filterRows"  # only rows whose column equals the recipient's id


class MaskMethod(StrEnum):
    HASH = "hash"  # SHA-256 hex of the value salted per agreement: joinable, not readable
    REDACT = "redact"  # replaced by null


def region_within(region: str, area: str) -> bool:
    """True if ``region`` is ``area`` or a subdivision of it ("CN-JS" is within "CN")."""
    return region == area or region.startswith(area + "-")
