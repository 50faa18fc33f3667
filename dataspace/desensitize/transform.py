"""Desensitizing one record batch: drop, pseudonymize, generalize address and time.

Each function is pure and works on one batch, so a release streams through them. The
pseudonym is ``HMAC-SHA256(key, value)`` (hex, first 32 digits, prefixed ``ent-``): stable for
one key, so an enterprise's months stay linkable, and not recomputable without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc

from dataspace.desensitize.rules import Rules
from dataspace.errors import InvalidInput

PSEUDONYM_HEX_DIGITS = 32
# 江苏省南京市江宁区… / 江苏省无锡市江阴市…: the province, a prefecture-level city, then the
# district, county or county-level city.
ADDRESS_PATTERN = re.compile(
    r"^(?:[^省]{2,3}省)?(?P<city>[^市]{2,4}?市)(?P<district>[^市区县]{1,5}?[市区县])"
)


def pseudonym(key: bytes, value: str) -> str:
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return "ent-" + digest[:PSEUDONYM_HEX_DIGITS]


def split_address(address: str) -> tuple[str, str]:
    """(city, district) of a mainland address; InvalidInput if it has neither."""
    match = ADDRESS_PATTERN.match(address)
    if match is None:
        raise InvalidInput(
            f"The address {address!r} names no city and district; fix the source record."
        )
    return match["city"], match["district"]


def period_labels(times: pa.Array, level: str) -> pa.Array:
    """``2025-03`` per month or ``2025-Q1`` per quarter, in China Standard Time."""
    local = pc.add(times, pa.scalar(8 * 3600 * 1_000_000, pa.duration("us")))
    years = pc.cast(pc.year(local), pa.string())
    if level == "month":
        months = pc.utf8_lpad(pc.cast(pc.month(local), pa.string()), 2, "0")
        return pc.binary_join_element_wise(years, months, "-")
    quarters = pc.cast(pc.quarter(local), pa.string())
    return pc.binary_join_element_wise(years, pc.binary_join_element_wise("Q", quarters, ""), "-")


def _per_distinct(values: pa.Array, function: Callable[[str], str]) -> pa.Array:
    """``function`` of every value, called once per distinct value (an enterprise has many
    rows: its code and address repeat), then spread back over the rows."""
    distinct = pc.unique(values)
    mapped = pa.array([function(value) for value in distinct.to_pylist()], pa.string())
    return mapped.take(pc.index_in(values, value_set=distinct))


def desensitize_batch(batch: pa.RecordBatch, rules: Rules, key: bytes) -> pa.Table:
    """The batch with identifiers dropped or pseudonymized and address and time generalized."""
    table = pa.Table.from_batches([batch])
    refs = _per_distinct(
        table.column(rules.pseudonym_source).combine_chunks(), lambda v: pseudonym(key, v)
    )
    addresses = table.column(rules.address_column).combine_chunks()
    periods = period_labels(table.column(rules.time_column), rules.time_level)
    consumed = {*rules.drop, rules.pseudonym_source, rules.address_column, rules.time_column}
    kept = [name for name in table.column_names if name not in consumed]
    columns = {rules.pseudonym_column: refs}
    columns["city"] = _per_distinct(addresses, lambda v: split_address(v)[0])
    if rules.address_level == "district":
        columns["district"] = _per_distinct(addresses, lambda v: split_address(v)[1])
    columns[rules.period_column] = periods
    for name in kept:
        columns[name] = table.column(name).combine_chunks()
    return pa.table(columns)


def group_keys(table: pa.Table, columns: tuple[str, ...]) -> pa.Array:
    """One string per row joining its values of ``columns`` (a composite group key)."""
    parts = [pc.cast(table.column(name), pa.string()) for name in columns]
    if len(parts) == 1:
        return parts[0].combine_chunks()
    return pc.binary_join_element_wise(*parts, "\x1f").combine_chunks()
