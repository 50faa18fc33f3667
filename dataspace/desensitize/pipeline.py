"""Desensitizing a Parquet file into another, in two streaming passes.

1. **count**: desensitize each batch and count distinct entities per quasi-identifier group;
   decide the suppression (groups under k). If it would remove more rows than the rules
   allow, stop with :class:`KAnonymityViolation` before anything is written;
2. **write**: desensitize each batch again, drop the suppressed groups, write the rows (in the
   product's schema) to the target file; with quarterly periods, sum the measures per entity,
   area and quarter first (that step holds the reduced table in memory);
3. **verify**: count the written file again; any group under k is a violation (and the
   target is removed), whatever the first pass concluded.

The key never leaves this module's arguments; the report holds counts only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataspace.desensitize.kanon import GroupCounts, Suppression, count_groups, plan_suppression
from dataspace.desensitize.rules import Rules
from dataspace.desensitize.transform import desensitize_batch, group_keys
from dataspace.errors import Refused
from dataspace.private_paths import private_directory

BATCH_ROWS = 64 * 1024


class KAnonymityViolation(Refused):
    """The desensitized data would not be k-anonymous within the allowed suppression."""


@dataclass(frozen=True)
class DesensitizationReport:
    rows_in: int
    rows_out: int
    k: int
    groups: int
    suppressed_groups: int
    suppressed_rows: int
    smallest_group: int  # distinct entities in the smallest released group

    def facts(self) -> dict[str, Any]:
        return asdict(self)


def desensitize_file(
    source: Path, target: Path, rules: Rules, key: bytes, schema: pa.Schema
) -> DesensitizationReport:
    """Write the desensitized, k-anonymous rows of ``source`` to ``target`` (see module doc)."""
    counts = count_groups(_desensitized(source, rules, key), rules.quasi_identifiers,
                          rules.pseudonym_column)  # fmt: skip
    suppression = plan_suppression(counts, rules.k, rules.max_suppressed_fraction)
    if not suppression.acceptable:
        raise KAnonymityViolation(suppression.reason())
    released = _released(source, rules, key, suppression)
    _write(target, _in_schema(released, rules, schema), schema)
    written = count_groups(_read(target), rules.quasi_identifiers, rules.pseudonym_column)
    _verify(target, written, rules)
    sizes = written.entities().values()
    return DesensitizationReport(
        rows_in=counts.total_rows,
        rows_out=written.total_rows,
        k=rules.k,
        groups=len(counts.rows),
        suppressed_groups=len(suppression.small_groups),
        suppressed_rows=suppression.suppressed_rows,
        smallest_group=min(sizes, default=0),
    )


def _desensitized(source: Path, rules: Rules, key: bytes) -> Iterator[pa.Table]:
    for batch in pq.ParquetFile(source).iter_batches(batch_size=BATCH_ROWS):
        yield desensitize_batch(batch, rules, key)


def _released(
    source: Path, rules: Rules, key: bytes, suppression: Suppression
) -> Iterator[pa.Table]:
    small = pa.array(sorted(suppression.small_groups), pa.string())
    for table in _desensitized(source, rules, key):
        keep = pc.invert(pc.is_in(group_keys(table, rules.quasi_identifiers), value_set=small))
        yield table.filter(keep)


def _in_schema(tables: Iterator[pa.Table], rules: Rules, schema: pa.Schema) -> Iterator[pa.Table]:
    if rules.time_level == "quarter":
        tables = iter([_per_quarter(pa.concat_tables(list(tables)), schema)])
    for table in tables:
        yield table.select(schema.names).cast(schema)


def _per_quarter(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """Sum the numeric columns per value of every other column (entity, area, quarter)."""
    numeric = [
        f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
    ]
    keys = [name for name in schema.names if name not in numeric]
    summed = table.group_by(keys, use_threads=False).aggregate([(n, "sum") for n in numeric])
    return summed.rename_columns([name.removesuffix("_sum") for name in summed.column_names])


def _write(target: Path, tables: Iterator[pa.Table], schema: pa.Schema) -> None:
    private_directory(target.parent)
    with pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for table in tables:
            writer.write_table(table)


def _read(path: Path) -> Iterator[pa.Table]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        yield pa.Table.from_batches([batch])


def _verify(target: Path, written: GroupCounts, rules: Rules) -> None:
    small = written.small_groups(rules.k)
    if small:
        target.unlink(missing_ok=True)
        raise KAnonymityViolation(
            f"The desensitized rows still hold {len(small)} quasi-identifier groups with "
            f"fewer than k={rules.k} entities; nothing is released."
        )
