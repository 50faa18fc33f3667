"""Column types shared by the control-plane models.

Every time in the control plane is timezone-aware UTC. PostgreSQL keeps the offset in
``timestamptz``; SQLite has no time type at all, so :class:`UTCDateTime` stores UTC there
without an offset and puts ``tzinfo=UTC`` back on the way out. Callers therefore get the same
aware value from either database.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind the store accepts)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database; a naive datetime is refused when bound."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive time is ambiguous (local? UTC?); guessing would corrupt the ledger.
            raise ValueError(
                f"The time {value.isoformat()} has no timezone; pass an aware UTC datetime."
            )
        as_utc = value.astimezone(UTC)
        return as_utc.replace(tzinfo=None) if dialect.name == "sqlite" else as_utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
