"""Landing a delivered object: verified, atomic, and nothing left behind on a mismatch."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dataspace.dataplane.download import ChecksumMismatch, Readable, land
from dataspace.dataplane.layout import StoredObject
from tests.worlds.dataplane_data import orders


def parquet_bytes(rows: int) -> bytes:
    out = io.BytesIO()
    pq.write_table(orders(rows), out)
    return out.getvalue()


def opener(data: bytes) -> Callable[[], AbstractContextManager[Readable]]:
    return lambda: io.BytesIO(data)


def announced(data: bytes, rows: int) -> StoredObject:
    return StoredObject("p/1/part-0.parquet", hashlib.sha256(data).hexdigest(), rows, len(data))


def test_a_verified_download_lands_under_the_final_name(tmp_path: Path) -> None:
    data = parquet_bytes(100)
    path = land(opener(data), announced(data, 100), tmp_path, "purchase-orders", 3)
    assert path == tmp_path / "purchase-orders" / "3" / "part-0.parquet"
    assert path.read_bytes() == data
    assert list(path.parent.iterdir()) == [path]
    # Landing it again keeps the verified file.
    assert land(opener(b"never read"), announced(data, 100), tmp_path, "purchase-orders", 3) == path


def test_tampered_bytes_are_refused_and_nothing_lands(tmp_path: Path) -> None:
    data = parquet_bytes(100)
    tampered = data[:100] + bytes([data[100] ^ 1]) + data[101:]
    with pytest.raises(ChecksumMismatch) as caught:
        land(opener(tampered), announced(data, 100), tmp_path, "purchase-orders", 1)
    assert hashlib.sha256(data).hexdigest() in str(caught.value)
    assert hashlib.sha256(tampered).hexdigest() in str(caught.value)
    assert list((tmp_path / "purchase-orders" / "1").iterdir()) == []


def test_a_wrong_row_count_is_refused(tmp_path: Path) -> None:
    data = parquet_bytes(10)
    with pytest.raises(ChecksumMismatch, match="has 10 rows, expected 11"):
        land(opener(data), replace(announced(data, 10), rows=11), tmp_path, "purchase-orders", 1)
    assert list((tmp_path / "purchase-orders" / "1").iterdir()) == []


def test_a_failing_download_removes_the_partial_file(tmp_path: Path) -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError("peer went away")
            return super().read(size)

    data = parquet_bytes(5000)
    with pytest.raises(ConnectionResetError):
        land(lambda: Broken(data), announced(data, 5000), tmp_path, "purchase-orders", 1)
    assert list((tmp_path / "purchase-orders" / "1").iterdir()) == []
