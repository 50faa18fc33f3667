"""The agent's control plane for a subscriber's own connector: the hub and the providers'
connectors, over HTTP.

:class:`RemoteControlPlane` is the agent's :class:`~dataspace.agent.control_plane.ControlPlane`
when the subscriber runs apart from the hub. Keys and deliveries come from the hub; a grant
comes from the provider's connector (found through the hub's registry, field ``endpoint``),
asked with a request signed by the subscriber's key; a receipt is signed here over
:func:`~dataspace.controlplane.receipts.receipt_payload` and sent to the hub as an act.
The subscriber's key never leaves this process.

Failures: refusals are the project's Unauthorized, Conflict or NotFound; a hub or provider's
connector that cannot be reached, or has no endpoint registered, is a ServiceError, which the
agent retries with back-off. Thread-safe: the HTTP clients are, the caches take a lock.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from dataspace.canonical import utc_iso
from dataspace.connector.hub_client import HubClient
from dataspace.connector.state import Connector
from dataspace.controlplane.read_models import DeliveryView, Grant
from dataspace.controlplane.receipts import receipt_payload
from dataspace.errors import InvalidInput, ServiceError, Unauthorized
from dataspace.identity.keys import b64url_encode

REGISTRY_CACHE_SECONDS = 60.0


class RemoteControlPlane:
    """One subscriber's control plane, reached from its own connector."""

    def __init__(self, connector: Connector, *, ttl: float = REGISTRY_CACHE_SECONDS) -> None:
        self.subscriber = connector.participant
        self._connector, self._ttl = connector, ttl
        self._hub = connector.hub
        self._records: dict[str, tuple[dict[str, Any], float]] = {}
        self._providers: dict[str, HubClient] = {}
        self._lock = threading.Lock()

    def public_key_of(self, participant: str) -> str:
        return str(self._record(participant)["public_key"])

    def grant(self, delivery_id: str) -> Grant:
        delivery = self._hub.get(f"/deliveries/{delivery_id}")
        provider = self._provider_connector(str(delivery["provider"]))
        return grant_of(provider.post(f"/grants/{delivery_id}"))

    def receipt(self, delivery_id: str, sha256: str, rows: int, landed_at: datetime) -> None:
        signature = self._connector.key.sign(receipt_payload(delivery_id, sha256, rows, landed_at))
        body = {
            "sha256": sha256,
            "rows": rows,
            "landedAt": utc_iso(landed_at),
            "signature": b64url_encode(signature),
        }
        self._hub.post(f"/deliveries/{delivery_id}/receipt", body)

    def due(self) -> list[DeliveryView]:
        return [_delivery_of(item) for item in self._hub.get("/deliveries/due")]

    def close(self) -> None:
        with self._lock:
            clients, self._providers = list(self._providers.values()), {}
        for client in clients:
            client.close()

    # -- internals --------------------------------------------------------------------------

    def _record(self, participant: str) -> dict[str, Any]:
        """The participant's registry record, kept briefly (NotFound for an unknown one)."""
        with self._lock:
            cached = self._records.get(participant)
        if cached is not None and time.monotonic() - cached[1] < self._ttl:
            return cached[0]
        try:
            record: dict[str, Any] = self._hub.get(f"/participants/{participant}")
        except Unauthorized as refused:
            # The registry is refused only to a subscriber that is not admitted (suspended):
            # the announcement waits, as for a hub that cannot answer, instead of being
            # dead-lettered as signed by an unknown party.
            raise ServiceError(f"The hub answers no registry lookup now: {refused}") from refused
        with self._lock:
            self._records[participant] = (record, time.monotonic())
        return record

    def _provider_connector(self, provider: str) -> HubClient:
        endpoint = self._record(provider).get("endpoint")
        if not endpoint:
            raise ServiceError(
                f"The provider {provider!r} has no connector endpoint in the registry, so no "
                "grant can be asked for yet; the provider registers its connector's URL."
            )
        with self._lock:
            client = self._providers.get(endpoint)
            if client is None:
                client = HubClient(
                    endpoint, self.subscriber, self._connector.key, what="provider's connector"
                )
                self._providers[endpoint] = client
            return client


def grant_of(value: dict[str, Any]) -> Grant:
    """A grant as a provider's connector answers it (grant service or pull transfer)."""
    try:
        return Grant(
            delivery_id=str(value["delivery_id"]),
            url=str(value["url"]),
            expires_at=datetime.fromisoformat(str(value["expires_at"])),
            product_id=str(value["product_id"]),
            version=int(value["version"]),
            sha256=str(value["sha256"]),
            rows=int(value["rows"]),
            bytes=int(value["bytes"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The provider's connector answered no grant ({exc}).") from exc


def _delivery_of(value: dict[str, Any]) -> DeliveryView:
    try:
        landed = value.get("landed_at")
        return DeliveryView(
            delivery_id=str(value["delivery_id"]),
            agreement_id=str(value["agreement_id"]),
            product_id=str(value["product_id"]),
            version=int(value["version"]),
            mode=str(value["mode"]),
            provider=str(value["provider"]),
            subscriber=str(value["subscriber"]),
            sha256=str(value["sha256"]),
            rows=int(value["rows"]),
            bytes=int(value["bytes"]),
            state=str(value["state"]),
            landed_at=datetime.fromisoformat(str(landed)) if landed else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"The hub answered no delivery ({exc}).") from exc
