"""The control plane as a publish sees it: one small port, two implementations.

A publish (:mod:`dataspace.publishing.publish`) runs its data plane (schema check, gate,
release and views) on the node it is given, and asks a :class:`ReleaseDesk` for everything
the control plane decides or records: the reserved version, the recipients and their views,
renewing and giving back the reservation, and recording the outcome.

- :class:`LocalDesk` is this node's own control plane (single-process mode, tests, the DAGs);
- :class:`~dataspace.connector.release_desk.HubDesk` is the hub, reached over HTTP from a
  provider's connector: the bytes never leave the connector, only the manifest does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from dataspace.controlplane import releases, reservations
from dataspace.controlplane.public_releases import PublicReleaseAuthorization
from dataspace.controlplane.releases import (
    Delivery,
    QualityFacts,
    Recipient,
    ReleasePlan,
)
from dataspace.dataplane.layout import StoredObject
from dataspace.node import Node


@dataclass(frozen=True)
class Recorded:
    """What recording a release did: deliveries refused late (their agreement ended), what
    the outbox relay sent, and whether the record is only *held* (sent when the hub is back)."""

    late: tuple[releases.Refusal, ...] = ()
    events_sent: int = 0
    events_pending: int = 0
    relay_error: str | None = None
    held: bool = False


class ReleaseDesk(Protocol):
    """Where a publish reserves its version and records its outcome.

    Guarantees of every implementation: :meth:`plan` reserves the version or raises (nothing
    is written before it answers); :meth:`give_back` and :meth:`renew` never fail the publish
    for a control plane that is away (the reservation then expires by itself); the record
    methods are idempotent for one reserved version, so a retry announces nothing twice.
    """

    def plan(
        self,
        product_id: str,
        provider: str,
        mode: str,
        now: datetime,
        authorization: PublicReleaseAuthorization | None = None,
    ) -> ReleasePlan: ...

    def recipients(self, plan: ReleasePlan, now: datetime) -> list[Recipient]: ...

    def renew(self, plan: ReleasePlan) -> None: ...

    def give_back(self, plan: ReleasePlan) -> None: ...

    def record_publication(
        self,
        plan: ReleasePlan,
        release: StoredObject,
        deliveries: Sequence[Delivery],
        now: datetime,
    ) -> Recorded: ...

    def record_quarantine(
        self,
        plan: ReleasePlan,
        rejected: StoredObject,
        report: StoredObject,
        quality: QualityFacts,
        now: datetime,
    ) -> Recorded: ...


@dataclass(frozen=True)
class LocalDesk:
    """This node's control plane: its database and key store, and its outbox relayed once
    after recording (a broker that is down leaves the events pending)."""

    node: Node

    def plan(
        self,
        product_id: str,
        provider: str,
        mode: str,
        now: datetime,
        authorization: PublicReleaseAuthorization | None = None,
    ) -> ReleasePlan:
        return releases.plan_release(
            self.node.db, self.node.keys, product=product_id, provider=provider, mode=mode,
            now=now, authorization=authorization,
        )  # fmt: skip

    def recipients(self, plan: ReleasePlan, now: datetime) -> list[Recipient]:
        return releases.recipients(self.node.db, self.node.keys, plan, now)

    def renew(self, plan: ReleasePlan) -> None:
        reservations.renew(self.node.db, plan.product_id, plan.reservation)

    def give_back(self, plan: ReleasePlan) -> None:
        reservations.give_back(self.node.db, plan.product_id, plan.reservation)

    def record_publication(
        self,
        plan: ReleasePlan,
        release: StoredObject,
        deliveries: Sequence[Delivery],
        now: datetime,
    ) -> Recorded:
        late = releases.record_publication(
            self.node.db, self.node.keys, plan, release, deliveries, now=now
        )
        return self._relayed(tuple(late))

    def record_quarantine(
        self,
        plan: ReleasePlan,
        rejected: StoredObject,
        report: StoredObject,
        quality: QualityFacts,
        now: datetime,
    ) -> Recorded:
        releases.record_quarantine(
            self.node.db, self.node.keys, plan,
            rejected=rejected, report=report, quality=quality, now=now,
        )  # fmt: skip
        return self._relayed(())

    def _relayed(self, late: tuple[releases.Refusal, ...]) -> Recorded:
        flushed = self.node.flush_outbox()
        return Recorded(late, flushed.sent, flushed.pending, flushed.error)
