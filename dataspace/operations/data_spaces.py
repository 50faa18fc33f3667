"""The "123+" configuration: the province's data spaces by tier, and its targets.

Read from ``config/data_spaces.toml`` (or the file given): ``target_year``, ``[targets]``
with a whole number per tier, and one ``[[space]]`` table per data space (``id``, ``name``,
``tier``, ``city``, ``chain``, ``since``). Every problem is one sentence naming the entry.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataspace.errors import InvalidInput
from dataspace.ids import validate_slug

TIERS = ("benchmark", "provincial_sample", "regional")
TIER_NAMES = {"benchmark": "全国标杆", "provincial_sample": "省内样板", "regional": "区域特色"}
FIRST_YEAR, LAST_YEAR = 2020, 2100
SPACE_KEYS = frozenset({"id", "name", "tier", "city", "chain", "since"})


@dataclass(frozen=True)
class DataSpace:
    space_id: str
    name: str
    tier: str
    city: str
    chain: str
    since: int


@dataclass(frozen=True)
class DataSpaces:
    target_year: int
    targets: dict[str, int]
    spaces: tuple[DataSpace, ...]
    source: str

    def counts(self, year: int) -> dict[str, int]:
        """Data spaces per tier recognised by the end of ``year``."""
        found = Counter(space.tier for space in self.spaces if space.since <= year)
        return {tier: found.get(tier, 0) for tier in TIERS}


def load_data_spaces(path: Path) -> DataSpaces:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The data-space configuration {path} cannot be read ({exc}).") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(
            f"The data-space configuration {path} is not valid TOML: {exc}."
        ) from exc
    targets = document.get("targets")
    if not isinstance(targets, dict) or set(targets) != set(TIERS):
        raise InvalidInput(f"{path}: [targets] must give exactly {', '.join(TIERS)}.")
    checked_targets = {tier: _count(targets[tier], f"targets.{tier}", path) for tier in TIERS}
    spaces = tuple(
        _space(entry, index, path) for index, entry in enumerate(document.get("space", []), 1)
    )
    ids = Counter(space.space_id for space in spaces)
    twice = sorted(space_id for space_id, seen in ids.items() if seen > 1)
    if twice:
        raise InvalidInput(f"{path}: the data space {twice[0]!r} is listed twice; keep one entry.")
    year = _year(document.get("target_year"), "target_year", path)
    return DataSpaces(year, checked_targets, spaces, str(path))


def _space(entry: Any, index: int, path: Path) -> DataSpace:
    where = f"{path}: [[space]] number {index}"
    if not isinstance(entry, dict) or not set(entry) >= SPACE_KEYS:
        raise InvalidInput(f"{where} needs {', '.join(sorted(SPACE_KEYS))}.")
    unknown = sorted(set(entry) - SPACE_KEYS)
    if unknown:
        raise InvalidInput(f"{where} has the unknown key {unknown[0]!r}; remove it.")
    if entry["tier"] not in TIERS:
        raise InvalidInput(f"{where} has tier {entry['tier']!r}; use one of {', '.join(TIERS)}.")
    for key in ("name", "city"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise InvalidInput(f"{where} needs a non-empty {key}.")
    try:
        space_id = validate_slug(entry["id"], "data-space id")
        chain = validate_slug(entry["chain"], "industry chain")
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from exc
    since = _year(entry["since"], f"[[space]] {space_id}: since", path)
    return DataSpace(space_id, entry["name"], entry["tier"], entry["city"], chain, since)


def _count(value: Any, what: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{path}: {what} is {value!r}; it must be a whole number >= 0.")
    return value


def _year(value: Any, what: str, path: Path) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not FIRST_YEAR <= value <= LAST_YEAR
    ):
        raise InvalidInput(
            f"{path}: {what} is {value!r}; it must be a year from {FIRST_YEAR} to {LAST_YEAR}."
        )
    return value
