"""Publishing a release: the provider's main job, as a short story of named steps.

1. **plan**: the provider owns the product and is active; the version is the last one + 1;
2. **check** the input's columns against ``schemas/products/<schema>.avsc`` (one sentence
   naming the wrong columns; nothing written);
3. **decide** every agreement on the product (in force? does its policy allow ``use`` now?);
4. **gate and write** in one streaming pass over the input: each batch is checked against
   ``expectations/<suite>.json`` on a worker thread (:class:`~dataspace.quality.gate.Validation`)
   while the release is written once (``<product>/<version>/part-0.parquet``, SHA-256 and
   rows) with every allowed view; hash masks are salted per agreement with
   :meth:`KeyStore.mask_salt` (an HMAC of the agreement id under the node's secret). The
   write is speculative: nothing records or announces it until the gate has passed. On
   failure every object of the version is removed, the quality report is stored at
   ``<product>/<version>/quality-report.json``, the release is recorded as quarantined
   (ledger entry, ReleaseQuarantined event) and nothing is delivered
   (docs/adr/0018-the-gate-checks-while-the-release-is-written.md). A public-data release
   publishes only the file its desensitization wrote (its SHA-256), and its report is written
   beside it (``desensitization-report.json`` and ``.html``) in the same speculative write;
5. **record** release, deliveries, counts, ledger entries and events in one transaction;
6. **relay** the outbox once, so events go out at once when the broker is up. A broker that
   is down does not fail the publish: the events wait in the outbox for ``dataspace relay``.

Steps 1, 3, 5 and 6 are the control plane's: the publish asks a
:class:`~dataspace.publishing.desk.ReleaseDesk` for them, this node's own
(:class:`~dataspace.publishing.desk.LocalDesk`, the default) or the hub's from a provider's
connector (:class:`~dataspace.connector.release_desk.HubDesk`). Steps 2 and 4 (the bytes)
always run on the node given, with its bucket and its mask secret.

Re-running a publish that crashed before step 5 writes to the same keys (the version was
never recorded, so it is handed out again): a release or view already complete with the same
content is reused, and one left with other content by the crashed attempt is discarded and
written again, since nobody was told of it. Step 1 reserves the version
(:mod:`dataspace.controlplane.reservations`): a second publish of the product meanwhile is
refused at once, before it writes anything; the reservation is renewed after each long step,
settled by step 5 and given back when the publish fails.

``mode`` is recorded on the release and in every event. Deliveries are made the same way in
both modes; *snapshot* tells subscribers the release replaces earlier versions, *append*
that its rows add to them (a subscriber keeps every version it landed and reads them
together).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from dataspace.canonical import file_sha256
from dataspace.controlplane import releases
from dataspace.controlplane.public_releases import PublicReleaseAuthorization
from dataspace.controlplane.releases import Delivery, QualityFacts, Recipient, ReleasePlan
from dataspace.dataplane.handoff import Handoff
from dataspace.dataplane.layout import (
    StoredObject,
    desensitization_report_key,
    report_key,
    version_prefix,
)
from dataspace.dataplane.objects import ObjectStore
from dataspace.dataplane.release import write_release
from dataspace.dataplane.schema_check import check_input, read_input
from dataspace.dataplane.tee import tee
from dataspace.dataplane.views import ViewPass, ViewRequest
from dataspace.errors import Conflict, InvalidInput, Refused
from dataspace.identity.keystore import KeyStore
from dataspace.node import Node
from dataspace.publishing.desensitization_page import render
from dataspace.publishing.desk import LocalDesk, Recorded, ReleaseDesk
from dataspace.quality.gate import QualityReport, Suite, Validation
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

# The progress stage of the one pass that checks the input and writes the release and views.
UPLOAD_STAGE = "gate + upload"


class Progress(Protocol):
    """Where a long step reports how far it got (the CLI draws bars; tests pass nothing)."""

    def start(self, stage: str, total_rows: int | None) -> None: ...

    def advance(self, rows: int) -> None: ...


class _Silent:
    def start(self, stage: str, total_rows: int | None) -> None:
        return None

    def advance(self, rows: int) -> None:
        return None


@dataclass(frozen=True)
class DeliveryLine:
    subscriber: str
    agreement_id: str
    delivery_id: str | None
    rows: int | None
    bytes: int | None
    reason: str | None  # why nothing was delivered


@dataclass(frozen=True)
class PublishSummary:
    """What a publish did, for the CLI's table and ``--json``."""

    product_id: str
    version: int
    mode: str
    status: str  # accepted | quarantined
    rows: int
    bytes: int
    sha256: str
    quality: str
    report_key: str | None = None
    deliveries: tuple[DeliveryLine, ...] = ()
    events_sent: int = 0
    events_pending: int = 0
    relay_error: str | None = None
    seconds: float = 0.0
    held: bool = False  # recorded nowhere yet: the manifest is sent when the hub is back

    @property
    def delivered(self) -> tuple[DeliveryLine, ...]:
        return tuple(line for line in self.deliveries if line.reason is None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Input:
    """The file being published, with the product's schema."""

    path: Path
    avro: dict[str, Any]
    schema: pa.Schema = field(init=False)

    def batches(self, progress: Progress) -> Iterator[pa.RecordBatch]:
        for batch in read_input(self.path, self.avro):
            progress.advance(batch.num_rows)
            yield batch


def publish(
    node: Node,
    *,
    product_id: str,
    provider: str,
    source: Path,
    mode: str = "snapshot",
    progress: Progress | None = None,
    now: datetime | None = None,
    desk: ReleaseDesk | None = None,
    authorization: PublicReleaseAuthorization | None = None,
) -> PublishSummary:
    """Publish ``source`` as the next release of ``product_id`` (see the module docstring).

    ``desk`` is the control plane (this node's when None). The events go out through the
    node's one Kafka sender (a new idempotent producer costs about half a second against
    Tansu, so a process that publishes often keeps one). A public-data product needs the
    ``authorization`` its desensitization recorded (:mod:`~dataspace.controlplane.public_releases`).
    """
    started, now, progress = time.monotonic(), now or utcnow(), progress or _Silent()
    desk = desk or LocalDesk(node)
    plan = desk.plan(product_id, provider, mode, now, authorization)
    try:
        summary = _publish_reserved(node, desk, plan, source, progress, now)
    except BaseException:
        desk.give_back(plan)
        raise
    log.info(
        "publish finished",
        extra={"product": plan.product_id, "version": plan.version, "status": summary.status},
    )
    return replace(summary, seconds=round(time.monotonic() - started, 3))


# -- the steps ------------------------------------------------------------------------------


def _publish_reserved(  # noqa: PLR0917 (a step of the story)
    node: Node,
    desk: ReleaseDesk,
    plan: ReleasePlan,
    source: Path,
    progress: Progress,
    now: datetime,
) -> PublishSummary:
    """Steps 2-6, while this publish holds the version (renewed after each long step)."""
    given = checked_input(node.product_schema(plan.schema_name), source)
    require_desensitized(plan, source)
    store = node.release_store()
    recipients = desk.recipients(plan, now)
    requests = view_requests(node.keys, recipients)
    suite = node.suite(plan.suite_name)
    report, release, deliveries = write_with_views(store, suite, plan, given, requests, progress)
    store_desensitization_report(store, plan)
    desk.renew(plan)
    if not report.passed:
        store.discard(version_prefix(plan.product_id, plan.version))
        return quarantine(desk, store, plan, given, report, now)
    recorded = desk.record_publication(plan, release, deliveries, now)
    summary = summarize(plan, release, report, recipients, deliveries, list(recorded.late))
    return _with_relay(summary, recorded)


def _with_relay(summary: PublishSummary, recorded: Recorded) -> PublishSummary:
    return replace(
        summary, events_sent=recorded.events_sent, events_pending=recorded.events_pending,
        relay_error=recorded.relay_error, held=recorded.held,
    )  # fmt: skip


def checked_input(avro: dict[str, Any], source: Path) -> _Input:
    """The input, if it is a readable file whose columns match the product's schema."""
    if not source.is_file():
        raise InvalidInput(f"The file {source} does not exist or is not a file; check the path.")
    given = _Input(source, avro)
    try:
        given.schema = check_input(source, avro)
    except PermissionError as exc:
        raise InvalidInput(f"The file {source} cannot be read ({exc.strerror}).") from exc
    return given


def require_desensitized(plan: ReleasePlan, source: Path) -> None:
    """A public-data release publishes exactly the file its desensitization wrote."""
    if plan.public is None:
        return
    expected = plan.public.authorization.desensitized_sha256
    if file_sha256(source) != expected:
        raise Refused(
            f"The file {source} is not the one desensitized for {plan.product_id} (SHA-256 "
            f"{expected}); publish the file the authorized-operation path wrote."
        )


def store_desensitization_report(store: ObjectStore, plan: ReleasePlan) -> None:
    """The report beside the release, exactly the bytes whose SHA-256 the ledger holds, and
    its page; part of the speculative write (discarded with the version if the gate fails)."""
    if plan.public is None:
        return
    document = plan.public.report
    store.put(desensitization_report_key(plan.product_id, plan.version), document)
    page = render(json.loads(document), report_sha256=plan.public.report_sha256,
                  version=plan.version)  # fmt: skip
    store.put(desensitization_report_key(plan.product_id, plan.version, "html"), page)


def quarantine(  # noqa: PLR0917 (a step of the story; arguments in the order they are used)
    desk: ReleaseDesk,
    store: ObjectStore,
    plan: ReleasePlan,
    given: _Input,
    report: QualityReport,
    now: datetime,
) -> PublishSummary:
    """Store the report, record the quarantined release, deliver nothing."""
    document = json.dumps(report.report_json, indent=2, sort_keys=True, default=str).encode()
    stored_report = store.put(report_key(plan.product_id, plan.version), document)
    rows = int(report.statistics["rows"])
    rejected = StoredObject("", file_sha256(given.path), rows, given.path.stat().st_size)
    failed = tuple(
        f"{item.type}({item.column})" if item.column else item.type
        for item in report.failed_expectations
    )
    quality = QualityFacts(int(report.statistics["evaluated_expectations"]), len(failed), failed)
    recorded = desk.record_quarantine(plan, rejected, stored_report, quality, now)
    summary = PublishSummary(
        plan.product_id,
        plan.version,
        plan.mode,
        "quarantined",
        rows,
        rejected.bytes,
        rejected.sha256,
        report.summary(),
        report_key=stored_report.key,
    )
    return _with_relay(summary, recorded)


def view_requests(keys: KeyStore, recipients: list[Recipient]) -> list[ViewRequest]:
    """The view of every recipient its policy allows one, with its agreement's mask salt."""
    return [
        ViewRequest(r.subscriber, r.agreement_id, r.view, keys.mask_salt(r.agreement_id))
        for r in recipients
        if r.view is not None
    ]


def write_with_views(  # noqa: PLR0917 (a step of the story)
    store: ObjectStore,
    suite: Suite,
    plan: ReleasePlan,
    given: _Input,
    requests: list[ViewRequest],
    progress: Progress,
) -> tuple[QualityReport, StoredObject, list[Delivery]]:
    """Gate the input and write the release and every view in one pass over it; objects
    that an unrecorded attempt left with other content are discarded and written again.
    The caller removes what was written if the gate's report did not pass."""

    def one_pass() -> tuple[QualityReport, StoredObject, list[Delivery]]:
        progress.start(UPLOAD_STAGE, _known_rows(given.path))
        validation = Validation(suite)
        with (
            ViewPass(
                store, given.schema, requests, product=plan.product_id, version=plan.version
            ) as views,
            Handoff(validation.add, name="quality-gate") as gate,
        ):
            batches = tee(given.batches(progress), views.add, gate.put)
            release = write_release(store, plan.product_id, plan.version, given.schema, batches)
            derived = views.finish(release)
        report = validation.report(given.schema)
        made = [Delivery(view.agreement, view.subscriber, view.stored) for view in derived]
        return report, release, made

    try:
        return one_pass()
    except Conflict:
        log.warning("discarding unannounced objects of %s v%s", plan.product_id, plan.version)
        store.discard(version_prefix(plan.product_id, plan.version))
        return one_pass()


def summarize(  # noqa: PLR0917 (a step of the story)
    plan: ReleasePlan,
    release: StoredObject,
    report: QualityReport,
    recipients: list[Recipient],
    deliveries: list[Delivery],
    late: list[releases.Refusal],
) -> PublishSummary:
    made = {d.agreement_id: d for d in deliveries}
    refused = {r.agreement_id: r.reason for r in late}
    lines = [
        _line(plan, recipient, made.get(recipient.agreement_id), refused)
        for recipient in recipients
    ]
    return PublishSummary(
        plan.product_id,
        plan.version,
        plan.mode,
        "accepted",
        release.rows,
        release.bytes,
        release.sha256,
        report.summary(),
        deliveries=tuple(lines),
    )


def _line(
    plan: ReleasePlan, recipient: Recipient, made: Delivery | None, refused: dict[str, str]
) -> DeliveryLine:
    who = (recipient.subscriber, recipient.agreement_id)
    late = refused.get(recipient.agreement_id)
    if made is None or late is not None:
        return DeliveryLine(*who, None, None, None, late or recipient.reason)
    identifier = releases.delivery_id(recipient.agreement_id, plan.version)
    return DeliveryLine(*who, identifier, made.stored.rows, made.stored.bytes, None)


# -- helpers --------------------------------------------------------------------------------


def _known_rows(path: Path) -> int | None:
    """The row count a Parquet footer states; None for CSV (known after the gate)."""
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, pa.ArrowInvalid):
        return None
