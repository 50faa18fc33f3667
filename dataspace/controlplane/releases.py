"""Releases and deliveries as the control plane records them: who may publish which version,
who receives which view, and the one transaction that announces it all.

Rules enforced here:

- only the product's owner publishes it, and only while active; its private key must be on
  this node (it signs the ledger entries and events). Versions are numbered per product from
  1; a quarantined release uses up its number too, so every attempt is on the record;
- a public-data product is released only with the authorization of its desensitization
  (:mod:`dataspace.controlplane.public_releases`), used once by the release it publishes;
- a subscriber receives a release under an agreement only if the agreement is in force
  (:func:`agreements.standings`) and its policy allows ``use`` at the moment of publishing
  (:func:`dataspace.policy.evaluate.evaluate`, with the agreement's purpose and the number of
  deliveries so far); the decision's view is what the subscriber gets. A refusal carries the
  reason, in words, for the provider's summary;
- :func:`record_publication` writes, in one transaction, the release row, one delivery row per
  recipient (id ``dlv-<agreement>-v<version>``), the delivery counts, the ledger entries
  (``release.published`` and one ``delivery.announced`` per delivery) and their events
  (ProductPublished keyed by the provider, DeliveryAnnounced keyed by the subscriber). An
  agreement that ended between the decision and this transaction is skipped, with a reason;
- :func:`record_quarantine` writes the quarantined release with its report's key, one ledger
  entry and a ReleaseQuarantined event, and no delivery;
- on the hub, a provider's connector records its release with a manifest
  (:mod:`dataspace.controlplane.release_manifests`), which calls the two functions above.

Nothing here touches the object store: the data plane writes objects first, and this module
announces them only after they are complete (DESIGN §6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataspace.controlplane import agreements, public_releases, reservations
from dataspace.controlplane.acting import Signer
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import party_signing_key, require_active
from dataspace.controlplane.public_releases import AuthorizedRelease, PublicReleaseAuthorization
from dataspace.controlplane.read_models import AgreementView
from dataspace.dataplane.layout import StoredObject
from dataspace.errors import Conflict, InvalidInput, NotFound, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.ids import participant_id, product_id
from dataspace.policy.evaluate import Context, evaluate
from dataspace.policy.model import ViewSpec, parse_policy
from dataspace.policy.vocabulary import Action, Role
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import RELEASE_MODES, DeliveryRow, ParticipantRow, ReleaseRow


@dataclass(frozen=True)
class ReleasePlan:
    """The release about to be published: the next version of a product, by its owner."""

    product_id: str
    provider: str
    version: int
    mode: str
    schema_name: str
    suite_name: str
    reservation: str = ""  # the token of the publish holding this version (reservations.py)
    public: AuthorizedRelease | None = None  # a public-data release's checked authorization

    @property
    def ref(self) -> str:
        """How ledger entries name the release: ``<product>/<version>``."""
        return f"{self.product_id}/{self.version}"


@dataclass(frozen=True)
class Recipient:
    """A subscriber under one agreement: its view if it receives the release, else why not."""

    agreement_id: str
    subscriber: str
    view: ViewSpec | None
    reason: str


@dataclass(frozen=True)
class Delivery:
    """A view that is complete in the object store, to be announced to its subscriber."""

    agreement_id: str
    subscriber: str
    stored: StoredObject


@dataclass(frozen=True)
class Refusal:
    agreement_id: str
    subscriber: str
    reason: str


@dataclass(frozen=True)
class QualityFacts:
    """What the ReleaseQuarantined event says about a failed quality gate."""

    evaluated: int
    failed: int
    failed_checks: tuple[str, ...]


def delivery_id(agreement_id: str, version: int) -> str:
    """``dlv-<agreement>-v<version>``: one delivery per agreement and release, replay-stable."""
    return f"dlv-{agreement_id}-v{version}"


def plan_release(
    db: Database,
    keys: KeyStore,
    *,
    product: str,
    provider: str,
    mode: str,
    now: datetime,
    authorization: PublicReleaseAuthorization | None = None,
) -> ReleasePlan:
    """The next version of ``product``, reserved, if ``provider`` may publish it now.

    A public-data product needs ``authorization`` from the authorized-operation path
    (:mod:`dataspace.controlplane.public_releases`); any other product must not have one.
    Refused at once (Conflict) while another publish of the product holds its reservation;
    the caller settles the reservation by recording, or gives it back when it fails.
    """
    if mode not in RELEASE_MODES:
        raise InvalidInput(f"The release mode {mode!r} is unknown; use snapshot or append.")
    with db.transaction(read_only=True) as session:
        # First, so that nobody but the owner learns how the product is released.
        found = repository.get_product(session, product_id(product))
        _require_owner(found.id, found.owner_id, provider)
    public = public_releases.authorized_release(db, product, authorization, now)
    with db.transaction() as session:
        row = repository.get_product(session, product_id(product), for_update=True)
        _require_owner(row.id, row.owner_id, provider)
        require_active(session, provider, now, "publish releases")
        party_signing_key(session, keys, provider)  # signs the entries: it must be here
        token = reservations.new_token()
        version = reservations.reserve(session, row.id, last_version(session, row.id) + 1, token)
        return ReleasePlan(
            row.id, provider, version, mode, row.schema_name, row.suite_name, token, public
        )


def _require_owner(product: str, owner: str, provider: str) -> None:
    if owner != participant_id(provider):
        raise Unauthorized(
            f"The product {product!r} belongs to {owner!r}; {provider!r} cannot "
            "publish it. Publish your own products, or act as their owner."
        )


def recipients(db: Database, keys: KeyStore, plan: ReleasePlan, now: datetime) -> list[Recipient]:
    """Every agreement on the product, each with its subscriber's view or the refusal."""
    standings = agreements.standings(db, keys, plan.product_id, now=now)
    in_force = [s.agreement for s in standings if s.refusal is None]
    decided = {r.agreement_id: r for r in decide(db, in_force, now)}
    return [
        Recipient(s.agreement.agreement_id, s.agreement.consumer, None, s.refusal)
        if s.refusal is not None
        else decided[s.agreement.agreement_id]
        for s in standings
    ]


def decide(db: Database, in_force: Sequence[AgreementView], now: datetime) -> list[Recipient]:
    """The view each agreement's policy allows its consumer at ``now`` (``use``), or why not;
    the consumers are read in one transaction and one SELECT."""
    with db.transaction(read_only=True) as session:
        consumers = {
            p.id: p for p in repository.participants(session, (a.consumer for a in in_force))
        }
        contexts = [_use_context(agreement, consumers, now) for agreement in in_force]
    return [_decide(a, context) for a, context in zip(in_force, contexts, strict=True)]


def _use_context(
    agreement: AgreementView, consumers: dict[str, ParticipantRow], now: datetime
) -> Context:
    consumer = consumers.get(agreement.consumer)
    if consumer is None:  # foreign keys make this a corrupted database
        raise NotFound(
            f"The consumer {agreement.consumer!r} of {agreement.agreement_id!r} is missing."
        )
    return Context(
        action=Action.USE,
        purpose=agreement.purpose or "",
        recipient=consumer.id,
        roles=frozenset(Role(role) for role in consumer.roles),
        region=consumer.region,
        now=now,
        industry_chains=frozenset(consumer.industry_chains),
        deliveries_so_far=agreement.deliveries_made,
    )


def _decide(agreement: AgreementView, context: Context) -> Recipient:
    decision = evaluate(parse_policy(agreement.policy), context)
    why = "; ".join(decision.reasons[1:])
    if decision.allowed and decision.view is not None:
        return Recipient(agreement.agreement_id, agreement.consumer, decision.view, why)
    return Recipient(
        agreement.agreement_id, agreement.consumer, None, f"the policy denies delivery: {why}"
    )


def record_publication(
    db: Database,
    keys: KeyStore,
    plan: ReleasePlan,
    release: StoredObject,
    deliveries: Sequence[Delivery],
    *,
    now: datetime,
) -> list[Refusal]:
    """Release, deliveries, counts, ledger entries and events in one transaction.

    Returns the deliveries skipped because their agreement ended meanwhile.
    """
    with db.transaction() as session:
        key = _lock_version(session, keys, plan)
        counted, late = count_deliveries(session, deliveries, now)
        public = public_releases.use(session, plan.product_id, plan.version, plan.public)
        row = _release_row(plan, "accepted", release, now)
        session.add(row)
        session.flush()
        body = {
            **_release_body(plan),
            "mode": plan.mode,
            "sha256": release.sha256,
            "row_count": release.rows,
            "byte_size": release.bytes,
            "delivery_count": len(counted),
        }
        facts = {**body, "objectKey": release.key, **public}
        _record(session, key, plan, "release.published", "ProductPublished", body, facts, now)
        for delivery, deliveries_made in counted:
            announce_delivery(session, key, plan, row, delivery, deliveries_made, now)
        return late


def record_quarantine(
    db: Database,
    keys: KeyStore,
    plan: ReleasePlan,
    *,
    rejected: StoredObject,
    report: StoredObject,
    quality: QualityFacts,
    now: datetime,
) -> None:
    """The release failed its quality gate: recorded with its report, announced, not delivered.

    ``rejected`` describes the input as it was given (its SHA-256, rows and bytes); it was not
    written to the store, so its key is empty.
    """
    with db.transaction() as session:
        key = _lock_version(session, keys, plan)
        row = _release_row(plan, "quarantined", rejected, now)
        row.quality_report_key = report.key
        session.add(row)
        session.flush()
        body = {
            **_release_body(plan),
            "evaluated_expectations": quality.evaluated,
            "failed_expectations": quality.failed,
            "failed_checks": list(quality.failed_checks),
            "report_sha256": report.sha256,
        }
        facts = {**body, "inputSha256": rejected.sha256, "reportKey": report.key}
        _record(session, key, plan, "release.quarantined", "ReleaseQuarantined", body, facts, now)


# -- internals ------------------------------------------------------------------------------


def last_version(session: Session, product: str) -> int:
    """The last version of ``product`` recorded (0 when none)."""
    last = session.scalar(
        select(func.max(ReleaseRow.version)).where(ReleaseRow.product_id == product)
    )
    return int(last or 0)


def _lock_version(session: Session, keys: KeyStore, plan: ReleasePlan) -> Signer:
    """Serialize publishers of the product and refuse a version someone else took meanwhile."""
    repository.get_product(session, plan.product_id, for_update=True)
    reservations.settle(session, plan.product_id, plan.version, plan.reservation)
    if last_version(session, plan.product_id) >= plan.version:
        raise Conflict(
            f"Version {plan.version} of {plan.product_id!r} was recorded by another publish "
            "meanwhile; publish again to get the next version."
        )
    return party_signing_key(session, keys, plan.provider)


def count_deliveries(
    session: Session, deliveries: Sequence[Delivery], now: datetime
) -> tuple[list[tuple[Delivery, int]], list[Refusal]]:
    """Count each delivery under its agreement; those whose agreement ended are refused."""
    counts = agreements.count_deliveries(session, [d.agreement_id for d in deliveries], now=now)
    counted, late = [], []
    for delivery in deliveries:
        count = counts[delivery.agreement_id]
        if isinstance(count, Conflict):
            late.append(Refusal(delivery.agreement_id, delivery.subscriber, str(count)))
        else:
            counted.append((delivery, count))
    return counted, late


def _release_row(plan: ReleasePlan, status: str, stored: StoredObject, now: datetime) -> ReleaseRow:
    return ReleaseRow(
        product_id=plan.product_id,
        version=plan.version,
        mode=plan.mode,
        status=status,
        sha256=stored.sha256,
        row_count=stored.rows,
        byte_size=stored.bytes,
        object_key=stored.key,
        created_at=now,
    )


def _release_body(plan: ReleasePlan) -> dict[str, Any]:
    return {"provider_id": plan.provider, "product_id": plan.product_id, "version": plan.version}


def _record(  # noqa: PLR0917 (private; the call sites read as one sentence)
    session: Session,
    key: Signer,
    plan: ReleasePlan,
    action: str,
    event: str,
    body: dict[str, Any],
    facts: dict[str, Any],
    now: datetime,
) -> None:
    change = Change(
        plan.provider,
        action,
        (plan.ref, plan.product_id, plan.provider),
        facts,
        about=plan.provider,
        event=event,
        event_body=body,
        event_coordinates=(plan.product_id, plan.version),
    )
    record(session, key, change, now)


def announce_delivery(  # noqa: PLR0917 (one row, entry and event; callers name the roles)
    session: Session,
    key: Signer,
    plan: ReleasePlan,
    release: ReleaseRow,
    delivery: Delivery,
    deliveries_made: int,
    now: datetime,
) -> None:
    """The delivery row, its ``delivery.announced`` entry and DeliveryAnnounced event, signed
    with the provider's ``key``, in the caller's transaction."""
    identifier = delivery_id(delivery.agreement_id, plan.version)
    stored = delivery.stored
    # The product id is a subject too: the hub attests the entry with the provider's
    # manifest, whose ``product`` field names it (dataspace.ledger.attestation.RULES).
    subjects = (identifier, delivery.agreement_id, plan.ref, delivery.subscriber, plan.product_id)
    session.add(
        DeliveryRow(
            id=identifier,
            agreement_id=delivery.agreement_id,
            release_id=release.id,
            subscriber_id=delivery.subscriber,
            object_key=stored.key,
            sha256=stored.sha256,
            row_count=stored.rows,
            byte_size=stored.bytes,
            state="announced",
            created_at=now,
        )
    )
    body = {
        "delivery_id": identifier,
        "agreement_id": delivery.agreement_id,
        "product_id": plan.product_id,
        "version": plan.version,
        "provider_id": plan.provider,
        "subscriber_id": delivery.subscriber,
        "mode": plan.mode,
        "sha256": stored.sha256,
        "row_count": stored.rows,
        "byte_size": stored.bytes,
    }
    change = Change(
        plan.provider,
        "delivery.announced",
        subjects,
        {**body, "objectKey": stored.key, "deliveriesMade": deliveries_made},
        about=delivery.subscriber,
        event="DeliveryAnnounced",
        event_body=body,
        event_coordinates=(identifier,),
    )
    record(session, key, change, now)
