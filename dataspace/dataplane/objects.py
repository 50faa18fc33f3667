"""The object-store adapter of the data plane, and a sink that hashes what it writes.

Which key an object goes to, and the manifest that commits it, is
:mod:`dataspace.dataplane.layout`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from dataspace.dataplane.layout import (
    MANIFEST_SUFFIX,
    VIEWS_MANIFEST_SUFFIX,
    Manifest,
    StoredObject,
)
from dataspace.errors import InvalidInput, NotFound, ServiceError
from dataspace.ids import validate_slug

log = logging.getLogger(__name__)


class HashingSink:
    """A write-only file for pyarrow that hashes and counts every byte on its way through.

    The target is opened by ``opener`` only once ``spill_bytes`` have been written; smaller
    objects are kept in memory and uploaded in one request by :meth:`close`. (Each open S3
    stream reserves a 10 MB part buffer: a hundred small views must not hold a gigabyte.)
    Without an opener the sink only hashes (used to check a rewrite). Not thread-safe.
    """

    def __init__(self, opener: Callable[[], pa.NativeFile] | None, spill_bytes: int = 0) -> None:
        self._opener = opener
        self._spill_bytes = spill_bytes
        self._target: pa.NativeFile | None = None
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._hash = hashlib.sha256()
        self.size = 0
        self.closed = False
        if opener is not None and spill_bytes <= 0:
            self._target = opener()

    def write(self, data: bytes | memoryview) -> int:
        self._hash.update(data)
        written = memoryview(data).nbytes
        self.size += written
        if self._target is not None:
            _to_store(self._target.write, data)
        elif self._opener is not None:
            self._held.append(bytes(data))
            self._held_bytes += written
            if self._held_bytes >= self._spill_bytes:
                self._spill()
        return written

    def _spill(self) -> None:
        if self._opener is None:
            return
        self._target = self._opener()
        for chunk in self._held:
            self._target.write(chunk)
        self._held, self._held_bytes = [], 0

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        if self._target is not None:
            self._target.flush()

    def close(self) -> None:
        """Complete the object (on S3 it becomes visible now, in one step). Idempotent."""
        if self.closed:
            return
        if self._target is None:
            self._spill()
        self.closed = True
        if self._target is not None:
            _to_store(self._target.close)

    def abandon(self) -> None:
        """Close the target and drop anything written later.

        A Parquet writer left open by an exception writes its footer when it is garbage
        collected; that must not reach (or fail on) the closed upload.
        """
        target, self._target, self._opener = self._target, None, None
        self._held = []
        self.closed = True
        if target is not None:
            target.close()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


def _to_store(call: Callable[..., Any], *args: Any) -> Any:
    """``call(*args)`` on the upload; the store failing under it is a ServiceError."""
    try:
        return call(*args)
    except OSError as exc:
        raise ServiceError(
            f"The object store failed during an upload ({exc}); nothing was announced. "
            "Check it with `dataspace status` and try again."
        ) from exc


class ObjectStore:
    """One bucket of a pyarrow filesystem: S3 in production, a local directory in unit tests.

    Guarantees: an object written with :meth:`writing` is visible only once complete (on S3 a
    multipart upload completes atomically) and is deleted again when the block raises;
    :meth:`commit` writes the manifest with one PUT after the object. Thread-safe as the
    underlying filesystem is. Store failures become :class:`ServiceError`.
    """

    def __init__(self, filesystem: pafs.FileSystem, bucket: str) -> None:
        self.filesystem = filesystem
        self.bucket = validate_slug(bucket, "bucket name")

    def path(self, key: str) -> str:
        return f"{self.bucket}/{key}"

    @contextmanager
    def writing(self, key: str, *, spill_bytes: int = 0) -> Iterator[HashingSink]:
        """A hashing sink onto ``key``; on an exception the partial object is removed.

        ``spill_bytes`` > 0 holds up to that many bytes in memory before the upload starts.
        """
        sink = HashingSink(lambda: self._open(key), spill_bytes)
        try:
            yield sink
            sink.close()
        except BaseException:
            self._abandon(sink, key)
            raise

    def _output(self, key: str) -> pa.NativeFile:
        path = self.path(key)
        if self.filesystem.type_name != "s3":
            # A local directory needs its folders; S3 has none (and a marker would be noise).
            self.filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
        return self.filesystem.open_output_stream(path)

    def _open(self, key: str) -> pa.NativeFile:
        try:
            return self._output(key)
        except OSError as exc:
            raise ServiceError(f"The object store refused to create {key} ({exc}).") from exc

    def _abandon(self, sink: HashingSink, key: str) -> None:
        # pyarrow cannot abort a multipart upload: closing completes it, so delete it after.
        try:
            sink.abandon()
        except OSError as exc:
            log.info("abandoned upload of %s did not complete: %s", key, exc)
        self.delete(key)

    def put(self, key: str, data: bytes) -> StoredObject:
        """Write a small object with one PUT (overwriting ``key``); its checksums."""
        self._write(key, data, refused=key)
        return StoredObject(key, hashlib.sha256(data).hexdigest(), 0, len(data))

    def _write(self, key: str, data: bytes, *, refused: str) -> None:
        """One PUT of ``data``; a failure names ``refused`` (what was being written)."""
        try:
            with self._output(key) as out:
                out.write(data)
        except OSError as exc:
            raise ServiceError(f"The object store refused {refused} ({exc}).") from exc

    def discard(self, prefix: str) -> None:
        """Delete every object under ``prefix`` (ending in ``/``); nothing there is fine.

        Only for objects no one was told of: a version the control plane never recorded.
        """
        if not prefix.endswith("/"):
            raise InvalidInput(f"A prefix to discard must end with '/': {prefix!r}.")
        try:
            self.filesystem.delete_dir_contents(self.path(prefix), missing_dir_ok=True)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ServiceError(f"The object store could not clear {prefix} ({exc}).") from exc

    def delete(self, key: str) -> None:
        """Remove ``key`` if it exists; a missing object is not an error."""
        try:
            self.filesystem.delete_file(self.path(key))
        except FileNotFoundError:
            return
        except OSError as exc:
            log.warning("could not delete %s: %s", key, exc)

    def commit(self, manifest: Manifest) -> None:
        key = manifest.object.key
        self._write(key + MANIFEST_SUFFIX, manifest.to_json(), refused=f"the manifest of {key}")

    def manifest(self, key: str) -> Manifest | None:
        """The manifest of ``key`` when the object was committed, else None."""
        data = self._read(key + MANIFEST_SUFFIX, naming=key)
        return None if data is None else Manifest.from_json(data)

    def commit_together(self, key: str, manifests: list[Manifest]) -> None:
        """Commit several objects with one PUT of ``key`` (a ``.views.json`` key): a hundred
        views need one request to commit, not a hundred."""
        if not key.endswith(VIEWS_MANIFEST_SUFFIX):
            raise InvalidInput(f"A joint manifest's key must end with {VIEWS_MANIFEST_SUFFIX}.")
        document = json.dumps([manifest.to_dict() for manifest in manifests]).encode()
        self._write(key, document, refused=f"the manifest {key}")

    def committed_together(self, prefix: str) -> dict[str, Manifest]:
        """Every object under ``prefix`` committed by a joint manifest, by key: one listing and
        one read per manifest (usually one)."""
        selector = pafs.FileSelector(self.path(prefix), recursive=True, allow_not_found=True)
        try:
            infos = self.filesystem.get_file_info(selector)
        except OSError as exc:
            raise ServiceError(f"The object store could not list {prefix} ({exc}).") from exc
        start = len(self.bucket) + 1
        committed: dict[str, Manifest] = {}
        for info in infos:
            if info.is_file and info.path.endswith(VIEWS_MANIFEST_SUFFIX):
                key = info.path[start:]
                data = self._read(key, naming=key)
                if data is None:
                    raise ServiceError(
                        f"The object store could not read {key} (it went meanwhile)."
                    )
                for item in json.loads(data):
                    manifest = Manifest.from_dict(item)
                    committed[manifest.object.key] = manifest
        return committed

    def _read(self, key: str, *, naming: str) -> bytes | None:
        """A small object's bytes, or None if it is not there; any other failure is a
        ServiceError naming ``naming``."""
        try:
            with self.filesystem.open_input_file(self.path(key)) as source:
                return bytes(source.read())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ServiceError(f"The object store could not read {naming} ({exc}).") from exc

    def open_input(self, key: str) -> pa.NativeFile:
        # open_input_file fetches ranges: much faster on S3 than open_input_stream().read().
        try:
            return self.filesystem.open_input_file(self.path(key))
        except FileNotFoundError as exc:
            raise NotFound(f"The object {key} is not in bucket {self.bucket}.") from exc
        except OSError as exc:
            raise ServiceError(f"The object store could not open {key} ({exc}).") from exc
