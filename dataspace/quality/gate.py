"""The quality gate: a GX 1.x expectation suite checked against a release in bounded memory.

The release is validated chunk by chunk (``chunk_rows`` rows, converted to pandas one at a
time). Each expectation of the suite is checked in one of three ways, chosen by its type:

- **per chunk, merged** (batch-decomposable): row-wise expectations (not null, in set, between,
  regex, lengths, ...) run with GX on every chunk; their counts are summed and ``mostly`` is
  decided on the totals. Type expectations pass when every chunk passes. Plain null and
  numeric-bounds checks run on the Arrow chunk instead (:mod:`dataspace.quality.arrow_checks`,
  same results, no GX fingerprint of the chunk); GX gets only the columns it still checks.
- **on the first chunk**: expectations about the table's columns (names, order, count); every
  chunk has the same columns, so one is enough.
- **streamed**: row count, column min/max and uniqueness are dataset-level; they are computed
  over all batches with Arrow (:mod:`dataspace.quality.accumulators`).

Any other expectation type is refused when the suite is loaded, rather than silently checked on
a sample. Memory: one chunk (as Arrow and pandas) plus the streamed state.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from dataspace.errors import InvalidInput
from dataspace.quality import arrow_checks
from dataspace.quality.accumulators import Accumulator, accumulator_for
from dataspace.quality.gx_runner import check_expectations, runner_for

CHUNK_ROWS = 128 * 1024
SAMPLE_VALUES = 20
ROW_WISE = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_be_between",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
        "expect_column_values_to_match_strftime_format",
    }
)
EVERY_CHUNK = frozenset(
    {"expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list"}
)
FIRST_CHUNK = frozenset(
    {
        "expect_column_to_exist",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
        "expect_table_column_count_to_equal",
        "expect_table_column_count_to_be_between",
    }
)
STREAMED = frozenset(
    {
        "expect_table_row_count_to_equal",
        "expect_table_row_count_to_be_between",
        "expect_column_min_to_be_between",
        "expect_column_max_to_be_between",
        "expect_column_values_to_be_unique",
    }
)


@dataclass(frozen=True)
class FailedExpectation:
    type: str
    column: str | None
    observed: Any  # unexpected row count for row-wise checks, else the observed value


@dataclass(frozen=True)
class QualityReport:
    passed: bool
    statistics: dict[str, Any]
    failed_expectations: tuple[FailedExpectation, ...]
    report_json: dict[str, Any]

    def summary(self) -> str:
        """One line for a person: the verdict, the counts and the first failures."""
        stats = self.statistics
        head = (
            f"{'passed' if self.passed else 'FAILED'}: {stats['successful_expectations']} of "
            f"{stats['evaluated_expectations']} expectations met on {stats['rows']} rows"
        )
        failures = [
            f"{item.type}({item.column or 'table'}) observed {item.observed}"
            for item in self.failed_expectations[:3]
        ]
        return head + ("; " + "; ".join(failures) if failures else "")


@dataclass(frozen=True)
class Suite:
    name: str
    expectations: tuple[dict[str, Any], ...]


def load_suite(path: str | Path) -> Suite:
    """Read a GX 1.x suite (JSON) and refuse expectations the gate cannot check in bounds."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        name, items = str(document["name"]), document["expectations"]
        expectations = tuple(
            {"type": i["type"], "kwargs": dict(i.get("kwargs", {}))} for i in items
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInput(
            f"The expectation suite {path} cannot be read ({exc}); it must be a GX 1.x suite "
            'in JSON: {"name": ..., "expectations": [{"type": ..., "kwargs": {...}}]}.'
        ) from exc
    known = ROW_WISE | EVERY_CHUNK | FIRST_CHUNK | STREAMED
    unsupported = sorted({item["type"] for item in expectations} - known)
    if unsupported:
        raise InvalidInput(
            f"The expectation suite {path} uses {', '.join(unsupported)}, which the quality gate "
            "cannot check in bounded memory; use the supported types listed in "
            "dataspace/quality/gate.py."
        )
    check_expectations(name, expectations)
    return Suite(name, expectations)


def validate(
    data: pa.Table | Iterable[pa.RecordBatch],
    suite_path: str | Path,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> QualityReport:
    """Check ``data`` against the suite at ``suite_path`` (see the module docstring)."""
    validation = Validation(load_suite(suite_path), chunk_rows=chunk_rows)
    for batch in data.to_batches() if isinstance(data, pa.Table) else data:
        validation.add(batch)
    return validation.report(data.schema if isinstance(data, pa.Table) else None)


class Validation:
    """:func:`validate` fed one batch at a time: :meth:`add` every batch of the release in
    order, then :meth:`report`. Publishing feeds it the batches it is writing. Not
    thread-safe: one thread adds, then the same or another reports."""

    def __init__(self, suite: Suite, *, chunk_rows: int = CHUNK_ROWS) -> None:
        self.suite, self.chunk_rows = suite, chunk_rows
        self.kinds = [item["type"] for item in suite.expectations]
        per_chunk = [i for i, kind in enumerate(self.kinds) if kind in ROW_WISE | EVERY_CHUNK]
        self.arrowed = [i for i in per_chunk if arrow_checks.checkable(suite.expectations[i])]
        chunked = [i for i in per_chunk if i not in self.arrowed]
        first = [i for i, kind in enumerate(self.kinds) if kind in FIRST_CHUNK]
        self.chunked, self.first = chunked, first
        self.chunk_runner = runner_for(suite.name, [suite.expectations[i] for i in chunked])
        self.first_runner = runner_for(suite.name, [suite.expectations[i] for i in first])
        self.streamed: dict[int, Accumulator] = {
            i: accumulator_for(kind, suite.expectations[i]["kwargs"])
            for i, kind in enumerate(self.kinds)
            if kind in STREAMED
        }
        self.merged: dict[int, dict[str, Any]] = {}
        self.rows = self.chunks = 0
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._schema: pa.Schema | None = None

    def add(self, batch: pa.RecordBatch) -> None:
        """Take the next batch; checks a chunk whenever ``chunk_rows`` rows are in hand."""
        for piece in _at_most(batch, self.chunk_rows):
            self._schema = piece.schema
            for accumulator in self.streamed.values():
                accumulator.add(piece)
            self._pending.append(piece)
            self._pending_rows += piece.num_rows
            if self._pending_rows >= self.chunk_rows:
                self._chunk(pa.Table.from_batches(self._pending))
                self._pending, self._pending_rows = [], 0

    def report(self, schema: pa.Schema | None = None) -> QualityReport:
        """Check the last chunk and give the verdict; ``schema`` serves an empty release."""
        if self._pending or self.chunks == 0:
            schema = self._schema or schema
            if schema is None:
                raise InvalidInput("The release is empty and has no schema to validate.")
            self._chunk(pa.Table.from_batches(self._pending, schema=schema))
            self._pending, self._pending_rows = [], 0
        return self._report()

    def _chunk(self, table: pa.Table) -> None:
        if self.chunks == 0:
            head = table.slice(0, SAMPLE_VALUES).to_pandas()
            for index, result in zip(self.first, self.first_runner.run(head), strict=True):
                self.merged[index] = result
        self.chunks += 1
        self.rows += table.num_rows
        for index in self.arrowed:
            expectation = self.suite.expectations[index]
            result = arrow_checks.check(expectation, table)
            self.merged[index] = _merge(self.merged.get(index), result)
        if not self.chunked:
            return
        columns = {self.suite.expectations[i]["kwargs"].get("column") for i in self.chunked}
        frame = table.select([name for name in table.column_names if name in columns]).to_pandas()
        for index, result in zip(self.chunked, self.chunk_runner.run(frame), strict=True):
            self.merged[index] = _merge(self.merged.get(index), result)

    def _report(self) -> QualityReport:
        for index, accumulator in self.streamed.items():
            success, result = accumulator.finish()
            self.merged[index] = {"success": success, "result": result}
        results = [self._entry(index) for index in range(len(self.kinds))]
        met = sum(1 for item in results if item["success"])
        statistics = {
            "evaluated_expectations": len(results),
            "successful_expectations": met,
            "unsuccessful_expectations": len(results) - met,
            "success_percent": 100.0 * met / len(results) if results else 100.0,
            "rows": self.rows,
            "chunks": self.chunks,
        }
        failed = tuple(_failure(item) for item in results if not item["success"])
        report = {
            "suite_name": self.suite.name,
            "success": not failed,
            "statistics": statistics,
            "results": results,
            "meta": {"great_expectations_version": self.chunk_runner.version},
        }
        return QualityReport(not failed, statistics, failed, report)

    def _entry(self, index: int) -> dict[str, Any]:
        kind, expectation = self.kinds[index], self.suite.expectations[index]
        merged = self.merged[index]
        if kind in ROW_WISE:
            success = _mostly_met(merged["result"], expectation["kwargs"])
            merged = {**merged, "success": success and not merged.get("exception")}
        checked = (
            "per_chunk"
            if kind in ROW_WISE | EVERY_CHUNK
            else "first_chunk"
            if kind in FIRST_CHUNK
            else "streamed"
        )
        engine = "arrow" if index in self.arrowed or kind in STREAMED else "great_expectations"
        return {
            "type": kind,
            "kwargs": expectation["kwargs"],
            "checked": checked,
            "engine": engine,
            **merged,
        }


def _at_most(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    """``batch`` cut so that no piece is longer than ``rows`` (slices: no copy)."""
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def _merge(previous: dict[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any]:
    """Sum one chunk's GX result into the running result of the same expectation."""
    result = dict(current.get("result") or {})
    info = current.get("exception_info") or {}
    exception = info.get("exception_message") if info.get("raised_exception") else None
    merged = {"success": bool(current["success"]), "result": result, "exception": exception}
    if previous is None:
        return merged
    total = dict(previous["result"])
    for count in ("element_count", "unexpected_count", "missing_count"):
        if count in result:
            total[count] = total.get(count, 0) + result[count]
    samples = total.get("partial_unexpected_list", []) + result.get("partial_unexpected_list", [])
    if samples:
        total["partial_unexpected_list"] = samples[:SAMPLE_VALUES]
    return {
        "success": previous["success"] and merged["success"],
        "result": total,
        "exception": previous["exception"] or exception,
    }


def _mostly_met(result: Mapping[str, Any], kwargs: Mapping[str, Any]) -> bool:
    present = result.get("element_count", 0) - result.get("missing_count", 0)
    if present <= 0:
        return True
    met = (present - result.get("unexpected_count", 0)) / present
    return bool(met >= float(kwargs.get("mostly", 1.0)))


def _failure(entry: Mapping[str, Any]) -> FailedExpectation:
    result = entry.get("result", {})
    observed = entry.get("exception") or result.get(
        "unexpected_count", result.get("observed_value")
    )
    return FailedExpectation(entry["type"], entry["kwargs"].get("column"), observed)
