"""The subscriber side of the data plane: fetch a delivered object and land it verified.

Guarantees of :func:`land`:

- bytes stream to ``<landing>/<product>/<version>/part-0.parquet.partial`` in fixed-size
  chunks (memory does not grow with the object) while SHA-256 and size are computed;
- the file is fsynced, its SHA-256, size and Parquet row count are checked against what the
  delivery announced, and only then is it renamed to ``part-0.parquet`` (``os.replace``,
  atomic) and the directory fsynced: nothing ever appears under the final name unverified;
- on a mismatch or any failure the partial file is removed and :class:`ChecksumMismatch` (or
  the failure) is raised: expected and actual values are in the message;
- landing the same object twice is idempotent: a verified file already in place is kept.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from dataspace import faults
from dataspace.canonical import file_sha256
from dataspace.dataplane.layout import PART, StoredObject
from dataspace.errors import InvalidInput, ServiceError
from dataspace.ids import product_id
from dataspace.private_paths import open_private, private_directory

CHUNK_BYTES = 1024 * 1024
PARTIAL_SUFFIX = ".partial"


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


# Opens the delivered object for reading: a presigned URL (url_opener) or a store's input file.
Opener = Callable[[], AbstractContextManager[Readable]]


class ChecksumMismatch(InvalidInput):
    """Downloaded bytes are not the object the delivery announced."""


def landing_path(landing: Path, product: str, version: int) -> Path:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(f"The release version {version!r} is not a whole number >= 1.")
    return landing / product_id(product) / str(version) / PART


def land(opener: Opener, expected: StoredObject, landing: Path, product: str, version: int) -> Path:
    """Download through ``opener`` and land the verified file; returns its final path."""
    final = landing_path(landing, product, version)
    if final.exists() and file_sha256(final) == expected.sha256:
        return final
    private_directory(final.parent)
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    try:
        sha256, size = _fetch(opener, partial)
        _verify(partial, expected, sha256, size)
        partial.replace(final)  # os.replace: atomic on POSIX
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_directory(final.parent)
    return final


def url_opener(url: str, timeout: float = 60.0) -> Opener:
    """An opener for a presigned URL; HTTP and network failures become ServiceError."""

    def open_url() -> AbstractContextManager[Readable]:
        try:
            response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (http(s) grant)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise ServiceError(
                f"The object store refused the download (HTTP {exc.code}); the grant may have "
                "expired: ask for a new one."
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ServiceError(f"The object store is unreachable ({exc}); try again.") from exc
        return response  # type: ignore[no-any-return]

    return open_url


def _fetch(opener: Opener, partial: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with opener() as source, open_private(partial) as target:
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
            target.write(chunk)
            if size == 0:
                target.flush()
                faults.reach("download.partial-written")
            size += len(chunk)
        target.flush()
        os.fsync(target.fileno())
    return digest.hexdigest(), size


def _verify(partial: Path, expected: StoredObject, sha256: str, size: int) -> None:
    if sha256 != expected.sha256 or size != expected.bytes:
        raise ChecksumMismatch(
            f"The download of {expected.key} is not the delivered object: expected SHA-256 "
            f"{expected.sha256} and {expected.bytes} bytes, got {sha256} and {size} bytes; "
            "nothing was landed."
        )
    try:
        rows = pq.ParquetFile(partial).metadata.num_rows
    except (OSError, pa.ArrowInvalid) as exc:
        raise ChecksumMismatch(
            f"The download of {expected.key} is not a readable Parquet file ({exc}); "
            "nothing was landed."
        ) from exc
    if rows != expected.rows:
        raise ChecksumMismatch(
            f"The download of {expected.key} has {rows} rows, expected {expected.rows}; "
            "nothing was landed."
        )


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
