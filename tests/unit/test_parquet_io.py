"""Reading Parquet a window of row groups at a time: same rows, bounded windows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dataspace.dataplane import parquet_io
from dataspace.dataplane.parquet_io import open_parquet, read_batches


def _file(tmp_path: Path, groups: int, rows_per_group: int) -> Path:
    path = tmp_path / "release.parquet"
    table = pa.table(
        {
            "n": pa.array(range(groups * rows_per_group), pa.int64()),
            "text": pa.array([f"row {i:08d}" for i in range(groups * rows_per_group)]),
        }
    )
    pq.write_table(table, path, row_group_size=rows_per_group)
    return path


def test_every_row_comes_out_once_in_order_whatever_the_window(tmp_path: Path) -> None:
    path = _file(tmp_path, groups=7, rows_per_group=1000)
    expected = pq.read_table(path)
    for window_bytes in (1, 10_000, 10**9):
        batches = list(read_batches(open_parquet(path), batch_rows=300, window_bytes=window_bytes))
        assert pa.Table.from_batches(batches).equals(expected)
        assert max(batch.num_rows for batch in batches) <= 300
    only = pa.Table.from_batches(
        list(read_batches(open_parquet(path), batch_rows=500, columns=["text"]))
    )
    assert only.column_names == ["text"]
    assert only.column("text").equals(expected.column("text"))


def test_windows_hold_row_groups_up_to_the_byte_limit_counting_only_read_columns(
    tmp_path: Path,
) -> None:
    parquet = pq.ParquetFile(_file(tmp_path, groups=6, rows_per_group=1000))
    metadata = parquet.metadata
    per_group = [metadata.row_group(i).column(1).total_compressed_size for i in range(6)]
    limit = 2 * max(per_group)

    windows = list(parquet_io._windows(metadata, parquet.schema_arrow, ["text"], limit))

    assert [i for window in windows for i in window] == list(range(6))
    assert all(sum(per_group[i] for i in window) <= limit for window in windows)
    assert len(windows) < 6, "small groups are fetched together"
    assert [len(w) for w in parquet_io._windows(metadata, parquet.schema_arrow, None, 1)] == [1] * 6
