"""The Arrow null and bounds checks give GX's own answers: GX is the oracle, on the same data."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from dataspace.quality import arrow_checks
from dataspace.quality.gx_runner import GxRunner

TABLE = pa.table(
    {
        "x": pa.array([1.0, None, float("nan"), 5.0, 10.0, -1.0, 0.5, 3.0]),
        "i": pa.array([1, 2, None, 4, 5, 6, 0, 9]),
        "s": pa.array(["a", None, "b", "c", "d", "e", "", "f"]),
    }
)
CASES: list[dict[str, Any]] = [
    {"column": "x"},
    {"column": "i"},
    {"column": "s"},
    {"column": "x", "mostly": 0.7},
    {"column": "x", "min_value": 0},
    {"column": "x", "min_value": 1, "max_value": 10, "strict_max": True, "mostly": 0.5},
    {"column": "x", "max_value": 3.0, "strict_min": True},
    {"column": "i", "min_value": 2},
    {"column": "i", "min_value": 0, "max_value": 9, "strict_min": True, "strict_max": True},
    {"column": "i", "min_value": 0.5, "max_value": 5.5},
]


def expectations() -> list[dict[str, Any]]:
    found = []
    for kwargs in CASES:
        kind = (
            arrow_checks.BETWEEN
            if {"min_value", "max_value"} & set(kwargs)
            else arrow_checks.NOT_NULL
        )
        found.append({"type": kind, "kwargs": kwargs})
    return found


def test_arrow_results_are_the_results_gx_gives() -> None:
    chosen = expectations()
    assert all(arrow_checks.checkable(item) for item in chosen)
    oracle = GxRunner("oracle", chosen).run(TABLE.to_pandas())

    for expectation, expected in zip(chosen, oracle, strict=True):
        ours = arrow_checks.check(expectation, TABLE)
        theirs = expected["result"]
        assert ours["success"] == expected["success"], expectation
        for count in ("element_count", "unexpected_count", "missing_count"):
            assert ours["result"].get(count) == theirs.get(count), (expectation, count)
        sample = [
            None if v is None else float(v) for v in ours["result"]["partial_unexpected_list"]
        ]
        assert sample == [
            None if v is None else float(v) for v in theirs["partial_unexpected_list"]
        ]


@pytest.mark.parametrize(
    "expectation",
    [
        {"type": arrow_checks.BETWEEN, "kwargs": {"column": "x"}},
        {"type": arrow_checks.BETWEEN, "kwargs": {"column": "x", "min_value": "2026-01-01"}},
        {"type": arrow_checks.BETWEEN, "kwargs": {"column": "x", "min_value": True}},
        {"type": arrow_checks.NOT_NULL, "kwargs": {"column": "x", "result_format": "COMPLETE"}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "s", "regex": "a"}},
    ],
)
def test_anything_else_is_left_to_gx(expectation: dict[str, Any]) -> None:
    assert not arrow_checks.checkable(expectation)


def test_a_missing_or_incomparable_column_is_an_exception_not_a_crash() -> None:
    missing = arrow_checks.check({"type": arrow_checks.NOT_NULL, "kwargs": {"column": "no"}}, TABLE)
    strings = arrow_checks.check(
        {"type": arrow_checks.BETWEEN, "kwargs": {"column": "s", "min_value": 1}}, TABLE
    )
    for result in (missing, strings):
        assert result["success"] is False
        assert result["exception_info"]["raised_exception"] is True
