"""Quality incidents: opened for a provider when one of its releases is quarantined.

:func:`open_incident` is idempotent per quarantined release (``inc-<product>-v<version>``):
the same ReleaseQuarantined event seen twice opens one incident. In one transaction it adds
the incident row, the operator's ledger entry ``incident.opened`` (facts: product, version,
provider, failed checks, the subscribers told) and one signed DeliveryDelayed event per
subscriber whose agreement on the product is in force, keyed by that subscriber.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from dataspace.controlplane import agreements
from dataspace.controlplane.evidence import Change, announce, record
from dataspace.controlplane.participants import OPERATOR_ID, operator_signing_key
from dataspace.controlplane.read_models import _JsonView
from dataspace.identity.keystore import KeyStore
from dataspace.ids import participant_id, product_id
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import IncidentRow
from dataspace.store.types import utcnow


@dataclass(frozen=True)
class Quarantine:
    """What a verified ReleaseQuarantined event says."""

    event_id: str
    provider_id: str
    product_id: str
    version: int
    failed_checks: tuple[str, ...]
    evaluated: int


@dataclass(frozen=True)
class IncidentView(_JsonView):
    incident_id: str
    product_id: str
    version: int
    provider: str
    status: str
    reason: str
    failed_checks: tuple[str, ...]
    notified: tuple[str, ...]
    opened_at: datetime


def incident_id(product: str, version: int) -> str:
    return f"inc-{product_id(product)}-v{version}"


def open_incident(
    db: Database, keys: KeyStore, quarantine: Quarantine, *, now: datetime | None = None
) -> IncidentView:
    """Open the incident of a quarantined release and tell its subscribers (see module doc)."""
    now = now or utcnow()
    identifier = incident_id(quarantine.product_id, quarantine.version)
    subscribers = sorted(
        {
            s.agreement.consumer
            for s in agreements.standings(db, keys, quarantine.product_id, now=now)
            if s.refusal is None
        }
    )
    reason = (
        f"Release {quarantine.version} of {quarantine.product_id} failed "
        f"{len(quarantine.failed_checks)} of {quarantine.evaluated} expectations and is "
        "quarantined; the next delivery waits for a corrected release."
    )
    with db.transaction() as session:
        existing = session.get(IncidentRow, identifier)
        if existing is not None:
            return view_of(existing)
        repository.get_release(session, quarantine.product_id, quarantine.version)
        row = IncidentRow(
            id=identifier,
            product_id=quarantine.product_id,
            version=quarantine.version,
            provider_id=participant_id(quarantine.provider_id),
            status="open",
            reason=reason,
            failed_checks=list(quarantine.failed_checks),
            source_event_id=quarantine.event_id,
            notified=subscribers,
            opened_at=now,
        )
        session.add(row)
        session.flush()
        key = operator_signing_key(session, keys)
        facts = {**view_of(row).to_json(), "source_event_id": quarantine.event_id}
        subjects = (identifier, quarantine.product_id, row.provider_id)
        record(session, key, Change(OPERATOR_ID, "incident.opened", subjects, facts), now)
        for subscriber in subscribers:
            body = {
                "subscriber_id": subscriber,
                "provider_id": row.provider_id,
                "product_id": row.product_id,
                "version": row.version,
                "incident_id": identifier,
                "reason": reason,
                "failed_checks": list(quarantine.failed_checks),
            }
            announce(session, key, "DeliveryDelayed", body, (identifier, subscriber),
                     actor=OPERATOR_ID, now=now)  # fmt: skip
        return view_of(row)


def list_incidents(db: Database, product: str | None = None) -> list[IncidentView]:
    query = select(IncidentRow).order_by(IncidentRow.opened_at)
    if product is not None:
        query = query.where(IncidentRow.product_id == product_id(product))
    with db.transaction() as session:
        return [view_of(row) for row in session.scalars(query)]


def view_of(row: IncidentRow) -> IncidentView:
    return IncidentView(
        incident_id=row.id,
        product_id=row.product_id,
        version=row.version,
        provider=row.provider_id,
        status=row.status,
        reason=row.reason,
        failed_checks=tuple(row.failed_checks),
        notified=tuple(row.notified),
        opened_at=row.opened_at,
    )
