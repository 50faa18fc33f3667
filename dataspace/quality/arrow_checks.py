"""Row-wise expectations checked with Arrow compute instead of GX, with GX's results.

The gate hands GX a pandas chunk per run, and GX fingerprints every chunk by hashing all of
it: for a plain null or bounds check that costs more than the check. The two commonest
row-wise expectations are therefore checked here, on the Arrow chunk, when their arguments are
ones whose meaning is plain:

- ``expect_column_values_to_not_be_null`` (``column``, ``mostly``): null and NaN are
  unexpected, as for GX on pandas;
- ``expect_column_values_to_be_between`` (``column``, numeric ``min_value``/``max_value``,
  ``strict_min``/``strict_max``, ``mostly``): null and NaN are missing (not counted against
  ``mostly``), a present value outside the bounds is unexpected.

Results have GX's shape (``element_count``, ``unexpected_count``, ``missing_count``,
``partial_unexpected_list``) so they merge and report the same way; ``tests/unit`` checks them
against GX itself. Any other argument leaves the expectation to GX.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"
SAMPLE_VALUES = 20
_BETWEEN_ARGS = frozenset(
    {"column", "min_value", "max_value", "strict_min", "strict_max", "mostly"}
)


def checkable(expectation: Mapping[str, Any]) -> bool:
    """True when this module checks the expectation exactly as GX does."""
    kind, kwargs = expectation["type"], expectation["kwargs"]
    if kind == NOT_NULL:
        return set(kwargs) <= {"column", "mostly"}
    if kind == BETWEEN:
        bounds = [kwargs.get("min_value"), kwargs.get("max_value")]
        numeric = all(b is None or (isinstance(b, int | float) and not isinstance(b, bool))
                      for b in bounds)  # fmt: skip
        return set(kwargs) <= _BETWEEN_ARGS and numeric and bounds != [None, None]
    return False


def check(expectation: Mapping[str, Any], chunk: pa.Table) -> dict[str, Any]:
    """The GX-shaped result on one chunk (``success``, ``result``, ``exception_info``)."""
    kwargs = expectation["kwargs"]
    name = str(kwargs["column"])
    if name not in chunk.column_names:
        return _exception(f"The column {name!r} is not in the release.")
    column = chunk.column(name)
    missing = pc.is_null(column, nan_is_null=True)
    if expectation["type"] == NOT_NULL:
        return _result(column, missing, None, kwargs)
    try:
        return _result(column, pc.invert(_within(column, kwargs)), missing, kwargs)
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        return _exception(f"The column {name!r} cannot be compared with the bounds: {exc}")


def _exception(message: str) -> dict[str, Any]:
    return {
        "success": False,
        "result": {},
        "exception_info": {"raised_exception": True, "exception_message": message},
    }


def _within(column: pa.ChunkedArray | pa.Array, kwargs: Mapping[str, Any]) -> Any:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    inside = pc.is_valid(column)
    if low is not None:
        above = pc.greater if kwargs.get("strict_min") else pc.greater_equal
        inside = pc.and_(inside, above(column, low))
    if high is not None:
        below = pc.less if kwargs.get("strict_max") else pc.less_equal
        inside = pc.and_(inside, below(column, high))
    return inside


def _result(
    column: pa.ChunkedArray | pa.Array,
    unexpected: Any,
    missing: Any | None,
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    if missing is not None:
        unexpected = pc.and_(unexpected, pc.invert(missing))
    count = int(pc.sum(unexpected).as_py() or 0)
    elements = len(column)
    if missing is None:  # the unexpected values are nulls and NaNs: GX lists them as None
        sample: list[Any] = [None] * min(count, SAMPLE_VALUES)
    else:
        sample = column.filter(unexpected).slice(0, SAMPLE_VALUES).to_pylist() if count else []
    result: dict[str, Any] = {
        "element_count": elements,
        "unexpected_count": count,
        "partial_unexpected_list": sample,
    }
    present = elements
    if missing is not None:
        result["missing_count"] = int(pc.sum(missing).as_py() or 0)
        present -= result["missing_count"]
    result["unexpected_percent"] = 100.0 * count / present if present else None
    met = present == 0 or (present - count) / present >= float(kwargs.get("mostly", 1.0))
    return {"success": met, "result": result, "exception_info": {}}
