"""Contract negotiation over the Dataspace Protocol, provider side and consumer side.

Between connectors only protocol messages pass; each party files its own steps with the hub
exactly as on the hub-mediated path (ADR 0021), so the ledger holds the same evidence:

======================  =========================================  ==========================
step                    the acting party's connector               the other side
======================  =========================================  ==========================
request                 consumer: ``POST /agreements`` at the hub,  provider: finds that
                        then ``ContractRequestMessage``            record, answers REQUESTED
counter-offer           provider: ``counter`` at the hub, then     consumer: OFFERED
                        ``ContractOfferMessage``
accept                  consumer: ``accept`` at the hub, then      provider: ACCEPTED
                        event ACCEPTED
agree                   provider signs the draft at the hub, then  consumer: AGREED
                        ``ContractAgreementMessage``
verify                  consumer checks and signs at the hub (the  provider: VERIFIED
                        hub files the agreement), then
                        ``ContractAgreementVerificationMessage``
finalize                provider sees it filed, event FINALIZED    consumer: FINALIZED
terminate               either: ``reject`` at the hub, then        the other: TERMINATED
                        ``ContractNegotiationTerminationMessage``
======================  =========================================  ==========================

Handlers (``on_*``) only check a received message and move this side's state; the messages
this side owes are decided by :func:`sync`, which compares the state with the hub's record
and queues the next message (the worker sends it). A product that auto-accepts the
consumer's industry chain is agreed by the provider's connector at once, as the hub would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dataspace.connector import negotiation as hub_steps
from dataspace.connector.state import Connector
from dataspace.contracts.negotiation import State
from dataspace.dsp import messages as m
from dataspace.dsp import store, terms
from dataspace.dsp.messages import Received
from dataspace.errors import Conflict, DataspaceError, InvalidInput, ServiceError
from dataspace.policy.model import parse_policy
from dataspace.policy.odrl import odrl_policy
from dataspace.store.models import DspNegotiationRow
from dataspace.store.types import utcnow

PROVIDER, CONSUMER = "provider", "consumer"
# A provider that took a counter-request from the hub's record before its message came
# still takes that message once (and only once).
ON_RECORD_FIRST = "counter-request-on-record"
# Where a received message may move this side, by role and message (None: stays).
ACCEPTS: dict[tuple[str, str], tuple[set[str], str]] = {
    (PROVIDER, "ACCEPTED"): ({"OFFERED", "ACCEPTED"}, "ACCEPTED"),
    (PROVIDER, "request"): ({"OFFERED"}, "REQUESTED"),
    (PROVIDER, "verification"): ({"AGREED", "VERIFIED", "FINALIZED"}, "VERIFIED"),
    (CONSUMER, "offer"): ({"REQUESTED", "OFFERED"}, "OFFERED"),
    (CONSUMER, "agreement"): ({"REQUESTED", "ACCEPTED", "AGREED"}, "AGREED"),
    (CONSUMER, "FINALIZED"): ({"VERIFIED", "FINALIZED"}, "FINALIZED"),
}


# ---------------------------------------------------------------- consumer: starting


def start(
    connector: Connector,
    *,
    provider_address: str,
    dataset: dict[str, Any],
    offer_id: str | None,
    purpose: str,
    valid_until: datetime | None = None,
    max_deliveries: int | None = None,
) -> str:
    """File the request with the hub, then owe it to the provider's connector (the worker of
    ``connector serve`` sends it); this side's process id."""
    callback = own_address(connector)
    product = terms.product_of(str(dataset.get("@id", "")))
    offer = _chosen_offer(dataset, offer_id)
    chosen = terms.offer_of(str(offer["@id"]))
    view = hub_steps.request(connector, product=product, purpose=purpose, offer=chosen,
                             valid_until=valid_until, max_deliveries=max_deliveries)  # fmt: skip
    _require_fresh(connector, view)
    pid = terms.new_pid()
    request_offer = {**offer, "target": terms.dataset_iri(product)}
    with connector.node.db.transaction() as session:
        row = DspNegotiationRow(
            pid=pid, role=CONSUMER, peer=view["provider"], peer_pid=None,
            peer_address=provider_address.rstrip("/"), state=State.REQUESTED.value,
            agreement_id=view["agreement_id"], product_id=product, offer_id=chosen,
            offer=request_offer, attempts=0, history=[],
        )  # fmt: skip
        store.move(row, State.REQUESTED.value, note="requested at the hub")
        store.owe(row, "/negotiations/request",
                  m.contract_request(pid, request_offer, callback_address=callback))  # fmt: skip
        session.add(row)
    return pid


def _require_fresh(connector: Connector, view: dict[str, Any]) -> None:
    """The hub answers an open request for the same offer with that request: it can start a
    protocol negotiation only if it is still REQUESTED and no other process of ours has it."""
    agreement, state = view["agreement_id"], view["recorded_state"]
    with connector.node.db.transaction() as session:
        taken = session.query(DspNegotiationRow).filter_by(role=CONSUMER, agreement_id=agreement)
        live = [row.pid for row in taken if row.state not in store.ENDED]
    if state != State.REQUESTED.value or live:
        raise Conflict(
            f"You already have an open negotiation {agreement} for this offer ({state}"
            + (f", protocol process {live[0]}" if live else "")
            + "); finish it, or end it with `dataspace connector agreement reject "
            f"{agreement}`, before asking again."
        )


def _chosen_offer(dataset: dict[str, Any], offer_id: str | None) -> dict[str, Any]:
    offers = [o for o in dataset.get("hasPolicy") or [] if isinstance(o, dict) and "@id" in o]
    if offer_id is not None:
        wanted = terms.offer_iri(offer_id)
        offers = [o for o in offers if o["@id"] == wanted]
        if not offers:
            raise InvalidInput(f"The dataset offers no {offer_id!r}; pick one it lists.")
    if len(offers) != 1:
        names = ", ".join(terms.offer_of(o["@id"]) for o in offers) or "none"
        raise InvalidInput(f"The dataset has several offers ({names}); choose one with --offer.")
    return offers[0]


def own_address(connector: Connector) -> str:
    """Where other connectors reach this one's protocol endpoints (its callback address)."""
    endpoint = connector.config.endpoint
    if not endpoint:
        raise InvalidInput(
            f"{connector.participant}'s connector has no endpoint, so the other side cannot "
            "answer it; set one with `dataspace connector init --endpoint URL` and serve it."
        )
    return endpoint.rstrip("/") + terms.BASE_PATH


# ---------------------------------------------------------------- provider: a new request


def on_request(connector: Connector, caller: str, received: Received) -> dict[str, Any]:
    """A consumer's first ContractRequestMessage: find its request at the hub, answer 201."""
    consumer_pid = str(received.text("consumerPid"))
    if received.text("providerPid", required=False) is not None:
        raise received.refusal(
            "A counter-request goes to /negotiations/{providerPid}/request, not here.",
            code="bad-request",
        )
    callback = str(received.text("callbackAddress"))
    offer = received.mapping("offer")
    try:
        offer_id = terms.offer_of(str(offer.get("@id")))
        product = terms.product_of(str(offer.get("target", "")))
    except InvalidInput as exc:
        raise received.refusal(str(exc)) from exc
    with connector.node.db.transaction() as session:
        known = store.by_peer(session, DspNegotiationRow, PROVIDER, caller, consumer_pid)
        if known is not None:
            return m.contract_negotiation(known.pid, consumer_pid, known.state)
    record = _hub_record(connector, caller, product, offer_id, received)
    pid = terms.new_pid()
    with connector.node.db.transaction() as session:
        row = DspNegotiationRow(
            pid=pid, role=PROVIDER, peer=caller, peer_pid=consumer_pid, peer_address=callback,
            state=State.REQUESTED.value, agreement_id=record["agreement_id"], product_id=product,
            offer_id=offer_id, offer=offer, attempts=0, history=[],
        )  # fmt: skip
        store.move(row, State.REQUESTED.value, note=f"the hub's record {record['agreement_id']}")
        session.add(row)
    return m.contract_negotiation(pid, consumer_pid, State.REQUESTED.value)


def _hub_record(
    connector: Connector, consumer: str, product: str, offer_id: str, received: Received
) -> dict[str, Any]:
    """The consumer's open request at the hub for this offer, not yet taken by a process."""
    with connector.node.db.transaction() as session:
        taken = {
            row.agreement_id
            for row in session.query(DspNegotiationRow).filter_by(role=PROVIDER, peer=consumer)
        }
    listed: list[dict[str, Any]] = connector.hub.get("/agreements")
    candidates = [
        view for view in listed
        if view["consumer"] == consumer and view["provider"] == connector.participant
        and view["product_id"] == product and view["offer_id"] == offer_id
        and view["recorded_state"] == State.REQUESTED.value and view["agreement_id"] not in taken
    ]  # fmt: skip
    if not candidates:
        raise received.refusal(
            f"No open request of {consumer} for {offer_id} of {product} is on record at the "
            "hub; file the request with the hub first (POST /agreements), then send this "
            "message (the identity profile in /.well-known/dspace-version).",
            code="not-on-record",
        )
    return candidates[-1]


# ---------------------------------------------------------------- both sides: messages


def on_message(connector: Connector, caller: str, pid: str, step: str, received: Received) -> None:
    """A message about an existing process: check it is the other side's, move the state."""
    with connector.node.db.transaction() as session:
        row = store.process(session, DspNegotiationRow, pid, caller=caller, for_update=True)
        store.require_pids(row, received)
        if step == "termination":
            if row.state == State.FINALIZED.value:
                raise received.refusal(
                    "The negotiation is FINALIZED; an agreement ends by revocation at the hub, "
                    "not by terminating its negotiation.", code="invalid-state",
                )  # fmt: skip
            code = received.text("code", required=False) or "terminated"
            row.code = code[:64]
            store.move(row, State.TERMINATED.value, note=f"terminated by {caller}: {code}")
            return
        allowed = ACCEPTS.get((row.role, step))
        if allowed is None:
            raise received.refusal(f"A {row.role} does not take {step} messages here.")
        sources, target = allowed
        if step == "request" and row.code == ON_RECORD_FIRST:
            sources = {*sources, State.REQUESTED.value}  # its message, after the hub's record
        if row.state not in sources:
            raise received.refusal(
                f"The negotiation is {row.state}; a {step} message is not allowed now.",
                code="invalid-state",
            )
        if step == "request":  # the terms that count are the hub's record of them
            row.offer = _offer_of(_checked_counter_request(connector, row, received))
            row.code = None
        if step == "offer":
            row.offer = received.mapping("offer")
        if step == "agreement":
            row.agreement = _checked_agreement(row, received, connector.participant)
        store.move(row, target, note=f"{step} from {caller}")


def _checked_counter_request(
    connector: Connector, row: DspNegotiationRow, received: Received
) -> dict[str, Any]:
    """The hub's record of a consumer's counter-request, if the message is about this
    negotiation's dataset and the consumer filed it with the hub first (the terms that count
    are the hub's record, signed by the consumer; the message's offer only announces them)."""
    target = received.mapping("offer").get("target")
    if target is not None and target != terms.dataset_iri(row.product_id):
        raise received.refusal(
            f"The counter-request's offer is for {target!r}, not for this negotiation's "
            f"dataset {terms.dataset_iri(row.product_id)}.", code="offer-mismatch",
        )  # fmt: skip
    record: dict[str, Any] = connector.hub.get(f"/agreements/{row.agreement_id}")
    if record["recorded_state"] != State.REQUESTED.value:
        raise received.refusal(
            f"No counter-request is on record at the hub for {row.agreement_id} (it is "
            f"{record['recorded_state']}); file it with the hub first "
            "(POST /agreements/{id}/counter-request), then send this message.",
            code="not-on-record",
        )
    return record


def on_event(connector: Connector, caller: str, pid: str, received: Received) -> None:
    event = received.text("eventType")
    if event not in ("ACCEPTED", "FINALIZED"):
        raise received.refusal(f"The eventType {event!r} is neither ACCEPTED nor FINALIZED.")
    on_message(connector, caller, pid, str(event), received)


def _checked_agreement(row: DspNegotiationRow, received: Received, me: str) -> dict[str, Any]:
    """The agreement the provider sent, if it is the one this negotiation filed at the hub
    (the consumer signs the hub's document itself later, after checking it again)."""
    agreement = received.mapping("agreement")
    expected = {
        "@id": terms.agreement_iri(str(row.agreement_id)),
        "target": terms.dataset_iri(row.product_id),
        "assigner": terms.participant_iri(row.peer),
        "assignee": terms.participant_iri(me),
    }
    wrong = [name for name, value in expected.items() if agreement.get(name) != value]
    if wrong:
        raise received.refusal(
            f"The agreement's {', '.join(wrong)} do not match this negotiation: expected "
            f"{expected['@id']} from {expected['assigner']} to {expected['assignee']} on "
            f"{expected['target']}.", code="agreement-mismatch",
        )  # fmt: skip
    return agreement


def view(row: DspNegotiationRow) -> dict[str, Any]:
    return m.contract_negotiation(*store.pids(row), row.state)


# ---------------------------------------------------------------- sync with the hub


def sync(connector: Connector, pid: str) -> None:
    """Compare this side with the hub's record and queue the message this side owes."""
    with connector.node.db.transaction() as session:
        row = store.process(session, DspNegotiationRow, pid)
        if row.agreement_id is None or row.peer_pid is None:
            return  # the other side has not answered yet
        # A message still being sent blocks the next one, except a counter-offer that the
        # consumer has answered at the hub meanwhile (see _provider_sync).
        answerable = row.role == PROVIDER and row.state == State.OFFERED.value
        if row.outbox is not None and not answerable:
            return
        role, state, agreement, sending = row.role, row.state, row.agreement_id, row.outbox
    record: dict[str, Any] = connector.hub.get(f"/agreements/{agreement}")
    hub_state = record["recorded_state"]
    if sending is not None and hub_state != State.REQUESTED.value:
        return
    if role == PROVIDER:
        _provider_sync(connector, pid, state, hub_state, record)
    else:
        _consumer_sync(connector, pid, state, hub_state, record)


def _provider_sync(
    connector: Connector, pid: str, state: str, hub_state: str, record: dict[str, Any]
) -> None:
    if state in ("REQUESTED", "ACCEPTED") and hub_state in ("REQUESTED", "ACCEPTED"):
        if _auto_accepts(connector, record):
            _quietly(lambda: hub_steps.sign(connector, record["agreement_id"]))
        return
    if hub_state == "REQUESTED" and state == "OFFERED":
        # The consumer's counter-request is on record at the hub but its message never came
        # (or was refused): the hub's record, the consumer's signed act, decides.
        _adopt(connector, pid, State.REQUESTED.value, offer=_offer_of(record),
               code=ON_RECORD_FIRST)  # fmt: skip
    elif hub_state == "OFFERED" and state == "REQUESTED":
        offer = _offer_of(record)
        _queue(connector, pid, "OFFERED", "/negotiations/{peer}/offers",
               lambda row: m.contract_offer(row.pid, offer, consumer_pid=row.peer_pid),
               offer=offer)  # fmt: skip
    elif hub_state in ("AGREED", "VERIFIED", "FINALIZED") and state in ("REQUESTED", "ACCEPTED"):
        agreement = agreement_policy(record)
        _queue(connector, pid, "AGREED", "/negotiations/{peer}/agreement",
               lambda row: m.contract_agreement(row.pid, str(row.peer_pid), agreement),
               agreement=agreement)  # fmt: skip
    elif hub_state == "FINALIZED" and state == "VERIFIED":
        _queue(
            connector,
            pid,
            "FINALIZED",
            "/negotiations/{peer}/events",
            lambda row: m.negotiation_event(row.pid, str(row.peer_pid), "FINALIZED"),
        )
    elif hub_state == "TERMINATED" and state != "TERMINATED":
        _terminate(connector, pid, record)


def _consumer_sync(
    connector: Connector, pid: str, state: str, hub_state: str, record: dict[str, Any]
) -> None:
    if state == "AGREED" and hub_state == "AGREED":
        hub_steps.sign(connector, record["agreement_id"])  # checks the document, then signs
        record = connector.hub.get(f"/agreements/{record['agreement_id']}")
        hub_state = record["recorded_state"]
    if state == "AGREED" and hub_state in ("VERIFIED", "FINALIZED"):
        _queue(connector, pid, "VERIFIED", "/negotiations/{peer}/agreement/verification",
               lambda row: m.agreement_verification(str(row.peer_pid), row.pid))  # fmt: skip
    elif state == "OFFERED" and hub_state == "REQUESTED":  # our counter-request
        offer = _offer_of(record)
        _queue(connector, pid, "REQUESTED", "/negotiations/{peer}/request",
               lambda row: m.contract_request(row.pid, offer, provider_pid=row.peer_pid),
               offer=offer)  # fmt: skip
    elif state == "OFFERED" and hub_state == "ACCEPTED":
        _queue(
            connector,
            pid,
            "ACCEPTED",
            "/negotiations/{peer}/events",
            lambda row: m.negotiation_event(str(row.peer_pid), row.pid, "ACCEPTED"),
        )
    elif hub_state == "TERMINATED" and state != "TERMINATED":
        _terminate(connector, pid, record)


def _terminate(connector: Connector, pid: str, record: dict[str, Any]) -> None:
    reason = record.get("reason") or "terminated"
    code = str(reason).split(":")[0][:64]

    def message(row: DspNegotiationRow) -> dict[str, Any]:
        return m.negotiation_termination(*store.pids(row), code, str(reason))

    _queue(connector, pid, "TERMINATED", "/negotiations/{peer}/termination", message, code=code)


def _queue(
    connector: Connector, pid: str, state: str, path: str, message: Any, **changes: Any
) -> None:
    store.queue(connector.node.db, DspNegotiationRow, pid, state=state, path=path,
                message=message, **changes)  # fmt: skip


def _adopt(connector: Connector, pid: str, state: str, **changes: Any) -> None:
    """Take the hub's state with no message owed (the other side made the change, so a
    message still owed about the earlier state is moot)."""
    with connector.node.db.transaction() as session:
        row = store.process(session, DspNegotiationRow, pid, for_update=True)
        store.sent(row)
        for name, value in changes.items():
            setattr(row, name, value)
        store.move(row, state, note="as recorded at the hub (the other side's act)")


def _auto_accepts(connector: Connector, record: dict[str, Any]) -> bool:
    product = connector.hub.get(f"/products/{record['product_id']}")
    chains = set(product.get("auto_accept_chains") or ())
    if not chains:
        return False
    consumer = connector.hub.get(f"/participants/{record['consumer']}")
    return bool(chains & set(consumer.get("industry_chains") or ()))


def _quietly(step: Any) -> None:
    """A step the hub may refuse for now (e.g. the operator's approval is still due)."""
    try:
        step()
    except ServiceError:
        raise
    except DataspaceError:
        return


def _offer_of(record: dict[str, Any]) -> dict[str, Any]:
    return odrl_policy(
        parse_policy(record["policy"]),
        kind="Offer",
        policy_id=terms.offer_iri(record["offer_id"]),
        assigner=terms.participant_iri(record["provider"]),
        target=terms.dataset_iri(record["product_id"]),
    )


def agreement_policy(record: dict[str, Any]) -> dict[str, Any]:
    """The hub's agreement record as an ODRL Agreement (DSP ``agreement``)."""
    agreed_at = next(
        (step["at"] for step in record.get("history") or () if step.get("state") == "AGREED"),
        None,
    )
    return odrl_policy(
        parse_policy(record["policy"]),
        kind="Agreement",
        policy_id=terms.agreement_iri(record["agreement_id"]),
        assigner=terms.participant_iri(record["provider"]),
        assignee=terms.participant_iri(record["consumer"]),
        target=terms.dataset_iri(record["product_id"]),
        timestamp=datetime.fromisoformat(agreed_at) if agreed_at else utcnow(),
    )
