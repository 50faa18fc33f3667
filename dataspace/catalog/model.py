"""What the catalog knows about a data product, validated once at construction.

A :class:`ProductDescription` is valid by construction: every identifier in it is safe to
use in paths, object keys and IRIs, both titles are present, and every offer is a parsed
policy of the closed profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from dataspace.errors import InvalidInput
from dataspace.ids import participant_id, product_id, validate_slug
from dataspace.policy.grades import Grade
from dataspace.policy.model import Policy

# Avro full names: dotted identifiers (namespace.Name).
SCHEMA_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*", re.ASCII)
SUITE_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", re.ASCII)
VERSION_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
MAX_TITLE = 200
MAX_DESCRIPTION = 4000
_E = TypeVar("_E", bound=StrEnum)


class Cadence(StrEnum):
    """How often a product is released; maps to the EU frequency vocabulary in DCAT."""

    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    IRREGULAR = "irregular"


@dataclass(frozen=True)
class ProductDescription:
    """A data product as the catalog lists it. ``versions`` are released versions, oldest first."""

    product_id: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    owner: str
    schema_name: str
    suite_name: str
    grade: Grade
    chain_tags: tuple[str, ...]
    cadence: Cadence
    offers: tuple[Policy, ...] = ()
    versions: tuple[str, ...] = ()
    quality_score: float | None = None  # the latest scheduled quality check, 0-100

    def __post_init__(self) -> None:
        product_id(self.product_id)
        participant_id(self.owner)
        _text(self.title_zh, "Chinese title", MAX_TITLE)
        _text(self.title_en, "English title", MAX_TITLE)
        _text(self.description_zh, "Chinese description", MAX_DESCRIPTION)
        _text(self.description_en, "English description", MAX_DESCRIPTION)
        _name(self.schema_name, SCHEMA_NAME_PATTERN, "schema name", "an Avro full name")
        _name(
            self.suite_name,
            SUITE_NAME_PATTERN,
            "expectation suite name",
            "letters, digits, '_', '.', '-'",
        )
        for tag in self.chain_tags:
            validate_slug(tag, "industry-chain tag")
        for version in self.versions:
            _name(version, VERSION_PATTERN, "version", "letters, digits, '.', '_', '-'")
        if len(set(self.versions)) != len(self.versions):
            raise InvalidInput(f"The product {self.product_id!r} lists a version twice.")
        object.__setattr__(self, "grade", _member(Grade, self.grade, "grade"))
        object.__setattr__(self, "cadence", _member(Cadence, self.cadence, "cadence"))


def _member(kind: type[_E], value: object, what: str) -> _E:
    if isinstance(value, str) and value in kind._value2member_map_:
        return kind(value)
    choices = ", ".join(member.value for member in kind)
    raise InvalidInput(f"The product's {what} {value!r} is unknown; use one of: {choices}.")


def _text(value: str, what: str, limit: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(
            f"The product's {what} must be non-empty text of at most {limit} characters."
        )


def _name(value: str, pattern: re.Pattern[str], what: str, rule: str) -> None:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InvalidInput(f"The {what} {value!r} is not valid: it must be {rule}.")
