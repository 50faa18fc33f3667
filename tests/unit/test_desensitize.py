"""Desensitization rules, per-batch transforms, k-anonymity counting and the two-pass file
pipeline, on the shipped public dataset and small hand-made tables."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataspace.dataplane.schema_check import arrow_schema, load_avro_schema
from dataspace.desensitize.kanon import count_groups, plan_suppression
from dataspace.desensitize.pipeline import KAnonymityViolation, desensitize_file
from dataspace.desensitize.rules import load_rules
from dataspace.desensitize.transform import (
    desensitize_batch,
    period_labels,
    pseudonym,
    split_address,
)
from dataspace.errors import ConfigError, InvalidInput
from dataspace.identity.uscc import validate_uscc
from dataspace.publicdata import dataset
from dataspace.resources import data_root

RULES_PATH = data_root() / "schemas" / "desensitization" / "public_energy_emissions.json"
SCHEMA = arrow_schema(
    load_avro_schema(data_root() / "schemas/products/public_energy_emissions.avsc")
)
KEY = bytes(range(32))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.parquet"
    pq.write_table(dataset.monthly_readings(), path)
    return path


def test_the_dataset_is_deterministic_with_valid_credit_codes() -> None:
    first, again = dataset.monthly_readings(), dataset.monthly_readings()
    assert first.equals(again)
    everyone = dataset.enterprises()
    assert first.num_rows == 12 * len(everyone)
    assert len({e.credit_code for e in everyone}) == len(everyone)
    for enterprise in everyone:
        assert validate_uscc(enterprise.credit_code) == enterprise.credit_code
        assert enterprise.address.startswith("江苏省")


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("江苏省南京市江宁区长江路12号", ("南京市", "江宁区")),
        ("江苏省无锡市江阴市人民路3号", ("无锡市", "江阴市")),
        ("江苏省连云港市灌云县港城路7号", ("连云港市", "灌云县")),
    ],
)
def test_an_address_is_generalized_to_city_and_district(
    address: str, expected: tuple[str, str]
) -> None:
    assert split_address(address) == expected


def test_an_address_without_city_is_refused_in_one_sentence() -> None:
    with pytest.raises(InvalidInput, match="names no city and district"):
        split_address("长江路12号")


def test_times_become_months_or_quarters_in_china_standard_time() -> None:
    # 2025-03-31 17:00 UTC is already April 1st in Beijing.
    times = pa.array([datetime(2025, 3, 31, 17, tzinfo=UTC), datetime(2025, 1, 5, tzinfo=UTC)],
                     pa.timestamp("us", tz="UTC"))  # fmt: skip
    assert period_labels(times, "month").to_pylist() == ["2025-04", "2025-01"]
    assert period_labels(times, "quarter").to_pylist() == ["2025-Q2", "2025-Q1"]


def test_a_pseudonym_depends_on_the_key_and_hides_the_code() -> None:
    code = dataset.enterprises()[0].credit_code
    assert pseudonym(KEY, code) == pseudonym(KEY, code)
    assert pseudonym(KEY, code) != pseudonym(b"other", code)
    assert code not in pseudonym(KEY, code)


def test_a_batch_loses_its_identifiers() -> None:
    rules = load_rules(RULES_PATH)
    batch = dataset.monthly_readings(3).to_batches()[0]
    table = desensitize_batch(batch, rules, KEY)
    assert set(table.column_names) == set(SCHEMA.names)
    assert table.num_rows == batch.num_rows


def test_k_anonymity_counts_entities_not_rows() -> None:
    table = pa.table({"area": ["a"] * 12 + ["b"] * 5, "ref": ["x"] * 12 + list("vwxyz")})
    counts = count_groups([table.slice(0, 7), table.slice(7)], ("area",), "ref")
    assert counts.entities() == {"a": 1, "b": 5}
    plan = plan_suppression(counts, k=5, max_fraction=0.8)
    assert plan.small_groups == {"a"}
    assert plan.suppressed_rows == 12
    assert plan.acceptable
    assert not plan_suppression(counts, k=5, max_fraction=0.5).acceptable


def test_the_file_pipeline_suppresses_small_groups(source: Path, tmp_path: Path) -> None:
    rules = load_rules(RULES_PATH)
    report = desensitize_file(source, tmp_path / "out.parquet", rules, KEY, SCHEMA)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.equals(SCHEMA)
    assert report.rows_out == out.num_rows == report.rows_in - report.suppressed_rows
    assert report.suppressed_groups >= 1
    assert report.smallest_group >= rules.k


def test_quarters_sum_the_months(source: Path, tmp_path: Path) -> None:
    rules = dataclasses.replace(load_rules(RULES_PATH), time_level="quarter")
    monthly = desensitize_file(source, tmp_path / "m.parquet", load_rules(RULES_PATH), KEY, SCHEMA)
    quarterly = desensitize_file(source, tmp_path / "q.parquet", rules, KEY, SCHEMA)
    assert quarterly.rows_out * 3 == monthly.rows_out
    total = [pq.read_table(tmp_path / name).column("electricity_kwh").to_pylist()
             for name in ("m.parquet", "q.parquet")]  # fmt: skip
    assert sum(total[0]) == sum(total[1])


def test_too_much_suppression_stops_before_writing(tmp_path: Path) -> None:
    small = tmp_path / "small.parquet"
    pq.write_table(dataset.monthly_readings(30), small)
    with pytest.raises(KAnonymityViolation, match="k-anonymity with k=5 would suppress"):
        desensitize_file(small, tmp_path / "out.parquet", load_rules(RULES_PATH), KEY, SCHEMA)
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"k": 1}, "k must be at least 2"),
        ({"max_suppressed_fraction": 1.5}, "max_suppressed_fraction"),
        ({"time": {"column": "t", "level": "week", "into": "p"}}, "time.level"),
        ({"drop": ["bad name!"]}, "column name"),
    ],
)
def test_bad_rules_are_one_config_error(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    doc = {**json.loads(RULES_PATH.read_text(encoding="utf-8")), **change}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_rules(path)
