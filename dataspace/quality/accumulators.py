"""Dataset-level expectations checked while streaming, with Arrow compute and small state.

A per-chunk run cannot decide these: a row count, a column's minimum or maximum, and
uniqueness across the whole release. Each accumulator sees every record batch once and keeps:

- row count, min, max: a few numbers;
- uniqueness: one 64-bit hash per non-null value (8 bytes a row, so 8 MB per million rows: the
  only state here that grows with the release). Two different values with the same hash would
  count as a duplicate; with 64 bits that happens with probability below 1e-7 at 1e6 rows.

Results have the shape GX gives (``observed_value``, ``element_count``, ``unexpected_count``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataspace.errors import InvalidInput


class Accumulator(Protocol):
    def add(self, batch: pa.RecordBatch) -> None: ...

    def finish(self) -> tuple[bool, dict[str, Any]]: ...


def accumulator_for(kind: str, kwargs: Mapping[str, Any]) -> Accumulator:
    if kind == "expect_table_row_count_to_equal":
        value = kwargs.get("value")
        return RowCount(value, value)
    if kind == "expect_table_row_count_to_be_between":
        return RowCount(kwargs.get("min_value"), kwargs.get("max_value"))
    if kind in ("expect_column_min_to_be_between", "expect_column_max_to_be_between"):
        return Extreme(kind.split("_")[2], kwargs)
    if kind == "expect_column_values_to_be_unique":
        return Unique(str(kwargs["column"]), float(kwargs.get("mostly", 1.0)))
    raise InvalidInput(f"The expectation {kind} cannot be checked while streaming.")


def within(value: Any, kwargs: Mapping[str, Any]) -> bool:
    """GX's bounds check: ``min_value``/``max_value`` (None = open), ``strict_*`` flags."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if value is None:
        return False
    if low is not None:
        low = _comparable(low, value)
        if value < low or (kwargs.get("strict_min") and value == low):
            return False
    if high is not None:
        high = _comparable(high, value)
        if value > high or (kwargs.get("strict_max") and value == high):
            return False
    return True


def _comparable(bound: Any, value: Any) -> Any:
    # Suites are JSON: a date or time bound arrives as an ISO 8601 string.
    if isinstance(bound, str) and isinstance(value, datetime):
        return datetime.fromisoformat(bound)
    if isinstance(bound, str) and isinstance(value, date):
        return date.fromisoformat(bound)
    return bound


class RowCount:
    def __init__(self, low: Any, high: Any) -> None:
        self.bounds = {"min_value": low, "max_value": high}
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows

    def finish(self) -> tuple[bool, dict[str, Any]]:
        return within(self.rows, self.bounds), {"observed_value": self.rows}


class Extreme:
    """The minimum or maximum of a column (nulls ignored) compared with bounds."""

    def __init__(self, which: str, kwargs: Mapping[str, Any]) -> None:
        self.which = which
        self.column = str(kwargs["column"])
        self.kwargs = kwargs
        self.value: Any = None

    def add(self, batch: pa.RecordBatch) -> None:
        found = pc.min_max(batch.column(self.column))[self.which].as_py()
        if found is None:
            return
        if self.value is None:
            self.value = found
        else:
            self.value = min(self.value, found) if self.which == "min" else max(self.value, found)

    def finish(self) -> tuple[bool, dict[str, Any]]:
        observed = self.value.isoformat() if isinstance(self.value, date) else self.value
        return within(self.value, self.kwargs), {"observed_value": observed}


class Unique:
    """Rows whose (non-null) value occurs more than once in the whole release are unexpected."""

    def __init__(self, column: str, mostly: float) -> None:
        self.column = column
        self.mostly = mostly
        self.rows = 0
        self.nulls = 0
        self._hashes: list[np.ndarray[Any, np.dtype[np.uint64]]] = []

    def add(self, batch: pa.RecordBatch) -> None:
        # pandas comes with GX; only its vectorised hash is used (it ships no type stubs).
        pd: Any = importlib.import_module("pandas")
        column = batch.column(self.column)
        self.rows += len(column)
        self.nulls += column.null_count
        values = column.drop_null().to_numpy(zero_copy_only=False)
        self._hashes.append(pd.util.hash_array(values))

    def finish(self) -> tuple[bool, dict[str, Any]]:
        hashes = np.concatenate(self._hashes) if self._hashes else np.empty(0, np.uint64)
        _, counts = np.unique(hashes, return_counts=True)
        unexpected = int(counts[counts > 1].sum())
        present = self.rows - self.nulls
        success = present == 0 or (present - unexpected) / present >= self.mostly
        return success, {
            "element_count": self.rows,
            "missing_count": self.nulls,
            "unexpected_count": unexpected,
        }
