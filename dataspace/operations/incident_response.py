"""Responding to a quarantined release: open the provider's incident, tell the subscribers.

What the ``quality_incident_on_quarantine`` DAG runs for each verified ReleaseQuarantined
event (see :mod:`dataspace.operations.incident_watch`): the incident and its DeliveryDelayed
events are recorded in one transaction (:func:`dataspace.controlplane.incidents.open_incident`),
then the outbox is relayed. A broker that is down fails the task (it is retried; opening is
idempotent and the events wait in the outbox), so a run that succeeded has told everyone.
"""

from __future__ import annotations

from typing import Any

from dataspace.controlplane.incidents import Quarantine, open_incident
from dataspace.node import Node


def respond(node: Node, payload: dict[str, Any]) -> dict[str, Any]:
    """Open the incident of one quarantined release (``payload``: the verified event's facts)
    and send its events; ServiceError when the broker did not take them."""
    quarantine = Quarantine(
        event_id=str(payload["event_id"]),
        provider_id=str(payload["provider_id"]),
        product_id=str(payload["product_id"]),
        version=int(payload["version"]),
        failed_checks=tuple(str(check) for check in payload["failed_checks"]),
        evaluated=int(payload["evaluated_expectations"]),
    )
    incident = open_incident(node.db, node.keys, quarantine)
    sent = node.send_outbox()
    return {"incident": incident.incident_id, "notified": list(incident.notified), "sent": sent}
