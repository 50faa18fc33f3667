"""k-anonymity over the quasi-identifiers, counted in distinct entities, not rows.

An enterprise has twelve monthly rows: a group holding twelve rows of one enterprise still
identifies it. So a group's size is the number of distinct pseudonyms in it, and the counts
are built from (group, entity) pairs that each batch contributes once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from dataspace.desensitize.transform import group_keys


@dataclass
class GroupCounts:
    """Distinct entities and rows per quasi-identifier group, accumulated batch by batch."""

    quasi_identifiers: tuple[str, ...]
    entity: str
    pairs: set[tuple[str, str]]
    rows: Counter[str]

    @classmethod
    def empty(cls, quasi_identifiers: tuple[str, ...], entity: str) -> GroupCounts:
        return cls(quasi_identifiers, entity, set(), Counter())

    def add(self, table: pa.Table) -> None:
        """Count one batch: its distinct (group, entity) pairs and rows per group, in Arrow."""
        pairs = pa.table({"group": group_keys(table, self.quasi_identifiers),
                          "entity": table.column(self.entity)})  # fmt: skip
        counted = pairs.group_by(["group", "entity"], use_threads=False).aggregate(
            [("group", "count")]
        )
        groups = counted.column("group").to_pylist()
        self.pairs.update(zip(groups, counted.column("entity").to_pylist(), strict=True))
        for group, rows in zip(groups, counted.column("group_count").to_pylist(), strict=True):
            self.rows[group] += rows

    def entities(self) -> Counter[str]:
        return Counter(group for group, _ in self.pairs)

    def small_groups(self, k: int) -> set[str]:
        return {group for group, size in self.entities().items() if size < k}

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def count_groups(
    tables: Iterable[pa.Table], quasi_identifiers: tuple[str, ...], entity: str
) -> GroupCounts:
    counts = GroupCounts.empty(quasi_identifiers, entity)
    for table in tables:
        counts.add(table)
    return counts


@dataclass(frozen=True)
class Suppression:
    """What suppressing the groups smaller than k costs, and whether that is acceptable."""

    k: int
    groups: int
    small_groups: frozenset[str]
    suppressed_rows: int
    total_rows: int
    max_fraction: float

    @property
    def fraction(self) -> float:
        return self.suppressed_rows / self.total_rows if self.total_rows else 0.0

    @property
    def acceptable(self) -> bool:
        return self.total_rows > self.suppressed_rows and self.fraction <= self.max_fraction

    def reason(self) -> str:
        return (
            f"k-anonymity with k={self.k} would suppress {len(self.small_groups)} of "
            f"{self.groups} quasi-identifier groups ({self.suppressed_rows} of "
            f"{self.total_rows} rows, {self.fraction:.1%}), more than the allowed "
            f"{self.max_fraction:.0%}; generalize further or release a larger extract."
        )


def plan_suppression(counts: GroupCounts, k: int, max_fraction: float) -> Suppression:
    small = counts.small_groups(k)
    suppressed = sum(counts.rows[group] for group in small)
    return Suppression(
        k, len(counts.rows), frozenset(small), suppressed, counts.total_rows, max_fraction
    )
