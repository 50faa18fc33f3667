"""The slicing rules: what a view is made of, applied to one record batch at a time.

Pure functions over Arrow data, no I/O. A view (:class:`ViewSpec` from the policy) is applied
in the order of the policy profile: row filter, then projection, then masking.

Masking by ``hash`` (policy profile, "mask"): the value becomes the lowercase hex
SHA-256 of ``salt || text(value)``, where ``text`` is the UTF-8 of Arrow's cast to string
(integers in decimal, dates as ``2026-01-05``, booleans as ``true``/``false``, decimals with
their scale) and binary values are hashed as they are. Null stays null. The same value and salt
always give the same digest, so masked columns stay joinable inside one agreement and are not
joinable across agreements. ``redact`` replaces every value with null, keeping the type.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataspace.errors import InvalidInput
from dataspace.policy.model import ViewSpec
from dataspace.policy.vocabulary import MaskMethod


def is_whole_release(spec: ViewSpec) -> bool:
    """A view without row filter, projection or mask is the release itself."""
    return spec.row_filter_column is None and spec.columns is None and not spec.masks


@dataclass(frozen=True)
class ViewPlan:
    """A view checked against the release's schema, ready to apply to batches."""

    spec: ViewSpec
    salt: bytes
    source_columns: tuple[str, ...]
    schema: pa.Schema


def plan_view(release: pa.Schema, spec: ViewSpec, salt: bytes, agreement: str) -> ViewPlan:
    """Check ``spec`` against the release's columns; a bad one names the agreement."""
    wanted = spec.columns if spec.columns is not None else tuple(release.names)
    named = [*wanted, *(mask.column for mask in spec.masks)]
    if spec.row_filter_column is not None:
        named.append(spec.row_filter_column)
    unknown = sorted({name for name in named if name not in release.names})
    if unknown:
        raise InvalidInput(
            f"The view of agreement {agreement} names {', '.join(unknown)}, which the release "
            "does not have; fix the agreement's policy or the product's schema."
        )
    if spec.row_filter_column is not None:
        kind = release.field(spec.row_filter_column).type
        if not pa.types.is_string(kind):
            raise InvalidInput(
                f"The view of agreement {agreement} filters rows on {spec.row_filter_column}, "
                f"which is {kind}; a row filter needs a string column of participant ids."
            )
    if any(mask.method is MaskMethod.HASH for mask in spec.masks) and not salt:
        raise InvalidInput(f"The view of agreement {agreement} hashes a column but has no salt.")
    columns = tuple(name for name in release.names if name in wanted)
    masks = {mask.column: mask.method for mask in spec.masks}
    fields = [_masked_field(release.field(name), masks.get(name)) for name in columns]
    return ViewPlan(spec, salt, columns, pa.schema(fields))


def _masked_field(field: pa.Field, method: MaskMethod | None) -> pa.Field:
    if method is MaskMethod.HASH:
        return pa.field(field.name, pa.string(), nullable=field.nullable)
    if method is MaskMethod.REDACT:
        return field.with_nullable(True)
    return field


def shape(rows: pa.RecordBatch, plan: ViewPlan) -> pa.RecordBatch:
    """Project and mask ``rows`` (already filtered) into the view's schema."""
    if not plan.spec.masks and rows.schema.equals(plan.schema):
        return rows  # a rows-only view: nothing to project or mask
    masks = {mask.column: mask.method for mask in plan.spec.masks}
    columns = []
    for field in plan.schema:
        column = rows.column(field.name)
        method = masks.get(field.name)
        if method is MaskMethod.HASH:
            column = hash_values(column, plan.salt)
        elif method is MaskMethod.REDACT:
            column = pa.nulls(len(column), field.type)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=plan.schema)


def hash_values(values: pa.Array, salt: bytes) -> pa.Array:
    """Salted SHA-256 hex digests of ``values``; each distinct value is hashed once."""
    if len(values) == values.null_count:
        return pa.nulls(len(values), pa.string())
    if not (pa.types.is_binary(values.type) or pa.types.is_string(values.type)):
        values = pc.cast(values, pa.string())
    encoded = pc.dictionary_encode(values)
    salted = hashlib.sha256(salt)
    digests = []
    for value in encoded.dictionary.to_pylist():
        digest = salted.copy()
        digest.update(value if isinstance(value, bytes) else value.encode())
        digests.append(digest.hexdigest())
    return pc.take(pa.array(digests, pa.string()), encoded.indices)


def partition(column: pa.Array, owners: Sequence[str]) -> list[pa.Array]:
    """For each owner, the row indices of ``column`` equal to it: one pass for all owners.

    The column is dictionary-encoded once and the rows sorted by code once, so each owner's
    rows are one contiguous run of the sort order: the cost does not grow with the number of
    owners (measured in benchmarks/dataplane.py against one filter per owner).
    """
    encoded = pc.dictionary_encode(column)
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes + 1, minlength=len(encoded.dictionary) + 1)
    starts = np.concatenate(([0], np.cumsum(counts)))
    positions = pc.index_in(pa.array(owners, pa.string()), value_set=encoded.dictionary)
    runs = []
    for position in positions.fill_null(-1).to_pylist():
        code = position + 1  # shift: code 0 holds the nulls
        run = order[starts[code] : starts[code + 1]] if position >= 0 else order[:0]
        runs.append(pa.array(run))
    return runs


def split_rows(batch: pa.RecordBatch, runs: Sequence[pa.Array]) -> list[pa.RecordBatch]:
    """The rows of ``batch`` at each run's indices, in that order, as one batch per run.

    All runs are gathered by one ``take`` and each result is a zero-copy slice of it: a
    hundred small takes cost ~1.7x one gather (benchmarks/dataplane.py: 12 against 7 ms
    for a 64k-row batch). The slices share the gathered batch's memory, which lives until
    the last of them is released.
    """
    lengths = [len(run) for run in runs]
    gathered = batch.take(pa.concat_arrays(list(runs))) if sum(lengths) else batch.slice(0, 0)
    starts = np.cumsum([0, *lengths[:-1]])
    return [gathered.slice(int(start), n) for start, n in zip(starts, lengths, strict=True)]


def filter_each(column: pa.Array, owners: Sequence[str]) -> list[pa.Array]:
    """The straightforward alternative to :func:`partition` (one comparison per owner).

    Kept for the benchmark that shows why :func:`partition` is used, and as a test oracle.
    """
    return [pc.indices_nonzero(pc.fill_null(pc.equal(column, owner), False)) for owner in owners]
