"""A connector's protocol processes in its own database (``dsp_negotiations``, ``dsp_transfers``).

Each row is this connector's side of one process. Changing its state appends to its history
in the same transaction; a message still owed to the other side is the row's ``outbox``,
sent by :mod:`dataspace.dsp.worker` until the other side acknowledges it (with capped
back-off), so a connector that stops mid-process resumes where it was.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dataspace.canonical import utc_iso
from dataspace.dsp.messages import ProtocolError, Received
from dataspace.store.db import Database
from dataspace.store.models import DspNegotiationRow, DspTransferRow
from dataspace.store.types import utcnow

Row = TypeVar("Row", DspNegotiationRow, DspTransferRow)
ENDED = ("FINALIZED", "TERMINATED", "COMPLETED")
MAX_BACKOFF = timedelta(seconds=30)


def move(row: DspNegotiationRow | DspTransferRow, state: str, *, note: str | None = None) -> None:
    """Put ``row`` in ``state`` (a no-op when it is there, except for a new row's first
    state) and note it in its history."""
    if row.state == state and row.history:
        return
    row.state = state
    entry: dict[str, Any] = {"state": state, "at": utc_iso(utcnow())}
    if note:
        entry["note"] = note
    row.history = [*(row.history or []), entry]


def owe(row: DspNegotiationRow | DspTransferRow, path: str, message: dict[str, Any]) -> None:
    """Owe the other side ``message`` at ``path`` (relative to its address), to send now."""
    row.outbox = {"path": path, "message": message}
    row.attempts, row.next_attempt_at, row.last_error = 0, utcnow(), None


def sent(row: DspNegotiationRow | DspTransferRow) -> None:
    row.outbox, row.attempts, row.next_attempt_at, row.last_error = None, 0, None, None


def failed(row: DspNegotiationRow | DspTransferRow, error: str, now: datetime) -> None:
    """A send that failed: try again later, waiting longer each time (at most 30 s)."""
    row.attempts += 1
    row.last_error = error[:2000]
    row.next_attempt_at = now + min(timedelta(seconds=0.5 * 2 ** (row.attempts - 1)), MAX_BACKOFF)


def process(
    session: Session,
    model: type[Row],
    pid: str,
    *,
    caller: str | None = None,
    error_type: str = "ContractNegotiationError",
    for_update: bool = False,
) -> Row:
    """This connector's process ``pid``; when ``caller`` is given it must be the other party
    (anyone else is told the process does not exist)."""
    query = select(model).where(model.pid == pid)
    if for_update:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None or (caller is not None and row.peer != caller):
        raise ProtocolError(
            404, "not-found", f"There is no process {pid!r} with you here.", error_type=error_type
        )
    return row


def by_peer(session: Session, model: type[Row], role: str, peer: str, peer_pid: str) -> Row | None:
    return session.scalars(
        select(model).where(model.role == role, model.peer == peer, model.peer_pid == peer_pid)
    ).one_or_none()


def owing(session: Session, model: type[Row], now: datetime) -> list[str]:
    """Processes with a message due to be sent now, oldest first."""
    return list(
        session.scalars(
            select(model.pid)
            .where(model.outbox.is_not(None))
            .where(or_(model.next_attempt_at.is_(None), model.next_attempt_at <= now))
            .order_by(model.updated_at)
        )
    )


def open_processes(session: Session, model: type[Row]) -> list[tuple[str, str, str]]:
    """Processes not yet ended: (pid, role, state), oldest first."""
    rows = session.execute(
        select(model.pid, model.role, model.state)
        .where(model.state.not_in(ENDED))
        .order_by(model.created_at)
    )
    return [(pid, role, state) for pid, role, state in rows]


def pids(row: DspNegotiationRow | DspTransferRow) -> tuple[str, str]:
    """(providerPid, consumerPid) of a process, from this side's row."""
    if row.role == "provider":
        return row.pid, row.peer_pid or ""
    return row.peer_pid or "", row.pid


def require_pids(row: DspNegotiationRow | DspTransferRow, received: Received) -> None:
    """The message names this process and its other side (whose pid is learnt here if it was
    not known yet), or it is refused."""
    provider_pid, consumer_pid = received.body.get("providerPid"), received.body.get("consumerPid")
    expected = pids(row)
    mine_ok = (provider_pid if row.role == "provider" else consumer_pid) == row.pid
    theirs = consumer_pid if row.role == "provider" else provider_pid
    if not mine_ok or (row.peer_pid is not None and theirs != row.peer_pid):
        raise received.refusal(
            f"The message's providerPid and consumerPid do not match this process "
            f"({expected[0] or '?'}, {expected[1] or '?'}).", code="pid-mismatch",
        )  # fmt: skip
    if row.peer_pid is None:
        row.peer_pid = received.text("consumerPid" if row.role == "provider" else "providerPid")


def queue(
    db: Database,
    model: type[Row],
    pid: str,
    *,
    state: str,
    path: str,
    message: Callable[[Row], dict[str, Any]],
    **changes: Any,
) -> None:
    """Move ``pid`` to ``state`` as the hub records it and owe the other side ``message`` at
    ``path`` (``{peer}`` is the other side's pid); nothing if a message is still owed."""
    with db.transaction() as session:
        row = process(session, model, pid, for_update=True)
        if row.outbox is not None:
            return
        for name, value in changes.items():
            setattr(row, name, value)
        move(row, state, note="as recorded at the hub")
        owe(row, path.format(peer=row.peer_pid), message(row))
