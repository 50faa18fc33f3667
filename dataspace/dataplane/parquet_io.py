"""How the data plane encodes and reads Parquet: one set of writer options, a row-group buffer,
and a windowed reader for objects in the store.

``ParquetWriter.write_table`` closes a row group on every call, so writing each small slice
directly would give thousands of tiny row groups. :class:`RowGroupBuffer` gathers slices until
a row group is full (or until the caller says memory is short) and then writes them as one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 128 * 1024
# Reading from S3, the row groups of up to this many compressed bytes are fetched together
# (coalesced ranged GETs): ~3x faster on the embedded Swift than one GET per column chunk,
# and memory stays one window whatever the object's size (benchmarks/delivery.py).
READ_WINDOW_BYTES = 16 * 1024 * 1024
# zstd level 1 encodes about as fast as snappy and is ~35 % smaller here; never gzip (slow).
# No dictionary pages: on releases like the benchmark's (ids, phones, notes, prices next to a
# few low-cardinality columns) they cost ~40 % of the encoding and made the file ~20 % larger
# under zstd, which finds the repeats of low-cardinality columns by itself
# (docs/adr/0017-parquet-without-dictionary-pages.md).
WRITER_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": False,
    "write_statistics": True,
}


def parquet_writer(sink: Any, schema: pa.Schema) -> pq.ParquetWriter:
    """A writer with the project's options onto a file-like ``sink`` (not closed by it)."""
    return pq.ParquetWriter(sink, schema, **WRITER_OPTIONS)


class RowGroupBuffer:
    """Record batches waiting to become one row group of one Parquet file. Not thread-safe."""

    def __init__(self, writer: pq.ParquetWriter, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.writer = writer
        self.row_group_rows = row_group_rows
        self._pending: list[pa.RecordBatch] = []
        self.pending_rows = 0
        self.pending_bytes = 0
        self.rows_written = 0

    def add(self, batch: pa.RecordBatch) -> None:
        """Queue ``batch``; writes every row group that is full.

        Row groups are cut at multiples of ``row_group_rows`` whatever the sizes of the
        incoming batches, so the same rows always give the same bytes.
        """
        if batch.num_rows == 0:
            return
        self._pending.append(batch)
        self.pending_rows += batch.num_rows
        self.pending_bytes += batch.nbytes
        if self.pending_rows >= self.row_group_rows:
            table = self._take_pending()
            full = table.num_rows - table.num_rows % self.row_group_rows
            self._write(table.slice(0, full))
            self._queue(table.slice(full))

    def flush(self) -> None:
        """Write whatever is queued now, as a (short) row group: used when memory is short."""
        if self._pending:
            self._write(self._take_pending())

    def _take_pending(self) -> pa.Table:
        table = pa.Table.from_batches(self._pending, schema=self.writer.schema)
        self._pending, self.pending_rows, self.pending_bytes = [], 0, 0
        return table

    def _queue(self, rest: pa.Table) -> None:
        for batch in rest.to_batches():
            self._pending.append(batch)
            self.pending_rows += batch.num_rows
            self.pending_bytes += batch.nbytes

    def _write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=self.row_group_rows)
        self.rows_written += table.num_rows

    def close(self) -> int:
        """Flush, write the footer and return the number of rows in the file."""
        self.flush()
        self.writer.close()
        return self.rows_written


def write_parquet(sink: Any, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> int:
    """Stream ``batches`` into ``sink`` as one Parquet file; returns the row count.

    Memory: one row group of Arrow data plus the writer's encoded pages, whatever the input size.
    """
    buffer = RowGroupBuffer(parquet_writer(sink, schema))
    for batch in batches:
        buffer.add(batch)
    return buffer.close()


def open_parquet(source: Any) -> pq.ParquetFile:
    """A Parquet file for :func:`read_batches`; its footer (schema, row counts) is read once."""
    return pq.ParquetFile(source, pre_buffer=True)


def read_batches(
    parquet: pq.ParquetFile,
    *,
    batch_rows: int,
    columns: Sequence[str] | None = None,
    window_bytes: int = READ_WINDOW_BYTES,
) -> Iterator[pa.RecordBatch]:
    """The record batches of ``parquet`` (from :func:`open_parquet`), a window of row groups
    at a time.

    Each window's column chunks are fetched up front in few requests (pyarrow's pre-buffer),
    so a remote object is not read one small range at a time; at most one window is held.
    """
    for window in _windows(parquet.metadata, parquet.schema_arrow, columns, window_bytes):
        yield from parquet.iter_batches(batch_size=batch_rows, row_groups=window, columns=columns)


def _windows(
    metadata: pq.FileMetaData, schema: pa.Schema, columns: Sequence[str] | None, limit: int
) -> Iterator[list[int]]:
    wanted = set(schema.names if columns is None else columns)
    window: list[int] = []
    size = 0
    for index in range(metadata.num_row_groups):
        group = metadata.row_group(index)
        compressed = sum(
            group.column(c).total_compressed_size
            for c in range(group.num_columns)
            if group.column(c).path_in_schema.split(".")[0] in wanted
        )
        if window and size + compressed > limit:
            yield window
            window, size = [], 0
        window.append(index)
        size += compressed
    if window:
        yield window
