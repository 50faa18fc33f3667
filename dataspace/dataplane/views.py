"""Every subscriber's view of a release, derived in one streaming pass.

Guarantees of :func:`derive_views`:

- the release is read once, batch by batch; each batch is partitioned once per row-filter
  column for all subscribers (:func:`~dataspace.dataplane.slicing.partition`), its rows gathered
  by one take (:func:`~dataspace.dataplane.slicing.split_rows`), then projected and masked per
  view, on one worker thread (:mod:`~dataspace.dataplane.handoff`) while the caller goes on
  reading and encoding the release;
- each view is its own Parquet object under ``<product>/<version>/views/<agreement>/``, written
  by one streaming upload with SHA-256, rows and bytes counted on the way; the views derived
  together are committed by one joint manifest (``views/<digest>.views.json``, written after
  every view is complete: one PUT, not one per view); a subscriber without rows gets a valid,
  empty Parquet file;
- a view that is the whole release reuses the release object (no copy);
- memory does not grow with the release: at most three decoded batches (two waiting for the
  worker, one being cut), the queued rows of all views up to ``memory_budget`` bytes (every
  queue is written out as a row group when it is exceeded), and each view's encoded bytes up
  to ``SPILL_BYTES`` (then its upload starts, with one 10 MB multipart part buffer): at most
  budget + K x 10 MB for K views, whatever the release size;
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
from types import TracebackType
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from dataspace.dataplane.handoff import Handoff
from dataspace.dataplane.layout import (
    Manifest,
    StoredObject,
    view_key,
    views_manifest_key,
    views_prefix,
)
from dataspace.dataplane.objects import HashingSink, ObjectStore
from dataspace.dataplane.parquet_io import (
    RowGroupBuffer,
    open_parquet,
    parquet_writer,
    read_batches,
)
from dataspace.dataplane.slicing import (
    ViewPlan,
    is_whole_release,
    partition,
    plan_view,
    shape,
    split_rows,
)
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
    """A view being written: its request, plan and key, its upload and its row-group queue."""

    request: ViewRequest
    plan: ViewPlan
    key: str
    sink: HashingSink | None = None
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
    """Derive and store the view of every request from the stored ``release``; results are in
    the order of ``requests``."""
    with store.open_input(release.key) as source:
        parquet = open_parquet(source)  # its footer is read once, for the schema and the reads
        with ViewPass(
            store,
            parquet.schema_arrow,
            requests,
            product=product,
            version=version,
            memory_budget=memory_budget,
        ) as views:
            if views.pending:
                for batch in _read(parquet, views.pending):
                    views.add(batch)
            return views.finish(release)


class ViewPass:
    """The views of ``requests``, derived from the release's record batches as they go by.

    ``add`` every batch of the release in order, then ``finish`` with the stored release: it
    completes the uploads and commits them with one joint manifest. Publishing feeds the
    batches it is writing as the release (one pass over the input); :func:`derive_views`
    reads them back from the store. Views committed before (a retried publish) are not
    derived again: ``finish`` reuses them if they were derived from the same release, spec
    and salt, and raises :class:`Conflict` otherwise. A block left without ``finish``, or by
    an exception, removes every partial view and commits nothing.
    """

    def __init__(
        self,
        store: ObjectStore,
        schema: pa.Schema,
        requests: Sequence[ViewRequest],
        *,
        product: str,
        version: int,
        memory_budget: int = MEMORY_BUDGET,
    ) -> None:
        self._store, self._requests = store, list(requests)
        self._product, self._version, self._memory_budget = product, version, memory_budget
        self._uploads = ExitStack()
        self._router: Handoff[pa.RecordBatch] | None = None
        self._finished = False
        self._reused: dict[str, Manifest] = {}
        self.pending: list[_Pending] = []
        plans = [
            (request, plan_view(schema, request.spec, request.salt, request.agreement))
            for request in self._requests
            if not is_whole_release(request.spec)
        ]
        # One listing and (usually) one read tell which views were committed before.
        committed = store.committed_together(views_prefix(product, version)) if plans else {}
        for request, plan in plans:
            key = view_key(product, version, request.agreement)
            if key in committed:
                self._reused[request.agreement] = committed[key]
            else:
                self.pending.append(_Pending(request, plan, key))

    def __enter__(self) -> ViewPass:
        try:
            for view in self.pending:
                view.sink = self._uploads.enter_context(
                    self._store.writing(view.key, spill_bytes=SPILL_BYTES)
                )
                view.buffer = RowGroupBuffer(parquet_writer(view.sink, view.plan.schema))
            if self.pending:
                self._router = Handoff(self._route, name="view-pass")
        except BaseException as failed:  # the uploads opened so far are removed, then re-raised
            self._uploads.__exit__(type(failed), failed, failed.__traceback__)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None and not self._finished:
            # Closing the uploads normally would complete objects nobody committed.
            exc = RuntimeError("a view pass was left before finish()")
            exc_type = type(exc)
        if self._router is not None:
            self._router.abandon()  # no view is touched once the uploads are being closed
        self._uploads.__exit__(exc_type, exc, traceback)

    def add(self, batch: pa.RecordBatch) -> None:
        """Hand ``batch`` to the pass's worker thread, which gives every pending view its rows
        (writing row groups as they fill) while the caller goes on; a failure of the worker
        is raised here or by ``finish``."""
        if self._router is not None:
            self._router.put(batch)

    def _route(self, batch: pa.RecordBatch) -> None:
        _route(batch, self.pending)
        _keep_within(self.pending, self._memory_budget)

    def finish(self, release: StoredObject) -> list[DerivedView]:
        """Complete and commit the views of ``release``; results in the order of requests."""
        if self._router is not None:
            self._router.close()
        done = {
            request.agreement: DerivedView(request.subscriber, request.agreement, release, True)
            for request in self._requests
            if is_whole_release(request.spec)
        }
        for request in self._requests:
            committed = self._reused.get(request.agreement)
            if committed is not None:
                _require_same_derivation(committed, _derivation(release, request))
                done[request.agreement] = DerivedView(
                    request.subscriber, request.agreement, committed.object, False
                )
        for view in self._complete(release):
            done[view.agreement] = view
        self._finished = True
        return [done[request.agreement] for request in self._requests]

    def _complete(self, release: StoredObject) -> list[DerivedView]:
        if not self.pending:
            return []
        # Each view's last row groups are encoded and its object uploaded by one worker: the
        # encoding of one view overlaps the PUTs of others (pyarrow drops the GIL to encode).
        rows = _in_parallel(_close, self.pending)
        sinks = [_sink(view) for view in self.pending]
        manifests = [
            Manifest(
                StoredObject(view.key, sink.sha256, count, sink.size),
                _derivation(release, view.request),
            )
            for view, sink, count in zip(self.pending, sinks, rows, strict=True)
        ]
        key = views_manifest_key(self._product, self._version, [m.derivation for m in manifests])
        self._store.commit_together(key, manifests)
        log.info("views written", extra={"release": release.key, "views": len(manifests)})
        return [
            DerivedView(view.request.subscriber, view.request.agreement, manifest.object, False)
            for view, manifest in zip(self.pending, manifests, strict=True)
        ]


def _require_same_derivation(committed: Manifest, derivation: str) -> None:
    if committed.derivation != derivation:
        raise Conflict(
            f"The view {committed.object.key} was already written from another release or "
            "policy; deliver the change as a new version."
        )


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


def _in_parallel(work: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """``work`` on every item, side by side: per-view requests are small and latency-bound
    (a small PUT takes ~70 ms on the embedded Swift). The first failure is raised."""
    with ThreadPoolExecutor(max_workers=REQUEST_THREADS) as pool:
        return list(pool.map(work, items))


def _read(parquet: pq.ParquetFile, views: list[_Pending]) -> Iterator[pa.RecordBatch]:
    """The stored release's batches, with only the columns some view needs."""
    needed: set[str] = set()
    for view in views:
        needed.update(view.plan.source_columns)
        if view.plan.spec.row_filter_column is not None:
            needed.add(view.plan.spec.row_filter_column)
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
        for view, rows in zip(group, split_rows(batch, runs), strict=True):
            if rows.num_rows:
                _buffer(view).add(shape(rows, view.plan))


def _keep_within(views: list[_Pending], memory_budget: int) -> None:
    """Write out every queue once the queued rows of all views exceed the budget.

    Every queue, not just the largest: the views' rows of one batch are slices of one
    gathered batch (:func:`split_rows`), which is freed only when no view holds a slice.
    """
    if sum(_buffer(view).pending_bytes for view in views) > memory_budget:
        _in_parallel(lambda view: _buffer(view).flush(), views)


def _close(view: _Pending) -> int:
    """Write the view's footer and complete its object; its row count."""
    rows = _buffer(view).close()
    _sink(view).close()
    return rows


def _buffer(view: _Pending) -> RowGroupBuffer:
    if view.buffer is None:
        raise AssertionError("a view's writer is opened before any batch is routed to it")
    return view.buffer


def _sink(view: _Pending) -> HashingSink:
    if view.sink is None:
        raise AssertionError("a view's upload is opened when its pass is entered")
    return view.sink
