"""Acts already carried out, kept in the node's own database until they expire.

Every node that accepts signed requests (the hub's API, a connector's grant service and its
Dataspace Protocol binding) refuses the same act twice: its ``jti`` goes into ``used_acts``
in the same database as the node's other state, so a replay is refused across a restart too,
and by every process that serves the node.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from dataspace.errors import Conflict, Unauthorized
from dataspace.store.db import Database
from dataspace.store.models import UsedActRow
from dataspace.store.types import utcnow

KEEP_USED = timedelta(minutes=10)  # longer than any act lives (acts: 2 minutes at most)


def use_once(db: Database, token_id: str, actor: str) -> None:
    """Record the act ``token_id``; :class:`Unauthorized` if it was used before."""
    now = utcnow()
    try:
        with db.transaction() as session:
            session.execute(delete(UsedActRow).where(UsedActRow.expires_at < now))
            session.add(UsedActRow(token_id=token_id, actor=actor, expires_at=now + KEEP_USED))
    except Conflict as exc:
        raise Unauthorized(
            "This signed request was already carried out (a replay); sign a new one."
        ) from exc
