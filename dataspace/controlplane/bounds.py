"""Upper bounds of the whole numbers a caller may send, so that none overflows a column.

The store keeps versions and delivery counts in 32-bit columns (``INTEGER`` on PostgreSQL)
and row and byte counts in 64-bit ones; a larger number would fail in the database (a 500)
instead of being refused with a sentence. The API declares these bounds (they show in the
OpenAPI schema) and the services check the ones they take from anyone.
"""

from __future__ import annotations

MAX_VERSION = 2**31 - 1  # versions: a 32-bit column
MAX_DELIVERIES = 1_000_000  # an agreement's max_deliveries: one a day for 2,700 years
# Rows and bytes of a release or a delivery: a 64-bit column, and within 2**53 so that every
# JSON parser holds it exactly (a fuzzer's 2**63 - 1 became a float and went past it).
MAX_COUNT = 2**53 - 1
