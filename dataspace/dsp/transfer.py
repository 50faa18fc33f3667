"""Transfer processes over the Dataspace Protocol, fitted to our deliveries (ADR 0021).

Two transfer types (:class:`~dataspace.dsp.terms.TransferFormat`):

- **HttpData-PULL**, finite. The provider's start message carries a data address: an HTTPS
  endpoint on its connector and a bearer token valid :data:`TOKEN_LIFETIME`. With it the
  consumer asks, per delivery due to it under the agreement, for a grant (a presigned URL of
  its view, as the grant service gives); the provider re-checks the agreement with the hub at
  each ask. The consumer lands each delivery, verifies it, receipts it at the hub (the same
  ledger evidence as the Kafka path) and completes the transfer.
- **DeliveryFeed-PULL**, non-finite: a subscription to the product's releases. Deliveries are
  still announced over Kafka and fetched by grant by the subscriber's agent; the transfer is
  STARTED while the agreement is in force, SUSPENDED while a party is suspended, STARTED
  again when it is reinstated, and TERMINATED when the agreement ends (revoked, expired,
  exhausted). The provider's connector watches the hub and sends each change.

As in :mod:`dataspace.dsp.negotiation`, handlers only check and move state; :func:`sync`
decides what this side owes and the worker sends it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

from dataspace.agent.landed import LandedLog
from dataspace.agent.subscriber import announcements_topic
from dataspace.connector.remote_control_plane import RemoteControlPlane, grant_of
from dataspace.connector.state import Connector
from dataspace.dataplane.download import land, url_opener
from dataspace.dataplane.layout import StoredObject
from dataspace.dsp import messages as m
from dataspace.dsp import store, terms
from dataspace.dsp.client import DspClient
from dataspace.dsp.messages import ProtocolError, Received
from dataspace.dsp.negotiation import own_address
from dataspace.dsp.terms import TransferFormat, TransferState
from dataspace.errors import Conflict, InvalidInput, NotFound
from dataspace.store.models import DspNegotiationRow, DspTransferRow
from dataspace.store.types import utcnow

PROVIDER, CONSUMER = "provider", "consumer"
ERROR = "TransferError"
TOKEN_LIFETIME = timedelta(minutes=10)
HTTP_ENDPOINT = "https://w3id.org/idsa/v4.1/HTTP"
FEED_ENDPOINT = "urn:dataspace:endpoint:delivery-feed"
SUSPENDED_BY_HUB = "party-suspended"
# Where a received message may move this side: step -> (from states, to state).
MOVES: dict[str, tuple[set[str], str]] = {
    "start": ({"REQUESTED", "SUSPENDED", "STARTED"}, "STARTED"),
    "suspension": ({"STARTED", "SUSPENDED"}, "SUSPENDED"),
    "completion": ({"STARTED", "COMPLETED"}, "COMPLETED"),
}


# ---------------------------------------------------------------- consumer: starting


def start(connector: Connector, *, agreement: str, transfer_format: TransferFormat) -> str:
    """Owe the provider that made ``agreement`` with us over the protocol a transfer request
    (the worker of ``connector serve`` sends it); this side's process id."""
    callback = own_address(connector)
    with connector.node.db.transaction() as session:
        negotiated = (
            session.query(DspNegotiationRow)
            .filter_by(role=CONSUMER, agreement_id=agreement, state="FINALIZED")
            .one_or_none()
        )
        if negotiated is None:
            raise NotFound(
                f"No finalized negotiation for {agreement} was made over the protocol from this "
                "connector; negotiate it with `dataspace connector dsp negotiate` first."
            )
        pid = terms.new_pid()
        row = DspTransferRow(
            pid=pid, role=CONSUMER, peer=negotiated.peer, peer_pid=None,
            peer_address=negotiated.peer_address, state=TransferState.REQUESTED.value,
            agreement_id=agreement, format=transfer_format.value, attempts=0, landed=[],
            history=[],
        )  # fmt: skip
        store.move(row, TransferState.REQUESTED.value, note="asked for")
        message = m.transfer_request(
            pid, terms.agreement_iri(agreement), transfer_format.value, callback
        )
        store.owe(row, "/transfers/request", message)
        session.add(row)
    return pid


# ---------------------------------------------------------------- provider: a new request


def on_request(connector: Connector, caller: str, received: Received) -> dict[str, Any]:
    consumer_pid = str(received.text("consumerPid"))
    callback = str(received.text("callbackAddress"))
    try:
        agreement = terms.agreement_of(str(received.text("agreementId")))
        transfer_format = TransferFormat(str(received.text("format")))
    except (InvalidInput, ValueError) as exc:
        formats = ", ".join(f.value for f in TransferFormat)
        raise received.refusal(f"{exc} (formats offered: {formats}).") from exc
    with connector.node.db.transaction() as session:
        known = store.by_peer(session, DspTransferRow, PROVIDER, caller, consumer_pid)
        if known is not None:
            return m.transfer_process(known.pid, consumer_pid, known.state)
    record = _agreement(connector, agreement, received)
    if record["consumer"] != caller or record["provider"] != connector.participant:
        raise received.refusal(f"{agreement} is not an agreement between {caller} and us.",
                               status=404, code="not-found")  # fmt: skip
    if record["state"] != "FINALIZED":
        raise received.refusal(
            f"{agreement} is {record['state']}; a transfer needs an agreement in force.",
            code="agreement-not-in-force",
        )
    pid = terms.new_pid()
    with connector.node.db.transaction() as session:
        row = DspTransferRow(
            pid=pid, role=PROVIDER, peer=caller, peer_pid=consumer_pid, peer_address=callback,
            state=TransferState.REQUESTED.value, agreement_id=agreement,
            format=transfer_format.value, attempts=0, landed=[], history=[],
        )  # fmt: skip
        store.move(row, TransferState.REQUESTED.value, note=f"requested by {caller}")
        session.add(row)
    return m.transfer_process(pid, consumer_pid, TransferState.REQUESTED.value)


def _agreement(connector: Connector, agreement: str, received: Received) -> dict[str, Any]:
    try:
        record: dict[str, Any] = connector.hub.get(f"/agreements/{agreement}")
    except NotFound as exc:
        raise received.refusal(f"There is no agreement {agreement} with you.", status=404,
                               code="not-found") from exc  # fmt: skip
    return record


# ---------------------------------------------------------------- both sides: messages


def on_message(connector: Connector, caller: str, pid: str, step: str, received: Received) -> None:
    with connector.node.db.transaction() as session:
        row = store.process(session, DspTransferRow, pid, caller=caller, error_type=ERROR,
                            for_update=True)  # fmt: skip
        store.require_pids(row, received)
        code = received.text("code", required=False)
        if step == "termination":
            if row.state == TransferState.COMPLETED.value:
                raise received.refusal("The transfer is COMPLETED; it cannot be terminated.",
                                       code="invalid-state")  # fmt: skip
            row.code = (code or "terminated")[:64]
            store.move(row, TransferState.TERMINATED.value, note=f"terminated by {caller}")
            return
        sources, target = MOVES[step]
        if row.state not in sources:
            raise received.refusal(
                f"The transfer is {row.state}; a {step} message is not allowed now.",
                code="invalid-state",
            )
        if step == "start" and row.role == CONSUMER:
            address = received.body.get("dataAddress")
            if row.format == TransferFormat.HTTP_PULL.value and not isinstance(address, dict):
                raise received.refusal("A pull transfer's start message needs a dataAddress.")
            row.data_address = address if isinstance(address, dict) else row.data_address
        if step == "start" and row.role == PROVIDER and row.code == SUSPENDED_BY_HUB:
            raise received.refusal(
                "The transfer was suspended because a party is suspended at the hub; it "
                "restarts when the operator reinstates it.", code="invalid-state",
            )  # fmt: skip
        row.code = code[:64] if code else (None if step == "start" else row.code)
        store.move(row, target, note=f"{step} from {caller}")


def view(row: DspTransferRow) -> dict[str, Any]:
    return m.transfer_process(*store.pids(row), row.state)


# ---------------------------------------------------------------- sync


def sync(connector: Connector, client: DspClient, pid: str) -> None:
    """Queue what this side owes: the start (provider), the agreement's changes seen at the
    hub (provider), the pull and its completion (consumer)."""
    with connector.node.db.transaction() as session:
        row = store.process(session, DspTransferRow, pid, error_type=ERROR)
        if row.outbox is not None or row.peer_pid is None:
            return
        role, state, transfer_format = row.role, row.state, row.format
        address, agreement, peer, code = row.data_address, row.agreement_id, row.peer, row.code
    if role == PROVIDER:
        _provider_sync(connector, pid, state, agreement=agreement, consumer=peer, code=code)
    elif state == TransferState.STARTED.value and transfer_format == TransferFormat.HTTP_PULL:
        landed = pull(connector, client, pid, address or {})
        _queue(connector, pid, TransferState.COMPLETED.value, "completion",
               lambda row: m.transfer_completion(*store.pids(row)), landed=landed)  # fmt: skip


def _provider_sync(
    connector: Connector, pid: str, state: str, *, agreement: str, consumer: str, code: str | None
) -> None:
    # The hub answers a participant that is not admitted only its own record, so the provider
    # asks its own standing first; then the agreement and the consumer's standing.
    suspended: str | None = connector.participant
    if _admitted(connector, connector.participant):
        record: dict[str, Any] = connector.hub.get(f"/agreements/{agreement}")
        if record["state"] == "TERMINATED":
            reason = str(record.get("reason") or "the agreement ended")
            _queue(connector, pid, TransferState.TERMINATED.value, "termination",
                   lambda row: m.transfer_termination(*store.pids(row), "agreement-ended", reason),
                   code="agreement-ended")  # fmt: skip
            return
        suspended = None if _admitted(connector, record["consumer"]) else str(record["consumer"])
    if state in ("REQUESTED", "STARTED") and suspended is not None:
        if state == "REQUESTED":
            return  # started once the party is reinstated
        reason = f"{suspended} is suspended by the data-space operator"
        _queue(connector, pid, TransferState.SUSPENDED.value, "suspension",
               lambda row: m.transfer_suspension(*store.pids(row), SUSPENDED_BY_HUB, reason),
               code=SUSPENDED_BY_HUB)  # fmt: skip
    elif suspended is None and (
        state == "REQUESTED" or (state == "SUSPENDED" and code == SUSPENDED_BY_HUB)
    ):
        _start(connector, pid, consumer)


def _admitted(connector: Connector, participant: str) -> bool:
    return bool(connector.hub.get(f"/participants/{participant}").get("status") == "admitted")


def _start(connector: Connector, pid: str, consumer: str) -> None:
    with connector.node.db.transaction() as session:
        row = store.process(session, DspTransferRow, pid, error_type=ERROR, for_update=True)
        if row.outbox is not None:
            return
        if row.format == TransferFormat.HTTP_PULL.value:
            token = secrets.token_urlsafe(32)
            expires = utcnow() + TOKEN_LIFETIME
            row.token_hash, row.token_expires_at = _hash(token), expires
            address = m.data_address(
                HTTP_ENDPOINT,
                f"{own_address(connector)}/transfers/{pid}/data",
                {"authorization": token, "authType": "bearer", "expiresAt": expires.isoformat()},
            )
        else:
            address = m.data_address(
                FEED_ENDPOINT,
                connector.node.settings.bootstrap_servers,
                {"topic": announcements_topic(consumer), "key": consumer,
                 "grantEndpoint": str(connector.config.endpoint or "")},
            )  # fmt: skip
        row.code = None
        store.move(row, TransferState.STARTED.value, note="started")
        store.owe(row, f"/transfers/{row.peer_pid}/start",
                  m.transfer_start(*store.pids(row), data_address=address))  # fmt: skip


def _queue(
    connector: Connector, pid: str, state: str, step: str, message: Any, **changes: Any
) -> None:
    store.queue(connector.node.db, DspTransferRow, pid, state=state,
                path=f"/transfers/{{peer}}/{step}", message=message, **changes)  # fmt: skip


# A party's own step on a transfer: step -> (from states, to state, message path).
OWN_STEPS: dict[str, tuple[set[str], str, str]] = {
    "suspend": ({"STARTED"}, "SUSPENDED", "suspension"),
    "resume": ({"SUSPENDED"}, "STARTED", "start"),
    "complete": ({"STARTED"}, "COMPLETED", "completion"),
    "terminate": ({"REQUESTED", "STARTED", "SUSPENDED"}, "TERMINATED", "termination"),
}


def take_step(connector: Connector, pid: str, step: str, reason: str) -> None:
    """This side suspends, resumes, completes or terminates a transfer, and tells the other."""
    sources, target, path = OWN_STEPS[step]
    with connector.node.db.transaction() as session:
        row = store.process(session, DspTransferRow, pid, error_type=ERROR, for_update=True)
        if row.state == target:
            return
        if row.state not in sources or row.peer_pid is None:
            raise Conflict(f"The transfer is {row.state}; it cannot {step} now.")
        if step == "resume" and row.role == PROVIDER and row.code == SUSPENDED_BY_HUB:
            raise Conflict("A party is suspended at the hub; the transfer resumes when the "
                           "operator reinstates it.")  # fmt: skip
        code = f"{row.role}-{step}"
        provider_resumes = step == "resume" and row.role == PROVIDER
        if provider_resumes:
            row.outbox, consumer = None, row.peer
        elif step == "resume":
            message = m.transfer_start(*store.pids(row))
        elif step == "complete":
            message = m.transfer_completion(*store.pids(row))
        elif step == "suspend":
            message = m.transfer_suspension(*store.pids(row), code, reason)
        else:
            message = m.transfer_termination(*store.pids(row), code, reason)
        if not provider_resumes:
            row.code = None if step == "resume" else code
            if step in ("complete", "terminate"):
                row.token_hash = None  # the data address stops answering at once
            store.move(row, target, note=f"{step} by this side: {reason}")
            store.owe(row, f"/transfers/{row.peer_pid}/{path}", message)
    if provider_resumes:
        _start(connector, pid, consumer)  # a fresh data address (and token)


def _hash(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------- provider: the data endpoint


def grant_for(
    connector: Connector,
    pid: str,
    *,
    token: str | None,
    delivery: str,
    presign: Any,
    lifetime: timedelta,
    now: datetime,
) -> dict[str, Any]:
    """A grant for one delivery of the transfer's agreement, to the holder of its token."""
    with connector.node.db.transaction() as session:
        row = store.process(session, DspTransferRow, pid, error_type=ERROR)
        valid = (
            row.role == PROVIDER and row.token_hash is not None and token is not None
            and hmac.compare_digest(row.token_hash, _hash(token))
            and row.token_expires_at is not None and row.token_expires_at > now
        )  # fmt: skip
        if not valid:
            raise ProtocolError(401, "unauthorized",
                                "The transfer's token is missing, wrong or expired; ask for a "
                                "new transfer.", error_type=ERROR)  # fmt: skip
        if row.state != TransferState.STARTED.value:
            raise ProtocolError(403, "invalid-state", f"The transfer is {row.state}.",
                                error_type=ERROR)  # fmt: skip
        consumer, agreement = row.peer, row.agreement_id
    allowed = connector.hub.get(f"/deliveries/{delivery}/authorization",
                                params={"subscriber": consumer})  # fmt: skip
    if allowed["agreement_id"] != agreement:
        raise ProtocolError(403, "other-agreement",
                            f"{delivery} was not delivered under this transfer's agreement.",
                            error_type=ERROR)  # fmt: skip
    url = presign(str(allowed["object_key"]), lifetime)
    return {
        "delivery_id": str(allowed["delivery_id"]), "url": url,
        "expires_at": (now + lifetime).isoformat(), "product_id": str(allowed["product_id"]),
        "version": int(allowed["version"]), "sha256": str(allowed["sha256"]),
        "rows": int(allowed["rows"]), "bytes": int(allowed["bytes"]),
    }  # fmt: skip


# ---------------------------------------------------------------- consumer: pulling


def pull(connector: Connector, client: DspClient, pid: str, address: dict[str, Any]) -> list[str]:
    """Land and receipt every delivery due under the agreement through the data address."""
    properties = m.address_properties(address)
    endpoint, token = str(address.get("endpoint", "")), properties.get("authorization", "")
    with connector.node.db.transaction() as session:
        row = store.process(session, DspTransferRow, pid, error_type=ERROR)
        agreement, already = row.agreement_id, list(row.landed or [])
    control = RemoteControlPlane(connector)
    landed = list(already)
    try:
        with LandedLog(connector.landing_dir) as log:
            for due in control.due():
                if due.agreement_id != agreement or due.delivery_id in landed:
                    continue
                grant = grant_of(client.bearer_get(endpoint, token, {"delivery": due.delivery_id}))
                stored = StoredObject(
                    f"delivery {due.delivery_id}", due.sha256, due.rows, due.bytes
                )
                land(
                    url_opener(grant.url),
                    stored,
                    connector.landing_dir,
                    due.product_id,
                    due.version,
                )
                landed_at = utcnow()
                control.receipt(due.delivery_id, due.sha256, due.rows, landed_at)
                log.add(
                    due.delivery_id, due.product_id, due.version, due.sha256, due.rows, landed_at
                )
                landed.append(due.delivery_id)
    finally:
        control.close()
    return landed
