"""The product schema as Arrow types, and the check of Parquet and CSV inputs against it."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from dataspace.dataplane.schema_check import (
    arrow_schema,
    check_input,
    load_avro_schema,
    read_input,
)
from dataspace.errors import InvalidInput
from tests.worlds.dataplane_data import SCHEMA_PATH, avro, orders


def record(*fields: dict[str, object]) -> dict[str, object]:
    return {"type": "record", "name": "R", "fields": list(fields)}


def test_avro_types_map_to_arrow_types_and_unions_to_nullability() -> None:
    schema = arrow_schema(load_avro_schema(SCHEMA_PATH))
    assert schema.field("quantity").type == pa.int64()
    assert not schema.field("quantity").nullable
    assert schema.field("week").type == pa.date32()
    assert schema.field("created_at").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("unit_price").type == pa.decimal128(12, 2)
    assert schema.field("unit_price").nullable
    assert schema.field("weight_kg").type == pa.float64()
    assert schema.field("urgent").type == pa.bool_()


@pytest.mark.parametrize(
    ("avro_type", "arrow_type"),
    [
        ("int", pa.int32()),
        ("float", pa.float32()),
        ("bytes", pa.binary()),
        ({"type": "long", "logicalType": "timestamp-micros"}, pa.timestamp("us", tz="UTC")),
        ({"type": "long", "logicalType": "local-timestamp-millis"}, pa.timestamp("ms")),
    ],
)
def test_more_primitive_and_logical_types(avro_type: object, arrow_type: pa.DataType) -> None:
    assert arrow_schema(record({"name": "x", "type": avro_type})).field("x").type == arrow_type


@pytest.mark.parametrize(
    ("avro_type", "words"),
    [
        (["null", "string", "long"], "union"),
        ({"type": "array", "items": "string"}, "cannot use"),
        ({"type": "bytes", "logicalType": "decimal", "precision": 60}, "precision"),
    ],
)
def test_unsupported_avro_types_are_refused(avro_type: object, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        arrow_schema(record({"name": "x", "type": avro_type}))


def test_a_column_name_that_is_not_safe_is_refused() -> None:
    with pytest.raises(InvalidInput, match="column name"):
        arrow_schema(record({"name": "bad name", "type": "string"}))


def test_a_matching_parquet_input_passes_and_streams_in_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pq.write_table(orders(100), path)
    schema = check_input(path, avro())
    table = pa.Table.from_batches(list(read_input(path, avro())))
    assert table.schema == schema
    assert table.equals(orders(100))


def test_parquet_mismatch_names_wrong_types_missing_and_extra_columns(tmp_path: Path) -> None:
    table = orders(10).drop_columns(["week"])
    index = table.schema.get_field_index("quantity")
    table = table.set_column(index, "quantity", table.column("quantity").cast(pa.string()))
    table = table.append_column("colour", pa.array(["red"] * 10))
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    with pytest.raises(InvalidInput) as caught:
        check_input(path, avro())
    assert str(caught.value) == (
        "The input does not match the product's schema: column quantity is string, "
        "expected long; missing column week; extra column colour."
    )


def test_a_narrower_integer_column_is_widened(tmp_path: Path) -> None:
    table = orders(10)
    table = table.set_column(4, "quantity", table.column("quantity").cast(pa.int32()))
    path = tmp_path / "narrow.parquet"
    pq.write_table(table, path)
    batches = list(read_input(path, avro()))
    assert batches[0].column("quantity").type == pa.int64()


def test_nulls_in_a_required_column_are_reported(tmp_path: Path) -> None:
    table = orders(10)
    schema = table.schema.set(1, pa.field("supplier_id", pa.string()))
    table = table.cast(schema).set_column(1, "supplier_id", pa.array(["s"] * 9 + [None]))
    path = tmp_path / "nulls.parquet"
    pq.write_table(table, path)
    with pytest.raises(InvalidInput, match="supplier_id has 1 empty values"):
        list(read_input(path, avro()))


def csv_bytes(table: pa.Table) -> io.BytesIO:
    out = io.BytesIO()
    pcsv.write_csv(table, out)
    out.seek(0)
    return out


def test_csv_is_read_with_the_schema_types_not_inferred_ones() -> None:
    expected = orders(50)
    batches = list(read_input(csv_bytes(expected), avro()))
    table = pa.Table.from_batches(batches)
    assert table.schema == arrow_schema(avro())
    assert table.column("unit_price").equals(expected.column("unit_price"))
    assert table.column("contact_phone").to_pylist() == expected.column("contact_phone").to_pylist()
    assert table.equals(expected)


def test_csv_header_mismatch_names_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes(orders(5).drop_columns(["sku", "urgent"])).getvalue())
    with pytest.raises(InvalidInput, match="missing columns sku, urgent"):
        check_input(path, avro())


def test_a_csv_value_that_does_not_fit_names_its_column() -> None:
    text = csv_bytes(orders(3)).getvalue().decode().replace(",1,", ",many,", 1)
    with pytest.raises(InvalidInput, match=r"column quantity \(long\)"):
        list(read_input(io.BytesIO(text.encode()), avro()))
