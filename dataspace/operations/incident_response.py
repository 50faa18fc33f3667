"""Responding to a quarantined release: open the provider's incident, tell the subscribers.

What the ``quality_incident_on_quarantine`` DAG runs for each verified ReleaseQuarantined
event (see :mod:`dataspace.incidents.watch`): the incident and its DeliveryDelayed events are
recorded in one transaction (:func:`dataspace.controlplane.incidents.open_incident`), then the
outbox is relayed. A broker that is down fails the task (it is retried; opening is
idempotent and the events wait in the outbox), so a run that succeeded has told everyone.
"""

from __future__ import annotations

from typing import Any

from dataspace.config import Settings
from dataspace.controlplane.incidents import Quarantine, open_incident
from dataspace.errors import ServiceError
from producers.flush import flush_outbox
from producers.public_release import node


def respond(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    quarantine = Quarantine(
        event_id=str(payload["event_id"]),
        provider_id=str(payload["provider_id"]),
        product_id=str(payload["product_id"]),
        version=int(payload["version"]),
        failed_checks=tuple(str(check) for check in payload["failed_checks"]),
        evaluated=int(payload["evaluated_expectations"]),
    )
    with node(settings) as here:
        incident = open_incident(here.db, here.keys, quarantine)
        sent = relay_all(settings, here.db)
    return {"incident": incident.incident_id, "notified": list(incident.notified), "sent": sent}


def relay_all(settings: Settings, db: Any) -> int:
    """Send everything the outbox holds; ServiceError if the broker did not take it."""
    flushed = flush_outbox(settings, db)
    if flushed.error:
        raise ServiceError(
            f"{flushed.error}; {flushed.pending} events stay in the outbox and the task is retried."
        )
    return flushed.sent
