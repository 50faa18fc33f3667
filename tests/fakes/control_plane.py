"""An in-memory :class:`~dataspace.agent.control_plane.ControlPlane`, for unit tests.

It keeps the contract ``tests/integration/test_control_plane_contract.py`` holds it to,
together with :class:`~dataspace.agent.control_plane.LocalControlPlane`: the same answers and
the same error types as the real services in :mod:`dataspace.controlplane.deliveries`:

- a grant or receipt for a delivery that is not the subscriber's (someone else's, or none)
  is Unauthorized, with one sentence for both;
- a grant under an ended agreement is Conflict; so is nothing due under it;
- a receipt must name the delivery's SHA-256 and row count (else InvalidInput); it takes the
  delivery off ``due()``; a second receipt is a no-op, as the real one is (it is not checked
  again once the delivery has landed);
- the public key of an unknown participant is NotFound.

What it does not model: tokens and signatures (nothing is signed here), a subscriber who is
suspended, agreements that expire by date.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta

from dataspace.controlplane.deliveries import DEFAULT_GRANT_LIFETIME
from dataspace.controlplane.read_models import DeliveryView, Grant
from dataspace.controlplane.receipts import SHA256_HEX
from dataspace.dataplane.layout import StoredObject
from dataspace.errors import Conflict, InvalidInput, NotFound, Unauthorized
from dataspace.store.types import utcnow


class MemoryControlPlane:
    """The control plane as one subscriber sees it, held in dictionaries. Thread-safe.

    A test sets up the world with :meth:`register`, :meth:`announce` and :meth:`end`;
    ``receipts`` lists the delivery ids of the receipts accepted, a repeated one each time.
    """

    def __init__(
        self, subscriber: str, *, grant_lifetime: timedelta = DEFAULT_GRANT_LIFETIME
    ) -> None:
        self.subscriber = subscriber
        self.receipts: list[str] = []
        self._lifetime = grant_lifetime
        self._lock = threading.Lock()
        self._public_keys: dict[str, str] = {}
        self._deliveries: dict[str, DeliveryView] = {}  # in announcement order: oldest first
        self._urls: dict[str, str] = {}
        self._ended: dict[str, str] = {}  # agreement id -> why it ended

    # -- setting up the world ---------------------------------------------------------------

    def register(self, participant: str, public_key: str) -> None:
        with self._lock:
            self._public_keys[participant] = public_key

    def announce(
        self,
        delivery_id: str,
        stored: StoredObject,
        url: str,
        *,
        agreement_id: str,
        product_id: str,
        version: int,
        provider: str,
        subscriber: str | None = None,
    ) -> DeliveryView:
        """A delivery of ``stored`` (which ``url`` opens) to ``subscriber`` (by default ours)."""
        view = DeliveryView(
            delivery_id=delivery_id,
            agreement_id=agreement_id,
            product_id=product_id,
            version=version,
            mode="snapshot",
            provider=provider,
            subscriber=subscriber or self.subscriber,
            sha256=stored.sha256,
            rows=stored.rows,
            bytes=stored.bytes,
            state="announced",
            landed_at=None,
        )
        with self._lock:
            self._deliveries[delivery_id] = view
            self._urls[delivery_id] = url
        return view

    def end(self, agreement_id: str, reason: str = "revoked") -> None:
        """The agreement ends (revoked, suspended, ...): its deliveries can no longer be had."""
        with self._lock:
            self._ended[agreement_id] = reason

    # -- the port ---------------------------------------------------------------------------

    def public_key_of(self, participant: str) -> str:
        with self._lock:
            if participant not in self._public_keys:
                raise NotFound(
                    f"No participant with id {participant!r} exists; check the id with "
                    "`dataspace participant list`, or register the participant first."
                )
            return self._public_keys[participant]

    def grant(self, delivery_id: str) -> Grant:
        now = utcnow()
        with self._lock:
            view = self._own(delivery_id)
            self._require_in_force(view)
            url = self._urls[delivery_id]
        return Grant(
            delivery_id=view.delivery_id,
            url=url,
            expires_at=now + self._lifetime,
            product_id=view.product_id,
            version=view.version,
            sha256=view.sha256,
            rows=view.rows,
            bytes=view.bytes,
        )

    def receipt(self, delivery_id: str, sha256: str, rows: int, landed_at: datetime) -> None:
        with self._lock:
            view = self._own(delivery_id)
            if view.state != "landed":  # a second receipt is a no-op, as in the real one
                _require_same_content(view, sha256, rows)
                self._deliveries[delivery_id] = replace(view, state="landed", landed_at=landed_at)
            self.receipts.append(delivery_id)

    def due(self) -> list[DeliveryView]:
        with self._lock:
            return [
                view
                for view in self._deliveries.values()
                if view.subscriber == self.subscriber
                and view.state == "announced"
                and view.agreement_id not in self._ended
            ]

    # -- internals --------------------------------------------------------------------------

    def _own(self, delivery_id: str) -> DeliveryView:
        view = self._deliveries.get(delivery_id)
        if view is None or view.subscriber != self.subscriber:
            raise Unauthorized(
                f"{self.subscriber!r} has no delivery with id {delivery_id!r}; "
                "check the id in your DeliveryAnnounced event."
            )
        return view

    def _require_in_force(self, view: DeliveryView) -> None:
        reason = self._ended.get(view.agreement_id)
        if reason is not None:
            raise Conflict(
                f"The agreement {view.agreement_id!r} has ended ({reason}), so the "
                f"delivery {view.delivery_id!r} can no longer be fetched; request the "
                "product again."
            )


def _require_same_content(view: DeliveryView, sha256: str, rows: int) -> None:
    if not isinstance(sha256, str) or SHA256_HEX.fullmatch(sha256) is None:
        raise InvalidInput(f"The receipt's SHA-256 {sha256!r} is not 64 lowercase hex digits.")
    if sha256 != view.sha256 or rows != view.rows:
        raise InvalidInput(
            f"The receipt for {view.delivery_id!r} names SHA-256 {sha256} and {rows} rows, but "
            f"the delivery is {view.sha256} with {view.rows} rows; land it again."
        )
