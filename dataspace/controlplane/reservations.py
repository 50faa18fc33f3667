"""Release reservations: one publish of a product at a time, decided before any object is written.

Guarantees:

- :func:`reserve` runs in the caller's transaction, with the product row locked: it hands the
  next version to at most one publish of the product. While another publish holds a fresh
  reservation, the second is refused at once with :class:`Conflict` (one sentence);
- a reservation whose publisher crashed does not block the product: it is taken over when it
  has expired (``TTL`` after it was made or last renewed; a publish renews it after each step)
  or at once when its holder was a process on this host that no longer exists;
- the recording transaction checks that the publish still holds its reservation
  (:func:`settle`) and deletes it; a publish that failed gives it back (:func:`give_back`).

Reservation times are wall-clock UTC, not the release's logical time: they time processes.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dataspace.errors import Conflict
from dataspace.store.db import Database
from dataspace.store.models import ReleaseReservationRow
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

TTL = timedelta(minutes=10)


def new_token() -> str:
    """``<host>:<pid>:<random>``: unique, and says which process holds the reservation."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"


def reserve(session: Session, product: str, version: int, token: str) -> int:
    """Reserve ``version`` of ``product`` for ``token``; the version reserved.

    A stale reservation is taken over with its version if that is still the next one.
    """
    now = utcnow()
    held = session.get(ReleaseReservationRow, product, with_for_update=True)
    if held is None:
        session.add(ReleaseReservationRow(
            product_id=product, version=version, token=token, reserved_at=now,
            expires_at=now + TTL,
        ))  # fmt: skip
        return version
    if not _stale(held, now):
        raise Conflict(
            f"Version {held.version} of {product!r} is being published by another publish "
            f"(since {held.reserved_at:%Y-%m-%d %H:%M:%S} UTC); wait until it has finished, "
            "then publish again."
        )
    log.warning(
        "taking over the stale reservation of %s v%s held by %s", product, held.version, held.token
    )
    held.version, held.token, held.reserved_at, held.expires_at = version, token, now, now + TTL
    return version


def renew(db: Database, product: str, token: str) -> None:
    """Push the expiry of a reservation still held by ``token`` ``TTL`` into the future."""
    with db.transaction() as session:
        held = session.get(ReleaseReservationRow, product, with_for_update=True)
        if held is not None and held.token == token:
            held.expires_at = utcnow() + TTL


def settle(session: Session, product: str, version: int, token: str) -> None:
    """In the recording transaction: the reservation must still be ours; it is deleted."""
    held = session.get(ReleaseReservationRow, product, with_for_update=True)
    if held is None or held.token != token or held.version != version:
        raise Conflict(
            f"This publish of version {version} of {product!r} took so long that its "
            "reservation expired and another publish took the version over; nothing was "
            "recorded: publish again to get the next version."
        )
    session.delete(held)


def give_back(db: Database, product: str, token: str) -> None:
    """After a failed publish: delete the reservation if ``token`` still holds it."""
    with db.transaction() as session:
        held = session.get(ReleaseReservationRow, product, with_for_update=True)
        if held is not None and held.token == token:
            session.delete(held)


def _stale(held: ReleaseReservationRow, now: datetime) -> bool:
    return held.expires_at <= now or _holder_is_gone(held.token)


def _holder_is_gone(token: str) -> bool:
    """True when the token names a process of this host that does not exist any more."""
    host, _, rest = token.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:32] or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, as another user's process
    return False
