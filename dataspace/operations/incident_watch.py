"""The ``apply_function`` of the Kafka trigger that schedules ``quality_incident_on_quarantine``.

The triggerer calls :func:`quarantined_release` with every message on the ReleaseQuarantined
topic. It returns the event's facts (a JSON-able dict, which becomes the asset event's
payload and so starts a DAG run) only for an event whose envelope verifies against the
signer's key registered in this node's control plane; anything else (a forged, tampered or
foreign event, an unknown schema) returns None, is logged, and starts nothing.

:func:`accept_quarantine` is the pure part (the key lookup is passed in), so it is unit
tested without a database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from dataspace.errors import NotFound

log = logging.getLogger(__name__)

EVENT_TYPE = "ReleaseQuarantined"


class Message(Protocol):
    """The part of confluent_kafka.Message the trigger hands over."""

    def value(self) -> bytes | None: ...

    def headers(self) -> list[tuple[str, bytes]] | None: ...

    def topic(self) -> str | None: ...


def accept_quarantine(
    message: Message, public_key_of: Callable[[str], str]
) -> dict[str, Any] | None:
    """The verified event's facts, or None for anything that must not start a run."""
    from dataspace.events.envelope import EventRejected, decode  # noqa: PLC0415

    try:
        event = decode(message.value(), message.headers(), public_key_of, topic=message.topic())
    except EventRejected as rejected:
        log.warning("ignoring an event on %s: %s", message.topic(), rejected)
        return None
    body = event.body
    if event.event_type != EVENT_TYPE or event.actor != body["provider_id"]:
        log.warning("ignoring %s %s signed by %s", event.event_type, event.event_id, event.actor)
        return None
    return {
        "event_id": str(body["event_id"]),
        "provider_id": body["provider_id"],
        "product_id": body["product_id"],
        "version": int(body["version"]),
        "evaluated_expectations": int(body["evaluated_expectations"]),
        "failed_checks": list(body["failed_checks"]),
        "occurred_at": body["occurred_at"].isoformat(),
    }


def quarantined_release(message: Message) -> dict[str, Any] | None:
    """The trigger's apply_function: verify against this node's registry (see module doc)."""
    from dataspace.config import load_settings  # noqa: PLC0415
    from dataspace.controlplane.participants import show_participant  # noqa: PLC0415
    from dataspace.store.db import Database  # noqa: PLC0415

    settings = load_settings()
    with Database(settings.effective_database_url) as db:

        def public_key_of(actor: str) -> str:
            try:
                return show_participant(db, actor).public_key
            except NotFound as exc:
                raise KeyError(actor) from exc

        return accept_quarantine(message, public_key_of)
