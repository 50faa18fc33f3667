"""Validated identifiers: product ids, participant ids and column names.

Design rule: never build a path, object key or SQL identifier from unchecked input. Every
identifier that crosses a trust boundary goes through one of these functions first. Each
returns the value unchanged when it is valid and raises :class:`InvalidInput` naming the
(repr-escaped) value and the rule otherwise; none of them normalises, so a valid id has
exactly one spelling.
"""

from __future__ import annotations

import re

from dataspace.errors import InvalidInput

SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?", re.ASCII)
SLUG_RULE = (
    "1 to 64 characters of lowercase a-z, digits and '-', starting and ending with a letter "
    "or digit"
)
COLUMN_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}", re.ASCII)
COLUMN_RULE = "1 to 128 characters of ASCII letters, digits and '_', not starting with a digit"


def _checked(value: object, pattern: re.Pattern[str], what: str, rule: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidInput(f"The {what} {value!r} is not valid: it must be {rule}.")
    return value


def validate_slug(value: object, what: str = "identifier") -> str:
    """Return ``value`` if it is a slug (see :data:`SLUG_RULE`); otherwise raise InvalidInput.

    A slug is safe as one path segment, object-key segment and topic-key: it cannot contain
    ``/``, ``..``, whitespace, NUL or uppercase letters.
    """
    return _checked(value, SLUG_PATTERN, what, SLUG_RULE)


def product_id(value: object) -> str:
    """Return a valid product id or raise InvalidInput."""
    return validate_slug(value, "product id")


def participant_id(value: object) -> str:
    """Return a valid participant id or raise InvalidInput."""
    return validate_slug(value, "participant id")


def agreement_id(value: object) -> str:
    """Return a valid agreement id or raise InvalidInput."""
    return validate_slug(value, "agreement id")


def column_name(value: object) -> str:
    """Return ``value`` if it is a safe column name (see :data:`COLUMN_RULE`), else raise."""
    return _checked(value, COLUMN_PATTERN, "column name", COLUMN_RULE)
