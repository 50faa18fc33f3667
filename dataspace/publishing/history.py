"""Delivering history: the releases a subscriber asks for from a given version, as a story.

1. **plan**: the control plane judges the request now (agreement in force, policy allows
   ``use``, the version exists) and lists the accepted releases ``>= N`` not yet delivered
   under the subscriber's agreement (:func:`dataspace.controlplane.history.plan_history`);
2. **derive** the subscriber's view of each, in one streaming pass over the stored release
   object, exactly as publish does (same view keys, same salted masks; a view that is the
   whole release reuses the release object);
3. **record** every delivery, its count, ledger entry and DeliveryAnnounced event in one
   transaction;
4. **relay** the outbox once; the subscriber's agent lands the deliveries as usual.

Asking twice delivers nothing twice: a release delivered under the agreement is not due again,
and a view already written from the same release and agreement is reused, not rewritten.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from dataspace.controlplane import history
from dataspace.controlplane.history import Outcome, PastRelease
from dataspace.controlplane.releases import Delivery, ReleasePlan
from dataspace.dataplane.objects import ObjectStore
from dataspace.dataplane.views import ViewRequest, derive_views
from dataspace.identity.keystore import KeyStore
from dataspace.node import Node
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HistoryLine:
    version: int
    mode: str
    agreement_id: str
    delivery_id: str | None
    rows: int | None
    bytes: int | None
    reason: str | None  # why it was not delivered

    @classmethod
    def of(cls, outcome: Outcome) -> HistoryLine:
        release, stored = outcome.release, outcome.delivery.stored
        if outcome.refusal is not None:
            return cls(release.version, release.mode, outcome.delivery.agreement_id, None, None,
                       None, outcome.refusal)  # fmt: skip
        return cls(release.version, release.mode, outcome.delivery.agreement_id,
                   outcome.delivery_id, stored.rows, stored.bytes, None)  # fmt: skip


@dataclass(frozen=True)
class HistorySummary:
    """What a history request delivered, for the CLI's table and ``--json``."""

    subscriber: str
    product_id: str
    from_version: int
    latest_version: int
    deliveries: tuple[HistoryLine, ...] = ()
    events_sent: int = 0
    events_pending: int = 0
    relay_error: str | None = None
    seconds: float = 0.0

    @property
    def delivered(self) -> tuple[HistoryLine, ...]:
        return tuple(line for line in self.deliveries if line.reason is None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def deliver_history(
    node: Node,
    *,
    subscriber: str,
    product_id: str,
    from_version: int,
    now: datetime | None = None,
) -> HistorySummary:
    """Deliver to ``subscriber`` every release of ``product_id`` from ``from_version`` on that
    it has not received under its agreement (see the module docstring)."""
    started, now = time.monotonic(), now or utcnow()
    db, keys = node.db, node.keys
    plan = history.plan_history(
        db, keys, subscriber=subscriber, product=product_id, from_version=from_version, now=now
    )
    made: list[tuple[ReleasePlan, Delivery]] = []
    if plan.releases:
        store = node.release_store()
        made = [item for past in plan.releases for item in derive(store, keys, past)]
    outcomes = history.record_history(db, keys, made, now=now)
    summary = HistorySummary(
        plan.subscriber,
        plan.product_id,
        plan.from_version,
        plan.latest_version,
        tuple(HistoryLine.of(outcome) for outcome in outcomes),
    )
    if summary.delivered:
        flushed = node.flush_outbox()
        summary = replace(
            summary,
            events_sent=flushed.sent,
            events_pending=flushed.pending,
            relay_error=flushed.error,
        )
    log.info(
        "history delivered",
        extra={"product": plan.product_id, "subscriber": plan.subscriber,
               "deliveries": len(summary.delivered)},
    )  # fmt: skip
    return replace(summary, seconds=round(time.monotonic() - started, 3))


def derive(
    store: ObjectStore, keys: KeyStore, past: PastRelease
) -> list[tuple[ReleasePlan, Delivery]]:
    """The subscriber's views of one stored release, in one pass over it."""
    requests = [
        ViewRequest(r.subscriber, r.agreement_id, r.view, keys.mask_salt(r.agreement_id))
        for r in past.recipients
        if r.view is not None
    ]
    views = derive_views(
        store, past.stored, requests, product=past.plan.product_id, version=past.plan.version
    )
    return [(past.plan, Delivery(v.agreement, v.subscriber, v.stored)) for v in views]
