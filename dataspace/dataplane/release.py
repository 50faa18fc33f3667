"""Writing a release once: streamed to the store as Parquet, checksummed on the way.

Guarantees of :func:`write_release`:

- the release lands under ``<product>/<version>/part-0.parquet`` (stable coordinates, see
  docs/adr/0005-release-objects-under-stable-keys.md) as one multipart upload, so no reader can
  see a partial object there; on failure the partial object is removed and nothing is committed;
- SHA-256, row count and size are computed while streaming and written to the manifest (the
  commit mark) after the object is complete;
- writing the same release again is idempotent: the key is the same and nothing is uploaded;
  different content for a committed version is refused with :class:`Conflict`;
- memory is one row group plus the upload buffers, whatever the size of the release.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import pyarrow as pa

from dataspace.dataplane.layout import Manifest, StoredObject, release_key
from dataspace.dataplane.objects import HashingSink, ObjectStore
from dataspace.dataplane.parquet_io import write_parquet
from dataspace.errors import Conflict

log = logging.getLogger(__name__)


def write_release(
    store: ObjectStore,
    product: str,
    version: int,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
) -> StoredObject:
    """Write ``batches`` as release ``version`` of ``product`` and return the stored object."""
    key = release_key(product, version)
    committed = store.manifest(key)
    if committed is not None:
        return _same_release(committed.object, schema, batches)
    with store.writing(key) as sink:
        rows = write_parquet(sink, schema, batches)
    stored = StoredObject(key, sink.sha256, rows, sink.size)
    store.commit(Manifest(stored))
    log.info(
        "release written",
        extra={"product": product, "version": version, "sha256": stored.sha256, "rows": rows},
    )
    return stored


def _same_release(
    committed: StoredObject, schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> StoredObject:
    # Parquet encoding is deterministic: the same rows give the same bytes, so hashing the
    # would-be object (without uploading it) tells a retry from a different release.
    probe = HashingSink(None)
    write_parquet(probe, schema, batches)
    if probe.sha256 != committed.sha256:
        raise Conflict(
            f"{committed.key} is already written with other content (SHA-256 "
            f"{committed.sha256[:12]}…, this input {probe.sha256[:12]}…); "
            "publish it as a new version."
        )
    log.info("release already written; nothing uploaded", extra={"key": committed.key})
    return committed
