"""Every subscriber's view of a release, derived in one streaming pass.

Guarantees of :func:`derive_views`:

- the release is read once, batch by batch; each batch is partitioned once per row-filter
  column for all subscribers (:func:`~dataspace.dataplane.slicing.partition`), then projected and
  masked per view;
- each view is its own Parquet object under ``<product>/<version>/views/<agreement>/``, written
  by one streaming upload with SHA-256, rows and bytes counted on the way, and committed by its
  manifest; a subscriber without rows gets a valid, empty Parquet file;
- a view that is the whole release reuses the release object (no copy);
- memory does not grow with the release: one decoded batch, the queued rows of all views up to
  ``memory_budget`` bytes (the largest queue is written out as a row group when it is exceeded),
  and each view's encoded bytes up to ``SPILL_BYTES`` (then its upload starts, with one 10 MB
  multipart part buffer): at most budget + K x 10 MB for K views, whatever the release size;
- idempotent: a view committed before from the same release, spec and salt is reused; one
  committed from different inputs is refused with :class:`Conflict`; on any failure every
  partial view object is removed and nothing new is committed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from dataspace.dataplane.objects import (
    Manifest,
    ObjectStore,
    StoredObject,
    version_prefix,
    view_key,
)
from dataspace.dataplane.parquet_io import (
    RowGroupBuffer,
    open_parquet,
    parquet_writer,
    read_batches,
)
from dataspace.dataplane.slicing import ViewPlan, is_whole_release, partition, plan_view, shape
from dataspace.errors import Conflict
from dataspace.ids import agreement_id, participant_id
from dataspace.policy.model import ViewSpec

log = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R")

READ_BATCH_ROWS = 64 * 1024
MEMORY_BUDGET = 128 * 1024 * 1024
# A view smaller than this is held (encoded) in memory and uploaded in one PUT at the end.
SPILL_BYTES = 8 * 1024 * 1024
REQUEST_THREADS = 16


@dataclass(frozen=True)
class ViewRequest:
    """One subscriber's view under one agreement; ``salt`` keys its hash masks."""

    subscriber: str
    agreement: str
    spec: ViewSpec
    salt: bytes

    def __post_init__(self) -> None:
        participant_id(self.subscriber)
        agreement_id(self.agreement)


@dataclass(frozen=True)
class DerivedView:
    subscriber: str
    agreement: str
    stored: StoredObject
    reuses_release: bool


@dataclass
class _Pending:
    """A view being written: its plan, its key and its row-group queue."""

    request: ViewRequest
    plan: ViewPlan
    key: str
    derivation: str
    buffer: RowGroupBuffer | None = None


def derive_views(
    store: ObjectStore,
    release: StoredObject,
    requests: Sequence[ViewRequest],
    *,
    product: str,
    version: int,
    memory_budget: int = MEMORY_BUDGET,
) -> list[DerivedView]:
    """Derive and store the view of every request; results are in the order of ``requests``."""
    with store.open_input(release.key) as source:
        schema = pq.ParquetFile(source).schema_arrow
    done = {
        request.agreement: DerivedView(request.subscriber, request.agreement, release, True)
        for request in requests
        if is_whole_release(request.spec)
    }
    # One listing tells which views were committed before; only those manifests are read.
    committed = store.committed_under(version_prefix(product, version) + "views/")
    prepared = _in_parallel(
        lambda request: _prepare(
            store, release, schema, request, committed, product=product, version=version
        ),
        [request for request in requests if request.agreement not in done],
    )
    todo = [item for item in prepared if isinstance(item, _Pending)]
    done.update({item.agreement: item for item in prepared if isinstance(item, DerivedView)})
    for view in _write_views(store, release, todo, memory_budget):
        done[view.agreement] = view
    return [done[request.agreement] for request in requests]


def _prepare(
    store: ObjectStore,
    release: StoredObject,
    schema: pa.Schema,
    request: ViewRequest,
    committed_keys: set[str],
    *,
    product: str,
    version: int,
) -> _Pending | DerivedView:
    plan = plan_view(schema, request.spec, request.salt, request.agreement)
    key = view_key(product, version, request.agreement)
    derivation = _derivation(release, request)
    committed = store.manifest(key) if key in committed_keys else None
    if committed is None:
        return _Pending(request, plan, key, derivation)
    if committed.derivation != derivation:
        raise Conflict(
            f"The view {key} was already written from another release or policy; "
            "deliver the change as a new version."
        )
    return DerivedView(request.subscriber, request.agreement, committed.object, False)


def _derivation(release: StoredObject, request: ViewRequest) -> str:
    """A digest of everything the view's bytes depend on (the salt only through a hash)."""
    spec = request.spec
    inputs = {
        "release": release.sha256,
        "subscriber": request.subscriber,
        "columns": list(spec.columns) if spec.columns is not None else None,
        "masks": [[mask.column, mask.method.value] for mask in spec.masks],
        "row_filter": spec.row_filter_column,
        "salt": hashlib.sha256(b"dataspace-mask-salt:" + request.salt).hexdigest(),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _write_views(
    store: ObjectStore, release: StoredObject, views: list[_Pending], memory_budget: int
) -> list[DerivedView]:
    if not views:
        return []
    with ExitStack() as uploads:
        sinks = []
        for view in views:
            sink = uploads.enter_context(store.writing(view.key, spill_bytes=SPILL_BYTES))
            view.buffer = RowGroupBuffer(parquet_writer(sink, view.plan.schema))
            sinks.append(sink)
        for batch in _read(store, release, views):
            _route(batch, views)
            _keep_within(views, memory_budget)
        rows = [_buffer(view).close() for view in views]
        _in_parallel(lambda sink: sink.close(), sinks)
    stored = [
        StoredObject(view.key, sink.sha256, count, sink.size)
        for view, sink, count in zip(views, sinks, rows, strict=True)
    ]
    _in_parallel(
        lambda pair: store.commit(Manifest(pair[1], pair[0].derivation)),
        list(zip(views, stored, strict=True)),
    )
    derived = [
        DerivedView(view.request.subscriber, view.request.agreement, item, False)
        for view, item in zip(views, stored, strict=True)
    ]
    log.info("views written", extra={"release": release.key, "views": len(derived)})
    return derived


def _in_parallel(work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``work`` on every item, side by side: per-view requests are small and latency-bound
    (a small PUT takes ~70 ms on the embedded Swift). The first failure is raised."""
    with ThreadPoolExecutor(max_workers=REQUEST_THREADS) as pool:
        return list(pool.map(work, items))


def _read(
    store: ObjectStore, release: StoredObject, views: list[_Pending]
) -> Iterator[pa.RecordBatch]:
    needed: set[str] = set()
    for view in views:
        needed.update(view.plan.source_columns)
        if view.plan.spec.row_filter_column is not None:
            needed.add(view.plan.spec.row_filter_column)
    with store.open_input(release.key) as source:
        parquet = open_parquet(source)
        columns = [name for name in parquet.schema_arrow.names if name in needed]
        yield from read_batches(parquet, batch_rows=READ_BATCH_ROWS, columns=columns)


def _route(batch: pa.RecordBatch, views: list[_Pending]) -> None:
    """Give every view its rows of ``batch``: one partition per row-filter column."""
    by_filter: dict[str | None, list[_Pending]] = {}
    for view in views:
        by_filter.setdefault(view.plan.spec.row_filter_column, []).append(view)
    for column, group in by_filter.items():
        if column is None:
            for view in group:
                _buffer(view).add(shape(batch, view.plan))
            continue
        runs = partition(batch.column(column), [view.request.subscriber for view in group])
        for view, rows in zip(group, runs, strict=True):
            if len(rows):
                _buffer(view).add(shape(batch.take(rows), view.plan))


def _keep_within(views: list[_Pending], memory_budget: int) -> None:
    """Write out the largest queues until the queued rows of all views fit the budget."""
    queued = sum(_buffer(view).pending_bytes for view in views)
    while queued > memory_budget:
        largest = max((_buffer(view) for view in views), key=lambda b: b.pending_bytes)
        queued -= largest.pending_bytes
        largest.flush()


def _buffer(view: _Pending) -> RowGroupBuffer:
    if view.buffer is None:
        raise AssertionError("a view's writer is opened before any batch is routed to it")
    return view.buffer
