"""Is a product fresh? Its newest accepted release against the cadence it promised.

A product is stale when its newest release (or, before its first one, its creation) is older
than its cadence's period times ``tolerance`` (default 1.5: a weekly product is stale after
10.5 days). ``irregular`` products promise nothing and are never stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dataspace.catalog.model import Cadence
from dataspace.errors import InvalidInput

PERIOD: dict[Cadence, timedelta | None] = {
    Cadence.DAILY: timedelta(days=1),
    Cadence.WEEKLY: timedelta(weeks=1),
    Cadence.MONTHLY: timedelta(days=31),
    Cadence.QUARTERLY: timedelta(days=92),
    Cadence.YEARLY: timedelta(days=366),
    Cadence.IRREGULAR: None,
}
DEFAULT_TOLERANCE = 1.5
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Freshness:
    cadence: str
    since: datetime  # the newest release, or the product's creation before any release
    has_release: bool
    age_hours: float
    limit_hours: float | None  # None: irregular, never stale

    @property
    def fresh(self) -> bool:
        return self.limit_hours is None or self.age_hours <= self.limit_hours

    def describe(self) -> str:
        what = "newest release" if self.has_release else "no release yet; product created"
        limit = "no limit (irregular)" if self.limit_hours is None else f"{self.limit_hours:g} h"
        return f"{what} {self.age_hours:.1f} h ago; {self.cadence} allows {limit}"


def freshness(
    cadence: str,
    since: datetime,
    now: datetime,
    *,
    has_release: bool,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Freshness:
    """How old ``since`` is at ``now`` against the limit of ``cadence``."""
    if not tolerance >= 1.0:
        raise InvalidInput(f"The freshness tolerance must be at least 1.0, not {tolerance}.")
    try:
        period = PERIOD[Cadence(cadence)]
    except ValueError as exc:
        raise InvalidInput(f"The cadence {cadence!r} is unknown; fix the product.") from exc
    limit = None if period is None else round(period * tolerance / HOUR, 3)
    age = round(max((now - since) / HOUR, 0.0), 3)
    return Freshness(cadence, since, has_release, age, limit)
