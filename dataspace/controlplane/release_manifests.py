"""A provider's release manifest, recorded on the hub.

A provider's connector writes a release and its views into its own bucket and then sends the
hub a manifest (``POST /releases``): the version it reserved, the release's key, SHA-256, rows
and bytes, and one view per agreement. Rules:

- only the product's owner records its releases; every object is at the key its coordinates
  give (:mod:`dataspace.dataplane.layout`);
- the set of views must be exactly the agreements in force whose policy allows one, each for
  its consumer (:func:`check_views`): a view for an agreement not in force, or a missing view,
  records nothing (Conflict naming the agreements);
- it is recorded by :func:`~dataspace.controlplane.releases.record_publication` or
  :func:`~dataspace.controlplane.releases.record_quarantine` with the provider's signed
  request in hand, so the ledger keeps the manifest as the provider's proof;
- a manifest of a version already recorded with the same content answers that record again
  and records nothing: a connector that retries after a lost answer announces nothing twice;
- a manifest held on the connector while the hub was away may arrive after its reservation
  expired: it takes the version again if it is still the next one and nobody holds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from dataspace.controlplane import reservations
from dataspace.controlplane.releases import (
    Delivery,
    QualityFacts,
    Recipient,
    Refusal,
    ReleasePlan,
    delivery_id,
    last_version,
    recipients,
    record_publication,
    record_quarantine,
)
from dataspace.dataplane.layout import StoredObject, release_key, view_key
from dataspace.errors import Conflict, InvalidInput, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.ids import participant_id, product_id
from dataspace.policy.model import Mask, ViewSpec
from dataspace.policy.vocabulary import MaskMethod
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import RELEASE_MODES, DeliveryRow, ReleaseReservationRow, ReleaseRow
from dataspace.store.types import utcnow


@dataclass(frozen=True)
class ReleaseManifest:
    """What a provider's connector wrote for a reserved version, as the hub records it:
    the release (or, quarantined, the input it rejected and its quality report) and one
    view per agreement. The hub never sees the bytes, only their keys and checksums."""

    plan: ReleasePlan
    status: str  # accepted | quarantined
    release: StoredObject
    deliveries: tuple[Delivery, ...] = ()
    quality: QualityFacts | None = None
    report: StoredObject | None = None


@dataclass(frozen=True)
class ManifestRecord:
    """The hub's answer to a manifest: what was recorded, and whether it was recorded
    before (a manifest sent again records nothing)."""

    status: str
    version: int
    delivered: tuple[str, ...]  # delivery ids
    late: tuple[Refusal, ...]
    again: bool = False


def manifest_plan(
    db: Database, *, product: str, provider: str, version: int, mode: str, reservation: str
) -> ReleasePlan:
    """The plan a manifest names, if ``provider`` owns the product."""
    if mode not in RELEASE_MODES:
        raise InvalidInput(f"The release mode {mode!r} is unknown; use snapshot or append.")
    with db.transaction(read_only=True) as session:
        row = repository.get_product(session, product_id(product))
    if row.owner_id != participant_id(provider):
        raise Unauthorized(
            f"The product {row.id!r} belongs to {row.owner_id!r}; {provider!r} cannot record "
            "its releases."
        )
    return ReleasePlan(
        row.id, row.owner_id, version, mode, row.schema_name, row.suite_name, reservation
    )


def record_manifest(
    db: Database, keys: KeyStore, manifest: ReleaseManifest, *, now: datetime
) -> ManifestRecord:
    """Record a provider's manifest (the caller has its signed request in hand), once."""
    plan = manifest.plan
    _check_keys(manifest)
    recorded = _recorded(db, manifest)
    if recorded is not None:
        return recorded
    if manifest.status == "quarantined":
        if manifest.quality is None or manifest.report is None:
            raise InvalidInput("A quarantined release's manifest needs its quality and report.")
        _hold_version(db, plan)
        record_quarantine(
            db, keys, plan, rejected=manifest.release, report=manifest.report,
            quality=manifest.quality, now=now,
        )  # fmt: skip
        return ManifestRecord("quarantined", plan.version, (), ())
    check_views(recipients(db, keys, plan, now), manifest.deliveries)
    _hold_version(db, plan)
    late = record_publication(db, keys, plan, manifest.release, manifest.deliveries, now=now)
    refused = {r.agreement_id for r in late}
    delivered = tuple(
        delivery_id(d.agreement_id, plan.version)
        for d in manifest.deliveries
        if d.agreement_id not in refused
    )
    return ManifestRecord("accepted", plan.version, delivered, tuple(late))


def check_views(expected: Sequence[Recipient], deliveries: Sequence[Delivery]) -> None:
    """Conflict unless the views are exactly one per agreement in force that allows one,
    each for that agreement's consumer."""
    wanted = {r.agreement_id: r.subscriber for r in expected if r.view is not None}
    given = {d.agreement_id: d.subscriber for d in deliveries}
    if len(given) != len(deliveries):
        raise InvalidInput("The manifest names an agreement twice; send one view per agreement.")
    unknown = sorted(a for a in given if wanted.get(a) != given[a])
    missing = sorted(set(wanted) - set(given))
    if unknown or missing:
        raise Conflict(
            "The manifest's views do not match the agreements in force"
            + (f"; not in force or not its consumer's: {', '.join(unknown)}" if unknown else "")
            + (f"; missing a view: {', '.join(missing)}" if missing else "")
            + "; nothing was recorded: publish again to slice for the agreements in force."
        )


def _check_keys(manifest: ReleaseManifest) -> None:
    plan = manifest.plan
    if manifest.status == "accepted" and manifest.release.key != release_key(
        plan.product_id, plan.version
    ):
        raise InvalidInput(f"The release of {plan.ref} must be stored at its own key.")
    for delivery in manifest.deliveries:
        own = view_key(plan.product_id, plan.version, delivery.agreement_id)
        whole = (delivery.stored.key, delivery.stored.sha256) == (
            manifest.release.key,
            manifest.release.sha256,
        )  # a whole-release view shares the release object (ADR 0005)
        if delivery.stored.key != own and not whole:
            raise InvalidInput(
                f"The view of {delivery.agreement_id} must be stored at its own key ({own}) "
                "or be the whole release."
            )


def _recorded(db: Database, manifest: ReleaseManifest) -> ManifestRecord | None:
    """The record of the manifest's version if it exists with the same content."""
    plan = manifest.plan
    with db.transaction(read_only=True) as session:
        release = session.scalars(
            select(ReleaseRow).where(
                ReleaseRow.product_id == plan.product_id, ReleaseRow.version == plan.version
            )
        ).first()
        if release is None:
            return None
        if (release.status, release.sha256) != (manifest.status, manifest.release.sha256):
            raise Conflict(
                f"Version {plan.version} of {plan.product_id!r} was recorded with other "
                "content; publish again to get the next version."
            )
        made = set(
            session.scalars(select(DeliveryRow.id).where(DeliveryRow.release_id == release.id))
        )
    delivered, late = [], []
    for delivery in manifest.deliveries:
        identifier = delivery_id(delivery.agreement_id, plan.version)
        if identifier in made:
            delivered.append(identifier)
        else:
            reason = "the agreement had ended when the release was recorded"
            late.append(Refusal(delivery.agreement_id, delivery.subscriber, reason))
    return ManifestRecord(release.status, plan.version, tuple(delivered), tuple(late), again=True)


def _hold_version(db: Database, plan: ReleasePlan) -> None:
    """Reserve the version again for a manifest whose reservation expired meanwhile (it was
    held on the connector while the hub was away), unless another publish holds it now."""
    with db.transaction() as session:
        repository.get_product(session, plan.product_id, for_update=True)
        held = session.get(ReleaseReservationRow, plan.product_id, with_for_update=True)
        if held is not None and (held.token, held.version) == (plan.reservation, plan.version):
            return
        if held is not None and held.expires_at > utcnow():
            raise Conflict(
                f"Version {held.version} of {plan.product_id!r} is being published by another "
                "publish; this manifest's reservation expired and nothing was recorded: "
                "publish again."
            )
        if last_version(session, plan.product_id) + 1 != plan.version:
            raise Conflict(
                f"Version {plan.version} of {plan.product_id!r} is no longer the next one; "
                "nothing was recorded: publish again to get the next version."
            )
        reservations.reserve(session, plan.product_id, plan.version, plan.reservation)


# -- wire forms (what crosses between a connector and the hub) ------------------------------


def plan_to_json(plan: ReleasePlan) -> dict[str, Any]:
    return {
        "product": plan.product_id, "provider": plan.provider, "version": plan.version,
        "mode": plan.mode, "schema": plan.schema_name, "suite": plan.suite_name,
        "reservation": plan.reservation,
    }  # fmt: skip


def plan_from_json(value: Any) -> ReleasePlan:
    try:
        return ReleasePlan(
            str(value["product"]), str(value["provider"]), int(value["version"]),
            str(value["mode"]), str(value["schema"]), str(value["suite"]),
            str(value["reservation"]),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The hub answered a release plan that is not one ({exc}).") from exc


def recipient_to_json(recipient: Recipient) -> dict[str, Any]:
    view = recipient.view
    return {
        "agreementId": recipient.agreement_id,
        "subscriber": recipient.subscriber,
        "reason": recipient.reason,
        "view": None
        if view is None
        else {
            "columns": None if view.columns is None else list(view.columns),
            "masks": [{"column": m.column, "method": m.method.value} for m in view.masks],
            "rowFilterColumn": view.row_filter_column,
        },
    }


def recipient_from_json(value: Any) -> Recipient:
    try:
        raw = value["view"]
        view = None
        if raw is not None:
            columns = raw["columns"]
            view = ViewSpec(
                None if columns is None else tuple(str(c) for c in columns),
                tuple(Mask(str(m["column"]), MaskMethod(m["method"])) for m in raw["masks"]),
                raw["rowFilterColumn"],
            )
        return Recipient(
            str(value["agreementId"]), str(value["subscriber"]), view, str(value["reason"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The hub answered a recipient that is not one ({exc}).") from exc


def record_to_json(recorded: ManifestRecord) -> dict[str, Any]:
    return {
        "status": recorded.status,
        "version": recorded.version,
        "delivered": list(recorded.delivered),
        "late": [
            {"agreementId": r.agreement_id, "subscriber": r.subscriber, "reason": r.reason}
            for r in recorded.late
        ],
        "again": recorded.again,
    }


def late_from_json(value: Any) -> tuple[Refusal, ...]:
    try:
        return tuple(
            Refusal(str(r["agreementId"]), str(r["subscriber"]), str(r["reason"]))
            for r in value["late"]
        )
    except (KeyError, TypeError) as exc:
        raise InvalidInput(f"The hub answered a record that is not one ({exc}).") from exc
