"""Fees and revenue shares of a metered month, by the rules: pure arithmetic, no I/O.

Only reconciled deliveries are charged; flagged ones are withheld and listed in the
differences statement until provider and subscriber agree. Money is :class:`Decimal`
rounded half-even to the fen per line; shares are rounded for the operator and the
authority, and the provider gets the rest, so every split adds up exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

from dataspace.errors import Conflict
from dataspace.operations.metering import MeteredDelivery
from dataspace.operations.settlement_rules import Rules

FEN = Decimal("0.01")
GIB = Decimal(1024**3)
MILLION = Decimal(1_000_000)
ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Member:
    """A participant billed for the month: admitted and not suspended during it."""

    participant_id: str
    roles: tuple[str, ...]


@dataclass
class AgreementLine:
    agreement_id: str
    product_id: str
    provider_id: str
    subscriber_id: str
    grade: str
    category: str
    deliveries: int = 0
    rows: int = 0
    bytes: int = 0
    reconciled: int = 0
    flagged: int = 0
    usage_charge: Decimal = ZERO
    service_fee: Decimal = ZERO


@dataclass
class PartyLine:
    participant_id: str
    roles: tuple[str, ...] = ()
    membership_fee: Decimal = ZERO
    service_fees: Decimal = ZERO
    usage_charges: Decimal = ZERO
    revenue: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.revenue - self.membership_fee - self.service_fees - self.usage_charges


@dataclass
class Settlement:
    agreements: list[AgreementLine]
    parties: list[PartyLine]
    differences: list[MeteredDelivery]
    totals: dict[str, str] = field(default_factory=dict)


def settle_month(
    metered: Sequence[MeteredDelivery],
    members: Iterable[Member],
    rules: Rules,
    *,
    operator: str,
    authorities: Sequence[str],
) -> Settlement:
    """Statements of a month: per agreement, per party, and the flagged deliveries."""
    books = _Books(rules, operator, _authority(rules, authorities, metered))
    for member in members:
        books.membership(member)
    for delivery in metered:
        books.delivery(delivery)
    result = Settlement(
        sorted(books.agreements.values(), key=lambda item: item.agreement_id),
        sorted(books.parties.values(), key=lambda item: item.participant_id),
        [item for item in metered if item.flag is not None],
    )
    result.totals = _totals(result)
    return result


class _Books:
    def __init__(self, rules: Rules, operator: str, authority: str | None) -> None:
        self.rules, self.operator, self.authority = rules, operator, authority
        self.parties: dict[str, PartyLine] = {}
        self.agreements: dict[str, AgreementLine] = {}

    def party(self, pid: str) -> PartyLine:
        return self.parties.setdefault(pid, PartyLine(pid))

    def membership(self, member: Member) -> None:
        payer = self.party(member.participant_id)
        payer.roles = member.roles
        fees = [self.rules.membership_fee.get(role, ZERO) for role in member.roles]
        payer.membership_fee = max(fees, default=ZERO)
        self.party(self.operator).revenue += payer.membership_fee

    def delivery(self, delivery: MeteredDelivery) -> None:
        line = self.agreements.setdefault(delivery.agreement_id, _agreement_line(delivery))
        line.deliveries += 1
        line.rows += delivery.rows
        line.bytes += delivery.bytes
        if delivery.flag is not None:
            line.flagged += 1
            return
        line.reconciled += 1
        rules = self.rules
        service = money(rules.service_per_delivery + rules.service_per_gib * delivery.bytes / GIB)
        per_rows = rules.price_per_million_rows * delivery.rows / MILLION
        price = money(rules.price[delivery.grade] + per_rows)
        line.service_fee += service
        line.usage_charge += price
        subscriber = self.party(delivery.subscriber_id)
        subscriber.service_fees += service
        subscriber.usage_charges += price
        self._share(delivery, price)
        self.party(self.operator).revenue += service

    def _share(self, delivery: MeteredDelivery, price: Decimal) -> None:
        shares = self.rules.revenue_share[delivery.category]
        to_operator = money(price * shares["operator"])
        to_authority = money(price * shares["authority"])
        self.party(self.operator).revenue += to_operator
        if to_authority:  # _authority() made sure there is a recipient
            self.party(self.authority or "").revenue += to_authority
        self.party(delivery.provider_id).revenue += price - to_operator - to_authority


def _agreement_line(delivery: MeteredDelivery) -> AgreementLine:
    return AgreementLine(
        delivery.agreement_id,
        delivery.product_id,
        delivery.provider_id,
        delivery.subscriber_id,
        delivery.grade,
        delivery.category,
    )


def _authority(
    rules: Rules, authorities: Sequence[str], metered: Sequence[MeteredDelivery]
) -> str | None:
    """Who receives the authority's share; needed only if a public-data delivery is charged."""
    if rules.public_data_authority is not None:
        return rules.public_data_authority
    needed = any(
        rules.revenue_share[item.category]["authority"] > 0 and item.flag is None
        for item in metered
    )
    if not needed:
        return None
    if len(authorities) != 1:
        found = ", ".join(authorities) or "none"
        raise Conflict(
            f"The public-data authority's share needs one recipient, but the admitted "
            f"public-data authorities are: {found}; set public_data_authority in the rules file."
        )
    return authorities[0]


def _totals(settlement: Settlement) -> dict[str, str]:
    deliveries = sum(line.deliveries for line in settlement.agreements)
    return {
        "agreements": str(len(settlement.agreements)),
        "deliveries": str(deliveries),
        "reconciled": str(sum(line.reconciled for line in settlement.agreements)),
        "flagged": str(len(settlement.differences)),
        "rows": str(sum(line.rows for line in settlement.agreements)),
        "bytes": str(sum(line.bytes for line in settlement.agreements)),
        "membership_fees": str(sum((p.membership_fee for p in settlement.parties), ZERO)),
        "service_fees": str(sum((line.service_fee for line in settlement.agreements), ZERO)),
        "usage_charges": str(sum((line.usage_charge for line in settlement.agreements), ZERO)),
    }
