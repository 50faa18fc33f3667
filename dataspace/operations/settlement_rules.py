"""The settlement's fee and revenue-share rules: defaults, a TOML or JSON file, validation.

A rules file names only what it changes; everything else keeps :data:`DEFAULTS`. Amounts are
in ``currency`` (yuan, two decimals); shares are fractions that add up to 1 per category.
Every problem is one sentence naming the key and what is allowed, and nothing is settled.

- ``membership_fee.<role>``: a month's fee of an admitted member, by role (a member with
  several roles pays the highest);
- ``service_fee.per_delivery`` and ``service_fee.per_gib``: what the subscriber pays the
  operator for each reconciled delivery;
- ``price.<grade>`` and ``price.per_million_rows``: what the subscriber pays for each
  reconciled delivery of a product of that grade; shared out by ``revenue_share``;
- ``revenue_share.enterprise`` / ``revenue_share.public_data``: how that price is split
  between ``provider``, ``operator`` and ``authority`` (public data: a product whose owner is
  a public-data authority or an authorized operator);
- ``public_data_authority``: who receives the authority's share (default: the one admitted
  participant with that role);
- ``receipt_grace_days``: receipts recorded up to this many days after the month still count,
  and the month can be settled only after that.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from dataspace.canonical import canonical_json, sha256_hex
from dataspace.errors import InvalidInput
from dataspace.identity.membership import Role
from dataspace.ids import participant_id
from dataspace.policy.grades import Grade

CATEGORIES = ("enterprise", "public_data")
PARTIES = ("provider", "operator", "authority")
MAX_GRACE_DAYS = 31
CURRENCY = re.compile(r"[A-Z]{3}", re.ASCII)
DEFAULTS: dict[str, Any] = {
    "currency": "CNY",
    "receipt_grace_days": 5,
    "public_data_authority": None,
    "membership_fee": {
        "chain_leader": "3000.00",
        "authorized_operator": "1000.00",
        "supplier": "300.00",
        "public_data_authority": "0.00",
    },
    "service_fee": {"per_delivery": "2.00", "per_gib": "1.00"},
    "price": {
        "general": "50.00",
        "important": "120.00",
        "core": "300.00",
        "per_million_rows": "10.00",
    },
    "revenue_share": {
        "enterprise": {"provider": "0.90", "operator": "0.10", "authority": "0"},
        "public_data": {"provider": "0.60", "operator": "0.10", "authority": "0.30"},
    },
}


@dataclass(frozen=True)
class Rules:
    currency: str
    receipt_grace_days: int
    public_data_authority: str | None
    membership_fee: dict[str, Decimal]
    service_per_delivery: Decimal
    service_per_gib: Decimal
    price: dict[str, Decimal]
    price_per_million_rows: Decimal
    revenue_share: dict[str, dict[str, Decimal]]
    source: str  # the file the rules came from, or "defaults"

    @property
    def sha256(self) -> str:
        """A fingerprint of the effective rules, recorded with the statements."""
        document = {
            "currency": self.currency,
            "receipt_grace_days": self.receipt_grace_days,
            "public_data_authority": self.public_data_authority,
            "membership_fee": {k: str(v) for k, v in sorted(self.membership_fee.items())},
            "service_fee": [str(self.service_per_delivery), str(self.service_per_gib)],
            "price": {k: str(v) for k, v in sorted(self.price.items())},
            "per_million_rows": str(self.price_per_million_rows),
            "revenue_share": {
                c: {p: str(v) for p, v in shares.items()}
                for c, shares in self.revenue_share.items()
            },
        }
        return sha256_hex(canonical_json(document))


def load_rules(path: Path | None = None) -> Rules:
    """The defaults, overridden by the TOML (``.toml``) or JSON file at ``path`` if given."""
    document = copy.deepcopy(DEFAULTS)
    if path is not None:
        _merge(document, _read(path), str(path))
    return _build(document, "defaults" if path is None else str(path))


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The settlement rules file {path} cannot be read ({exc}).") from exc
    try:
        loaded = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise InvalidInput(f"The settlement rules file {path} is not valid {kind}: {exc}.") from exc
    if not isinstance(loaded, dict):
        raise InvalidInput(f"The settlement rules file {path} must hold a table of settings.")
    return loaded


def _merge(base: dict[str, Any], given: dict[str, Any], where: str, prefix: str = "") -> None:
    for key, value in given.items():
        name = f"{prefix}{key}"
        if key not in base:
            known = ", ".join(f"{prefix}{k}" for k in base)
            raise InvalidInput(f"{where}: the setting {name!r} is unknown; known here: {known}.")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise InvalidInput(f"{where}: {name!r} must be a table of settings.")
            _merge(base[key], value, where, f"{name}.")
        else:
            base[key] = value


def _build(document: dict[str, Any], source: str) -> Rules:
    shares = {
        category: {
            party: _amount(document, f"revenue_share.{category}.{party}", upper=Decimal(1))
            for party in PARTIES
        }
        for category in CATEGORIES
    }
    for category, split in shares.items():
        if sum(split.values()) != 1:
            raise InvalidInput(
                f"{source}: the shares of revenue_share.{category} add up to "
                f"{sum(split.values())}, not 1; make provider + operator + authority = 1."
            )
    authority = document["public_data_authority"]
    return Rules(
        currency=_currency(document["currency"], source),
        receipt_grace_days=_grace(document["receipt_grace_days"], source),
        public_data_authority=None if authority is None else participant_id(authority),
        membership_fee={
            _role(role, source): _amount(document, f"membership_fee.{role}")
            for role in document["membership_fee"]
        },
        service_per_delivery=_amount(document, "service_fee.per_delivery"),
        service_per_gib=_amount(document, "service_fee.per_gib"),
        price={grade.value: _amount(document, f"price.{grade.value}") for grade in Grade},
        price_per_million_rows=_amount(document, "price.per_million_rows"),
        revenue_share=shares,
        source=source,
    )


def _amount(document: dict[str, Any], dotted: str, upper: Decimal | None = None) -> Decimal:
    value: Any = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    amount = Decimal(-1)
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            amount = Decimal(-1)
    limit = "" if upper is None else f" and at most {upper}"
    if not amount.is_finite() or amount < 0 or (upper is not None and amount > upper):
        raise InvalidInput(f"The setting {dotted} is {value!r}; it must be a number >= 0{limit}.")
    return amount


def _currency(value: Any, source: str) -> str:
    if not isinstance(value, str) or CURRENCY.fullmatch(value) is None:
        raise InvalidInput(f"{source}: currency {value!r} must be an ISO 4217 code such as CNY.")
    return value


def _grace(value: Any, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GRACE_DAYS:
        raise InvalidInput(
            f"{source}: receipt_grace_days is {value!r}; it must be a whole number of days "
            f"from 0 to {MAX_GRACE_DAYS}."
        )
    return value


def _role(value: str, source: str) -> str:
    if value not in Role._value2member_map_:
        roles = ", ".join(role.value for role in Role)
        raise InvalidInput(f"{source}: membership_fee.{value} names no role; roles are {roles}.")
    return value
