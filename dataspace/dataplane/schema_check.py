"""A product's Avro schema as an Arrow schema, and the check of an input file against it.

Guarantees:

- :func:`arrow_schema` maps an Avro record to Arrow types (string, bytes, long, int, double,
  float, boolean, ``date``, ``timestamp-*``, ``decimal``); ``["null", T]`` makes a column
  nullable, any other union or nested type is refused with :class:`InvalidInput`;
- :func:`check_input` looks only at the header (Parquet footer, CSV header and first block) and
  raises one sentence naming every wrong type, missing and extra column;
- :func:`read_input` streams record batches that have exactly the expected schema. A value that
  does not fit (a CSV cell that is not a number, a null in a required column) is reported when
  its batch is read, so a caller must not act on earlier batches before the stream ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from dataspace.errors import InvalidInput
from dataspace.ids import column_name

Source = str | Path | BinaryIO

PRIMITIVES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bytes": pa.binary(),
    "long": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
}
TIMESTAMPS = {
    "timestamp-millis": ("ms", "UTC"),
    "timestamp-micros": ("us", "UTC"),
    "local-timestamp-millis": ("ms", None),
    "local-timestamp-micros": ("us", None),
}
MAX_DECIMAL128_PRECISION = 38
CSV_BLOCK_BYTES = 16 * 1024 * 1024
PARQUET_BATCH_ROWS = 64 * 1024
_CSV_COLUMN = re.compile(r"CSV column #(\d+)")


def load_avro_schema(path: str | Path) -> dict[str, Any]:
    """Read and validate an ``.avsc`` file that describes a product's rows (an Avro record)."""
    import fastavro  # noqa: PLC0415  (fastavro is only needed where schemas are loaded)

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        fastavro.parse_schema(document)
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise InvalidInput(
            f"The schema {path} cannot be read ({exc}); fix the .avsc file."
        ) from exc
    if not isinstance(document, dict) or document.get("type") != "record":
        raise InvalidInput(f"The schema {path} is not an Avro record; a product's rows need one.")
    return document


def arrow_schema(avro: Mapping[str, Any]) -> pa.Schema:
    """The Arrow schema for the rows an Avro record describes."""
    fields = avro.get("fields")
    if avro.get("type") != "record" or not isinstance(fields, list):
        raise InvalidInput("The product schema must be an Avro record with a list of fields.")
    return pa.schema([_arrow_field(field) for field in fields])


def _arrow_field(field: Mapping[str, Any]) -> pa.Field:
    name = column_name(field.get("name"))
    avro_type = field.get("type")
    nullable = False
    if isinstance(avro_type, list):
        others = [branch for branch in avro_type if branch != "null"]
        if len(others) != 1 or len(avro_type) != len(others) + 1:
            raise InvalidInput(
                f'The column {name} has the union type {avro_type}; only ["null", T] is '
                "supported for a product's rows."
            )
        nullable, avro_type = True, others[0]
    return pa.field(name, _arrow_type(name, avro_type), nullable=nullable)


def _arrow_type(name: str, avro_type: Any) -> pa.DataType:
    if isinstance(avro_type, str) and avro_type in PRIMITIVES:
        return PRIMITIVES[avro_type]
    if isinstance(avro_type, Mapping):
        base, logical = avro_type.get("type"), avro_type.get("logicalType")
        if logical == "date" and base == "int":
            return pa.date32()
        if logical in TIMESTAMPS and base == "long":
            unit, tz = TIMESTAMPS[logical]
            return pa.timestamp(unit, tz=tz)
        if logical == "decimal" and base in ("bytes", "fixed"):
            return _decimal(name, avro_type)
        if logical is None and base in PRIMITIVES:
            return PRIMITIVES[base]
    raise InvalidInput(
        f"The column {name} has the Avro type {json.dumps(avro_type)}, which a product's rows "
        "cannot use; use a primitive, date, timestamp or decimal type."
    )


def _decimal(name: str, avro_type: Mapping[str, Any]) -> pa.DataType:
    precision, scale = avro_type.get("precision"), avro_type.get("scale", 0)
    if not isinstance(precision, int) or not 0 < precision <= MAX_DECIMAL128_PRECISION:
        raise InvalidInput(
            f"The decimal column {name} needs a precision from 1 to {MAX_DECIMAL128_PRECISION}."
        )
    return pa.decimal128(precision, scale)


def avro_type_name(arrow_type: pa.DataType) -> str:
    """How a type is named in messages: in Avro's words where there are some."""
    for avro_name, candidate in PRIMITIVES.items():
        if arrow_type == candidate:
            return avro_name
    if pa.types.is_date32(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        local = "" if arrow_type.tz else "local-"
        return f"{local}timestamp-{'millis' if arrow_type.unit == 'ms' else 'micros'}"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    return str(arrow_type)


def check_input(source: Source, avro: Mapping[str, Any]) -> pa.Schema:
    """Check the columns of a Parquet or CSV input against the product's schema.

    Returns the Arrow schema that :func:`read_input` will yield. Raises InvalidInput with one
    sentence listing every wrong type, missing and extra column.
    """
    expected = arrow_schema(avro)
    if _is_parquet(source):
        _compare(_parquet_schema(source), expected)
    else:
        _open_csv(source, expected).close()
    return expected


def read_input(source: Source, avro: Mapping[str, Any]) -> Iterator[pa.RecordBatch]:
    """Stream the input as record batches with exactly the product's Arrow schema."""
    expected = arrow_schema(avro)
    if _is_parquet(source):
        _compare(_parquet_schema(source), expected)
        batches = pq.ParquetFile(source).iter_batches(batch_size=PARQUET_BATCH_ROWS)
        for batch in batches:
            yield conform(batch, expected)
        return
    reader = _open_csv(source, expected)  # a stream can be read once: no separate check
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as exc:
                raise _csv_value_error(exc, expected) from exc
            yield conform(batch, expected)
    finally:
        reader.close()


def conform(batch: pa.RecordBatch, expected: pa.Schema) -> pa.RecordBatch:
    """``batch`` cast to ``expected``: required columns must hold no nulls."""
    columns = []
    for field in expected:
        column = batch.column(field.name)
        if not field.nullable and column.null_count:
            raise InvalidInput(
                f"The column {field.name} has {column.null_count} empty values but the "
                "product's schema requires a value in every row; fill them in and publish again."
            )
        columns.append(column if column.type == field.type else _cast(column, field))
    return pa.RecordBatch.from_arrays(columns, schema=expected)


def _cast(column: pa.Array, field: pa.Field) -> pa.Array:
    try:
        return column.cast(field.type, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(
            f"The column {field.name} has values that do not fit "
            f"{avro_type_name(field.type)} ({exc}); fix them and publish again."
        ) from exc


def _is_parquet(source: Source) -> bool:
    if isinstance(source, str | Path):
        return Path(source).suffix.lower() in (".parquet", ".parq")
    position = source.tell()
    magic = source.read(4)
    source.seek(position)
    return magic == b"PAR1"


def _parquet_schema(source: Source) -> pa.Schema:
    try:
        return pq.ParquetFile(source).schema_arrow
    except (OSError, pa.ArrowInvalid) as exc:
        raise InvalidInput(f"The input is not a readable Parquet file ({exc}).") from exc


def _open_csv(source: Source, expected: pa.Schema) -> pcsv.CSVStreamingReader:
    options = pcsv.ConvertOptions(
        column_types=expected, strings_can_be_null=True, quoted_strings_can_be_null=False
    )
    try:
        reader = pcsv.open_csv(
            source,
            read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
            convert_options=options,
        )
    except pa.ArrowInvalid as exc:
        raise _csv_value_error(exc, expected) from exc
    except OSError as exc:
        raise InvalidInput(f"The CSV input cannot be read ({exc}).") from exc
    try:
        _compare(reader.schema, expected)
    except InvalidInput:
        reader.close()
        raise
    return reader


def _csv_value_error(exc: pa.ArrowInvalid, expected: pa.Schema) -> InvalidInput:
    text = str(exc)
    match = _CSV_COLUMN.search(text)
    where = "a column"
    if match and int(match.group(1)) < len(expected):
        field = expected.field(int(match.group(1)))
        where = f"column {field.name} ({avro_type_name(field.type)})"
    return InvalidInput(f"The CSV input has a value that does not fit {where}: {text}.")


def _compare(actual: pa.Schema, expected: pa.Schema) -> None:
    problems = []
    for field in expected:
        index = actual.get_field_index(field.name)
        if index < 0:
            continue
        found = actual.field(index).type
        if not _compatible(found, field.type):
            problems.append(
                f"column {field.name} is {avro_type_name(found)}, "
                f"expected {avro_type_name(field.type)}"
            )
    missing = [name for name in expected.names if name not in actual.names]
    extra = [name for name in actual.names if name not in expected.names]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if extra:
        problems.append(f"extra column{'s' if len(extra) > 1 else ''} {', '.join(extra)}")
    if problems:
        raise InvalidInput(f"The input does not match the product's schema: {'; '.join(problems)}.")


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Equal, or a lossless widening that :func:`conform` performs (int32 to long, ...)."""
    if actual == expected:
        return True
    if pa.types.is_integer(actual) and pa.types.is_signed_integer(expected):
        signed_fits = pa.types.is_signed_integer(actual) and actual.bit_width <= expected.bit_width
        return bool(signed_fits or actual.bit_width < expected.bit_width)
    if pa.types.is_float32(actual) and pa.types.is_float64(expected):
        return True
    if pa.types.is_large_string(actual) or pa.types.is_string_view(actual):
        return bool(pa.types.is_string(expected))
    if pa.types.is_timestamp(actual) and pa.types.is_timestamp(expected):
        return bool(actual.tz == expected.tz)
    return False
