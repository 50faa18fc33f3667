"""A product's desensitization rules, read from ``schemas/desensitization/<schema>.json``.

.. code-block:: json

    {"drop": ["enterprise_name", "contact_phone"],
     "pseudonymize": {"column": "credit_code", "into": "enterprise_ref"},
     "address": {"column": "address", "level": "district"},
     "time": {"column": "reading_time", "level": "month", "into": "period"},
     "quasi_identifiers": ["city", "district", "industry"],
     "k": 5, "max_suppressed_fraction": 0.1}

``address.level`` is ``city`` (a ``city`` column) or ``district`` (``city`` and ``district``);
``time.level`` is ``month`` (``2025-03``) or ``quarter`` (``2025-Q1``; measures are then summed
per entity, area and quarter). Groups of the quasi-identifiers that hold fewer than ``k``
distinct entities are suppressed; if that would remove more than ``max_suppressed_fraction``
of the rows, the release stops instead (the rules are too fine for the data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataspace.errors import ConfigError, InvalidInput
from dataspace.ids import column_name

ADDRESS_LEVELS = ("city", "district")
TIME_LEVELS = ("month", "quarter")


@dataclass(frozen=True)
class Rules:
    drop: tuple[str, ...]
    pseudonym_source: str
    pseudonym_column: str
    address_column: str
    address_level: str
    time_column: str
    time_level: str
    period_column: str
    quasi_identifiers: tuple[str, ...]
    k: int
    max_suppressed_fraction: float

    @property
    def area_columns(self) -> tuple[str, ...]:
        return ("city", "district") if self.address_level == "district" else ("city",)

    def facts(self) -> dict[str, Any]:
        """What the ledger records about the rules (no key, no data)."""
        return {
            "drop": list(self.drop),
            "pseudonymize": self.pseudonym_source,
            "address_level": self.address_level,
            "time_level": self.time_level,
            "quasi_identifiers": list(self.quasi_identifiers),
            "k": self.k,
            "max_suppressed_fraction": self.max_suppressed_fraction,
        }


def load_rules(path: Path) -> Rules:
    """The rules in ``path``; anything missing or out of range is one ConfigError sentence."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"The desensitization rules {path} do not exist; add them.") from exc
    except ValueError as exc:
        raise ConfigError(f"The desensitization rules {path} are not valid JSON.") from exc
    try:
        return _parse(doc)
    except (KeyError, TypeError, ValueError, InvalidInput) as exc:
        raise ConfigError(f"The desensitization rules {path} are invalid: {exc}.") from exc


def _parse(doc: dict[str, Any]) -> Rules:
    address, time = doc["address"], doc["time"]
    if address["level"] not in ADDRESS_LEVELS:
        raise ValueError(f"address.level must be one of {ADDRESS_LEVELS}")
    if time["level"] not in TIME_LEVELS:
        raise ValueError(f"time.level must be one of {TIME_LEVELS}")
    k, fraction = int(doc["k"]), float(doc["max_suppressed_fraction"])
    if k < 2:  # noqa: PLR2004 (k = 1 is no anonymity at all)
        raise ValueError("k must be at least 2")
    if not 0.0 <= fraction < 1.0:
        raise ValueError("max_suppressed_fraction must be in [0, 1)")
    rules = Rules(
        drop=tuple(column_name(c) for c in doc["drop"]),
        pseudonym_source=column_name(doc["pseudonymize"]["column"]),
        pseudonym_column=column_name(doc["pseudonymize"]["into"]),
        address_column=column_name(address["column"]),
        address_level=address["level"],
        time_column=column_name(time["column"]),
        time_level=time["level"],
        period_column=column_name(time["into"]),
        quasi_identifiers=tuple(column_name(c) for c in doc["quasi_identifiers"]),
        k=k,
        max_suppressed_fraction=fraction,
    )
    if not rules.quasi_identifiers:
        raise ValueError("quasi_identifiers must name at least one column")
    return rules
