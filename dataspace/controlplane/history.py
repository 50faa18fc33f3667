"""History from a given version: a subscriber asks for the releases it missed.

Deliveries are normally made only for releases published while an agreement was in force. A
subscriber whose agreement is in force *now* may ask for every published release of the
product from version ``N`` on; this module decides what that request earns and records it.

Rules enforced here:

- the request is judged at the moment it is made: the subscriber must hold an agreement on
  the product that is in force (:func:`agreements.standings`) and whose policy allows ``use``
  now (:func:`releases.decide`); a refusal is one sentence (no agreement, ended, suspended,
  denied by the policy, ``N`` < 1, ``N`` beyond the latest version, unknown product);
- only accepted releases count: a quarantined version is skipped, never delivered;
- a release already delivered under the agreement is not delivered again, so asking twice
  delivers nothing twice; the delivery id is the one publish would have used
  (``dlv-<agreement>-v<version>``), so a history delivery and a publish delivery of the same
  release cannot both exist;
- :func:`record_history` writes, in one transaction, every delivery row, its count under the
  agreement, its ``delivery.announced`` ledger entry and its DeliveryAnnounced event, all
  signed by the provider as publish does. A delivery that appeared meanwhile (a concurrent
  request) is skipped; one the agreement's delivery count no longer allows is refused with
  its reason.

Like :mod:`releases`, nothing here touches the object store: the caller derives each view
from the stored release first, and this module announces only complete views.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataspace.controlplane import agreements, releases
from dataspace.controlplane.participants import party_signing_key
from dataspace.controlplane.releases import Delivery, Recipient, ReleasePlan
from dataspace.dataplane.layout import StoredObject
from dataspace.errors import Conflict, InvalidInput, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.ids import participant_id, product_id
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import DeliveryRow, ReleaseRow


@dataclass(frozen=True)
class PastRelease:
    """A published release and the subscriber's agreements that have not received it."""

    plan: ReleasePlan
    stored: StoredObject
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True)
class HistoryPlan:
    """What a history request earns: the releases still due, oldest first."""

    subscriber: str
    product_id: str
    from_version: int
    latest_version: int
    recipients: tuple[Recipient, ...]
    releases: tuple[PastRelease, ...]


def plan_history(
    db: Database,
    keys: KeyStore,
    *,
    subscriber: str,
    product: str,
    from_version: int,
    now: datetime,
) -> HistoryPlan:
    """The releases ``>= from_version`` of ``product`` due to ``subscriber`` now (see above)."""
    if from_version < 1:
        raise InvalidInput(
            f"Versions are numbered from 1, so --from-version {from_version} asks for nothing; "
            "ask from version 1 or later."
        )
    with db.transaction() as session:
        subscriber = repository.get_participant(session, participant_id(subscriber)).id
        product = repository.get_product(session, product_id(product)).id
        latest = _latest_version(session, product)
    if from_version > latest:
        raise InvalidInput(
            f"The product {product!r} has no version {from_version}: its latest is {latest}; "
            f"ask from version {max(latest, 1)} or earlier."
            if latest
            else f"The product {product!r} has no release yet; ask again once one is published."
        )
    chosen = tuple(_recipients(db, keys, subscriber, product, now))
    with db.transaction() as session:
        due = _due_releases(session, product, from_version, chosen)
    return HistoryPlan(subscriber, product, from_version, latest, chosen, due)


@dataclass(frozen=True)
class Outcome:
    """One view of one release: announced (``refusal`` None) or refused, with the reason."""

    release: ReleasePlan
    delivery: Delivery
    refusal: str | None = None

    @property
    def delivery_id(self) -> str:
        return releases.delivery_id(self.delivery.agreement_id, self.release.version)


def record_history(
    db: Database,
    keys: KeyStore,
    made: Sequence[tuple[ReleasePlan, Delivery]],
    *,
    now: datetime,
) -> list[Outcome]:
    """Deliveries, counts, ledger entries and events in one transaction.

    Every view made is announced, or refused when its agreement ended or its delivery count
    is used up meanwhile; one announced meanwhile by another request is left out.
    """
    outcomes: list[Outcome] = []
    with db.transaction() as session:
        for release, delivery in made:
            identifier = releases.delivery_id(delivery.agreement_id, release.version)
            if session.get(DeliveryRow, identifier) is not None:
                continue
            counted, late = releases.count_deliveries(session, [delivery], now)
            outcomes.extend(Outcome(release, delivery, refusal.reason) for refusal in late)
            for item, deliveries_made in counted:
                key = party_signing_key(session, keys, release.provider)
                row = _release_row(session, release)
                releases.announce_delivery(session, key, release, row, item, deliveries_made, now)
                outcomes.append(Outcome(release, item))
    return outcomes


# -- internals ------------------------------------------------------------------------------


def _recipients(
    db: Database, keys: KeyStore, subscriber: str, product: str, now: datetime
) -> list[Recipient]:
    """The subscriber's agreements on the product that allow delivery now; else a refusal."""
    mine = [
        standing
        for standing in agreements.standings(db, keys, product, now=now)
        if standing.agreement.consumer == subscriber
    ]
    if not mine:
        raise Unauthorized(
            f"{subscriber!r} has no agreement on {product!r}, so it receives no history; "
            "request the product first (`dataspace agreement request`)."
        )
    in_force = [s.agreement for s in mine if s.refusal is None]
    if not in_force:
        last = mine[-1]
        raise Conflict(
            f"{subscriber!r} has no agreement in force on {product!r} "
            f"({last.agreement.agreement_id}: {last.refusal}); request the product again."
        )
    decided = releases.decide(db, in_force, now)
    allowed = [recipient for recipient in decided if recipient.view is not None]
    if not allowed:
        raise Unauthorized(
            f"No agreement of {subscriber!r} on {product!r} allows delivery now "
            f"({decided[0].agreement_id}: {decided[0].reason})."
        )
    return allowed


def _due_releases(
    session: Session, product: str, from_version: int, recipients: tuple[Recipient, ...]
) -> tuple[PastRelease, ...]:
    query = (
        select(ReleaseRow)
        .where(
            ReleaseRow.product_id == product,
            ReleaseRow.version >= from_version,
            ReleaseRow.status == "accepted",
        )
        .order_by(ReleaseRow.version)
    )
    owner = repository.get_product(session, product)
    due = []
    for row in session.scalars(query):
        missing = tuple(
            recipient
            for recipient in recipients
            if session.get(DeliveryRow, releases.delivery_id(recipient.agreement_id, row.version))
            is None
        )
        if missing:
            plan = ReleasePlan(
                product, owner.owner_id, row.version, row.mode, owner.schema_name, owner.suite_name
            )
            stored = StoredObject(row.object_key, row.sha256, row.row_count, row.byte_size)
            due.append(PastRelease(plan, stored, missing))
    return tuple(due)


def _latest_version(session: Session, product: str) -> int:
    latest = session.scalar(
        select(ReleaseRow.version)
        .where(ReleaseRow.product_id == product)
        .order_by(ReleaseRow.version.desc())
        .limit(1)
    )
    return int(latest or 0)


def _release_row(session: Session, plan: ReleasePlan) -> ReleaseRow:
    row = session.scalar(
        select(ReleaseRow).where(
            ReleaseRow.product_id == plan.product_id, ReleaseRow.version == plan.version
        )
    )
    if row is None:
        raise AssertionError(f"the release {plan.ref} was planned from a recorded row")
    return row
