"""The quality gate: a GX suite run chunk by chunk, merged as if run on the whole release."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from dataspace.errors import InvalidInput
from dataspace.quality.gate import validate
from tests.worlds.dataplane_data import SUITE_PATH, VECTORS, orders


def test_good_orders_pass_with_statistics_and_a_json_report() -> None:
    report = validate(orders(1000), SUITE_PATH, chunk_rows=300)
    assert report.passed, report.summary()
    assert report.statistics["rows"] == 1000
    assert report.statistics["chunks"] == 4
    assert report.statistics["evaluated_expectations"] == 9
    json.dumps(report.report_json, allow_nan=False)
    assert report.summary().startswith("passed: 9 of 9 expectations met on 1000 rows")


def with_column(table: pa.Table, name: str, values: list[object]) -> pa.Table:
    index = table.schema.get_field_index(name)
    field = table.schema.field(index)
    return table.set_column(index, field, pa.array(values, field.type))


def test_row_wise_failures_are_counted_over_all_chunks() -> None:
    table = orders(1000)
    quantities = table.column("quantity").to_pylist()
    for index in (5, 450, 999):  # one bad value in each of three chunks
        quantities[index] = 20000
    report = validate(with_column(table, "quantity", quantities), SUITE_PATH, chunk_rows=300)
    assert not report.passed
    failures = {(f.type, f.column): f.observed for f in report.failed_expectations}
    assert failures[("expect_column_values_to_be_between", "quantity")] == 3
    assert failures[("expect_column_max_to_be_between", "quantity")] == 20000
    assert "FAILED" in report.summary()


def test_uniqueness_is_checked_across_chunks() -> None:
    table = orders(600)
    ids = table.column("order_id").to_pylist()
    ids[599] = ids[0]  # the duplicate lies in another chunk than the original
    report = validate(with_column(table, "order_id", ids), SUITE_PATH, chunk_rows=200)
    failures = {f.type: f.observed for f in report.failed_expectations}
    assert failures == {"expect_column_values_to_be_unique": 2}


def test_mostly_is_decided_on_the_totals_not_per_chunk() -> None:
    table = orders(1000)
    weights = table.column("weight_kg").to_pylist()
    # 8 % negative, all inside the first chunk: that chunk alone is below mostly=0.9,
    # the whole release is not.
    weights[:80] = [-1.0] * 80
    report = validate(with_column(table, "weight_kg", weights), SUITE_PATH, chunk_rows=250)
    assert report.passed, report.summary()


def test_a_table_with_a_wrong_column_set_fails_the_schema_expectation() -> None:
    table = orders(10).rename_columns([*orders(1).column_names[:-1], "made_at"])
    report = validate(table, SUITE_PATH)
    assert [f.type for f in report.failed_expectations] == ["expect_table_columns_to_match_set"]


def test_an_empty_release_is_validated_against_its_schema() -> None:
    report = validate(orders(0), SUITE_PATH)
    failures = [f.type for f in report.failed_expectations]
    assert failures == ["expect_table_row_count_to_be_between", "expect_column_max_to_be_between"]


def test_expectations_that_need_the_whole_dataset_in_memory_are_refused() -> None:
    with pytest.raises(InvalidInput, match="expect_column_median_to_be_between"):
        validate(orders(10), VECTORS / "quality" / "unsupported.json")


def test_an_invalid_expectation_is_refused_with_gx_reason(tmp_path: Path) -> None:
    suite = tmp_path / "bad.json"
    suite.write_text(
        json.dumps(
            {
                "name": "bad",
                "expectations": [
                    {"type": "expect_column_values_to_be_between", "kwargs": {"colum": "x"}}
                ],
            }
        )
    )
    with pytest.raises(InvalidInput, match="not valid"):
        validate(orders(10), suite)
