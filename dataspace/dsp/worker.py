"""The connector's protocol worker: sends what each process owes and keeps it in step.

One loop, in ``connector serve``'s process, every :data:`INTERVAL` seconds (sooner when a
handler nudges it):

1. every process with a message in its outbox due now: send it; an acknowledgement clears
   the outbox (and a first answer names the other side's process id); a connector that
   cannot be reached (or answers 404 a few times: a race with its own write) is tried again
   with back-off; a refused first request ends the process (TERMINATED, with the other side's
   code and reason kept); a later refusal means the sides disagree, and this side takes the
   state the other reports;
2. every open process, at most every :data:`SYNC_SECONDS` (:data:`STEADY_SYNC_SECONDS` for a
   provider's running transfer): compare with the hub and queue the next message
   (:func:`dataspace.dsp.negotiation.sync`, :func:`dataspace.dsp.transfer.sync`).

Everything lives in the connector's database, so a worker that stops mid-process resumes
where it was when the connector is served again.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dataspace.connector.state import Connector
from dataspace.dsp import negotiation, store, transfer
from dataspace.dsp.client import DspClient
from dataspace.dsp.messages import ProtocolError
from dataspace.errors import DataspaceError, ServiceError
from dataspace.store.models import (
    NEGOTIATION_STATES,
    TRANSFER_STATES,
    DspNegotiationRow,
    DspTransferRow,
)
from dataspace.store.types import utcnow

log = logging.getLogger(__name__)

INTERVAL = 0.25
SYNC_SECONDS = 1.0
# A running transfer's provider asks the hub this often whether the agreement still holds;
# grants are refused at once anyway (each is checked with the hub), so this only delays the
# SUSPENDED or TERMINATED message.
STEADY_SYNC_SECONDS = 10.0
NOT_FOUND = 404
NOT_FOUND_RETRIES = 5  # a 404 right after an answer is a race with the other side's write
MODELS: tuple[Any, ...] = (DspNegotiationRow, DspTransferRow)
Model = Any  # DspNegotiationRow or DspTransferRow: the store's functions take either


class DspWorker:
    def __init__(self, connector: Connector, client: DspClient) -> None:
        self._connector, self._client = connector, client
        self._nudged = threading.Event()
        self._synced: dict[str, float] = {}

    def nudge(self) -> None:
        """Run the loop now (a handler changed a process)."""
        self._nudged.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except ServiceError as exc:
                log.warning("protocol worker: %s", exc)
            except Exception:  # a bug must not stop the loop; it is logged with its trace
                log.exception("protocol worker failed; it carries on")
            self._nudged.wait(INTERVAL)
            self._nudged.clear()

    def run_once(self, *, sync_all: bool = False) -> None:
        db = self._connector.node.db
        for model in MODELS:
            with db.transaction() as session:
                due = store.owing(session, model, utcnow())
            for pid in due:
                self._send(model, pid)
        for model in MODELS:
            with db.transaction() as session:
                active = store.open_processes(session, model)
            for pid, role, state in active:
                steady = model is DspTransferRow and role == "provider" and state != "REQUESTED"
                period = STEADY_SYNC_SECONDS if steady else SYNC_SECONDS
                if sync_all or time.monotonic() - self._synced.get(pid, 0.0) >= period:
                    self._synced[pid] = time.monotonic()
                    self._sync(model, pid)

    def _sync(self, model: Model, pid: str) -> None:
        try:
            if model is DspNegotiationRow:
                negotiation.sync(self._connector, pid)
            else:
                transfer.sync(self._connector, self._client, pid)
        except ServiceError as exc:
            log.warning("protocol process %s waits: %s", pid, exc)
        except DataspaceError as exc:
            log.warning("protocol process %s could not advance: %s", pid, exc)
            self._note(model, pid, str(exc))

    def _send(self, model: Model, pid: str) -> None:
        with self._connector.node.db.transaction() as session:
            row = store.process(session, model, pid)
            outbox, address, peer, attempts = row.outbox, row.peer_address, row.peer, row.attempts
        if outbox is None:
            return
        url = address.rstrip("/") + outbox["path"]
        try:
            answer = self._client.post(url, peer, outbox["message"])
        except ProtocolError as refused:
            if refused.status == NOT_FOUND and attempts < NOT_FOUND_RETRIES:
                self._failed(model, pid, refused.reason)  # the other side may not know it yet
            else:
                self._refused(model, pid, refused)
            return
        except ServiceError as exc:
            self._failed(model, pid, str(exc))
            log.warning("protocol message to %s not sent yet: %s", peer, exc)
            return
        with self._connector.node.db.transaction() as session:
            row = store.process(session, model, pid, for_update=True)
            if row.outbox == outbox:
                _first_answer(row, answer)
                store.sent(row)
        log.info("protocol message %s sent to %s", outbox["message"].get("@type"), peer)
        self.nudge()

    def _failed(self, model: Model, pid: str, error: str) -> None:
        with self._connector.node.db.transaction() as session:
            store.failed(store.process(session, model, pid, for_update=True), error, utcnow())

    def _refused(self, model: Model, pid: str, refused: ProtocolError) -> None:
        """A first request refused ends the process; a later message refused means the two
        sides disagree: this side takes the state the other side reports."""
        with self._connector.node.db.transaction() as session:
            row = store.process(session, model, pid)
            first, peer_pid, address, peer = (
                row.peer_pid is None,
                row.peer_pid,
                row.peer_address,
                row.peer,
            )
        theirs = None if first else self._their_state(model, address, peer, str(peer_pid))
        with self._connector.node.db.transaction() as session:
            row = store.process(session, model, pid, for_update=True)
            store.sent(row)
            row.last_error, row.code = refused.reason[:2000], refused.code[:64]
            store.move(row, theirs or "TERMINATED", note=f"refused by {row.peer}: {refused.code}")
        log.warning("protocol process %s refused by the other side: %s", pid, refused.reason)

    def _note(self, model: Model, pid: str, error: str) -> None:
        with self._connector.node.db.transaction() as session:
            store.process(session, model, pid, for_update=True).last_error = error[:2000]

    def _their_state(self, model: Model, address: str, peer: str, peer_pid: str) -> str | None:
        kind = "negotiations" if model is DspNegotiationRow else "transfers"
        try:
            answer = self._client.get(f"{address.rstrip('/')}/{kind}/{peer_pid}", peer)
        except DataspaceError:
            return None
        state = answer.get("state") if isinstance(answer, dict) else None
        allowed = NEGOTIATION_STATES if model is DspNegotiationRow else TRANSFER_STATES
        return state if state in allowed else None


def _first_answer(row: DspNegotiationRow | DspTransferRow, answer: Any) -> None:
    """The other side's process id, from its answer to our first message."""
    if row.peer_pid is None and isinstance(answer, dict):
        other = answer.get("providerPid") if row.role == "consumer" else answer.get("consumerPid")
        if isinstance(other, str) and other:
            row.peer_pid = other
