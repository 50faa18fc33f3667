"""Event bodies must be encoded the one way Avro writers encode them.

fastavro reads some bytes that no Avro writer produces and gives them a meaning: an enum or
union index of -1 picks the *last* symbol or branch (Python's negative indexing), an overlong
varint reads as a small number, a boolean byte of 2 reads as true. A producer could so sign
bytes that another Avro reader refuses or reads differently. A body is therefore accepted only
if writing back what fastavro read gives the very same bytes; the check needs no knowledge of
fastavro's internals and covers every type.

Logical types are left out of the check (a uuid stays a string, a timestamp a long): what is
compared is the Avro encoding, not the spelling of a value (an upper-case uuid is still valid).
Arrays and maps written in several blocks, or with byte-size-prefixed blocks, are refused too;
fastavro, Avro's Java ``BinaryEncoder`` and our producers write one block.

Guarantees: :func:`plain_schema` is pure; :func:`is_canonical` never raises for any bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

# What fastavro raises on bytes that are not a body of the schema, or on a value it read but
# cannot write back (a varint beyond 64 bits).
_AVRO_ERRORS = (
    EOFError,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    AttributeError,
    OverflowError,
    MemoryError,
)


def plain_schema(raw_schema: Mapping[str, Any]) -> Any:
    """The parsed ``raw_schema`` without its logical types, for :func:`is_canonical`."""
    return parse_schema(_without_logical_types(dict(raw_schema)))


def is_canonical(data: bytes, plain: Any) -> bool:
    """True if ``data`` is exactly one body of ``plain`` as an Avro writer encodes it."""
    try:
        body = schemaless_reader(io.BytesIO(data), plain, None)
        written = io.BytesIO()
        schemaless_writer(written, plain, body)
    except _AVRO_ERRORS:
        return False
    return written.getvalue() == data


def _without_logical_types(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_without_logical_types(item) for item in schema]
    return schema
