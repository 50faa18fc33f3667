"""Is a schema change safe? BACKWARD compatibility checked by actually reading old data.

A new schema is backward compatible with an old one when a consumer holding the new schema
reads every body an old producer wrote: fields it added have defaults, fields it removed are
ignored, types were only promoted. :func:`check_compatible` proves it on evidence rather
than on rules: it encodes sample bodies with the old schema and decodes them with fastavro's
schema resolution, the new schema as reader, exactly as :func:`envelope.decode` will.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from dataspace.errors import InvalidInput


@dataclass(frozen=True)
class Incompatibility:
    """One old body the new schema could not read, and why."""

    sample: Mapping[str, Any]
    error: str


def check_compatible(
    old_schema: Mapping[str, Any],
    new_schema: Mapping[str, Any],
    samples: Iterable[Mapping[str, Any]],
) -> list[Incompatibility]:
    """Bodies in ``samples`` (valid under ``old_schema``) that ``new_schema`` cannot read.

    An empty list means backward compatible *on these samples*: give samples that reach every
    branch (each union member, each enum symbol), e.g. recorded vectors plus generated ones.
    Raises InvalidInput if there are no samples or one does not fit the old schema.
    """
    writer = parse_schema(dict(old_schema))
    reader = parse_schema(dict(new_schema))
    problems: list[Incompatibility] = []
    count = 0
    for sample in samples:
        count += 1
        data = _encode(writer, sample)
        try:
            schemaless_reader(io.BytesIO(data), writer, reader)
        except (SchemaResolutionError, ValueError, TypeError, KeyError, EOFError) as exc:
            problems.append(Incompatibility(sample, f"{type(exc).__name__}: {exc}"))
    if not count:
        raise InvalidInput("A compatibility check needs at least one sample body.")
    return problems


def _encode(writer: Any, sample: Mapping[str, Any]) -> bytes:
    buffer = io.BytesIO()
    try:
        schemaless_writer(buffer, writer, sample)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidInput(f"The sample {sample!r} does not fit the old schema: {exc}.") from exc
    return buffer.getvalue()
