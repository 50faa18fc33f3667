"""Contract negotiation, from a consumer's request to a finalized agreement signed by both.

States follow the Dataspace Protocol (:mod:`dataspace.contracts.negotiation`); each step is
one transaction with one ledger entry signed by the party that acts and one event keyed by
the consumer. Rules enforced here:

- both parties are active participants (admitted, valid credential, not suspended);
- the consumer is not the provider, and the offer grants it something for its purpose now;
- a product a public-data authority holds is licensed only by approving a scenario application
  (:func:`request_licence`, ADR 0009): a direct request or a counter-request on it is Refused;
- a counter-offer obeys the product's grade and schema like any offer;
- at agreement time the grade's conditions hold (:func:`dataspace.policy.grades.check_grade`):
  no raw delivery of core-grade data, the operator's approval for important and core, and an
  export approval on record for a recipient outside CN;
- only the consumer accepts an offer, counters it with a request of its own or verifies; only
  the provider offers, agrees or finalizes; only
  the operator approves; either party may reject before the agreement is finalized;
- repeating a step that already happened changes nothing and records nothing.

*Auto-accept*: a product may name industry chains (``auto_accept_chains``); the provider then
agrees at once to requests from active members of those chains, provided the grade's
conditions already hold (else the request waits for the operator's approval as usual).

*Signatures*: the provider signs the agreement document when it agrees, the consumer when it
verifies, and finalizing checks both against the registry. In this single-node deployment
every key is local, so :func:`accept` by the provider runs agree -> verify -> finalize. A
remote consumer's signature can be passed to :func:`verify` instead; the ledger entry that
records it is then sealed by the operator, whose key is here, as the recorder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from dataspace.contracts.negotiation import Event, State, TerminationReason, transition
from dataspace.controlplane import contract_state as cs
from dataspace.controlplane import negotiation_requests as nr
from dataspace.controlplane import signing
from dataspace.controlplane.agreements import show
from dataspace.controlplane.catalog import Artifacts, check_offer, schema_columns
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import (
    OPERATOR_ID,
    operator_signing_key,
    require_active,
)
from dataspace.controlplane.read_models import AgreementView
from dataspace.errors import Conflict, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.policy.grades import Grade, check_grade
from dataspace.policy.model import Policy, parse_policy, policy_to_json
from dataspace.store import repository
from dataspace.store.db import Database
from dataspace.store.models import (
    NegotiationRow,
    ParticipantRow,
    ProductRow,
)
from dataspace.store.types import utcnow

if TYPE_CHECKING:
    from dataspace.controlplane.applications import ApplicationView


@dataclass(frozen=True)
class Requested:
    """The answer to a request: the negotiation, and whether this request opened it."""

    view: AgreementView
    opened: bool


def request(
    db: Database,
    keys: KeyStore,
    *,
    consumer: str,
    product_id: str,
    purpose: str,
    offer_id: str | None = None,
    valid_until: datetime | None = None,
    max_deliveries: int | None = None,
    now: datetime | None = None,
) -> AgreementView:
    """The consumer asks for an offer of a product (see :func:`request_once`)."""
    return request_once(
        db, keys, consumer=consumer, product_id=product_id, purpose=purpose, offer_id=offer_id,
        valid_until=valid_until, max_deliveries=max_deliveries, now=now,
    ).view  # fmt: skip


def request_once(
    db: Database,
    keys: KeyStore,
    *,
    consumer: str,
    product_id: str,
    purpose: str,
    offer_id: str | None = None,
    valid_until: datetime | None = None,
    max_deliveries: int | None = None,
    now: datetime | None = None,
) -> Requested:
    """The consumer asks for an offer of a product. Asking again while its request for that
    offer is open answers the open one when the terms are the same (idempotent: nothing is
    recorded) and is a Conflict when they differ (:func:`contract_state.repeat_conflict`).
    A product a public-data authority holds is Refused: it is licensed only through an approved
    scenario application (:func:`request_licence`, ADR 0009)."""
    now = now or utcnow()
    until = nr.requested_terms(purpose, valid_until, max_deliveries, now)
    with db.transaction() as session:
        taker = require_active(session, consumer, now, "negotiate")
        product = repository.get_product(session, product_id)
        nr.refuse_public_data(session, product)
        terms = nr.Terms(purpose, valid_until, until, max_deliveries)
        row, opened = nr.open_request(session, keys, taker, product, offer_id, terms, now)
        if not opened:
            return Requested(cs.view_of(row, None, now), opened=False)
        auto = _auto_accepts(product, taker, row)
    if auto and keys.has(row.provider_id):
        # On the hub the provider's key is on its own connector: it concludes from there.
        view = accept(db, keys, actor=row.provider_id, negotiation_id=row.id, now=now)
        return Requested(view, opened=True)
    return Requested(show(db, row.consumer_id, row.id, now=now), opened=True)


def request_licence(
    session: Session, keys: KeyStore, *, application: ApplicationView, now: datetime
) -> NegotiationRow:
    """The one way to a licence on public data: the request of an application's applicant for
    its product, under its purpose until its term's end. Only
    :func:`dataspace.controlplane.applications.approve` calls it, in the transaction that holds
    the pending application's row lock; the caller concludes the negotiation returned."""
    until = nr.requested_terms(application.purpose, application.term_end, None, now)
    taker = require_active(session, application.applicant, now, "negotiate")
    product = repository.get_product(session, application.product_id)
    terms = nr.Terms(application.purpose, application.term_end, until, None)
    row, _ = nr.open_request(session, keys, taker, product, None, terms, now)
    return row


def counter(
    db: Database,
    keys: KeyStore,
    *,
    provider: str,
    negotiation_id: str,
    policy: Policy,
    artifacts: Artifacts,
    now: datetime | None = None,
) -> AgreementView:
    """The provider answers a request with a modified policy (REQUESTED -> OFFERED)."""
    now = now or utcnow()
    with db.transaction() as session:
        row = cs.visible_negotiation(session, provider, negotiation_id, for_update=True)
        cs.require_party(row, provider, "provider", "make a counter-offer")
        require_active(session, provider, now, "negotiate")
        offered = policy_to_json(policy)
        if row.state == State.OFFERED.value and row.policy != offered:
            raise Conflict(
                f"A counter-offer for {row.id!r} is already waiting for the consumer; "
                "wait for its answer or reject the negotiation."
            )
        product = repository.get_product(session, row.product_id)
        check_offer(
            product.grade,
            policy,
            schema_columns(artifacts, product.schema_name),
            "the counter-offer",
        )
        if cs.advance(row, Event.OFFER, now):
            row.policy = offered
            cs.record_step(
                session,
                keys,
                provider,
                "negotiation.offered",
                row,
                now=now,
                facts={"policy": offered},
            )
        return cs.view_of(row, None, now)


def counter_request(
    db: Database,
    keys: KeyStore,
    *,
    consumer: str,
    negotiation_id: str,
    policy: Policy,
    artifacts: Artifacts,
    now: datetime | None = None,
) -> AgreementView:
    """The consumer answers a counter-offer with terms of its own (OFFERED -> REQUESTED).

    The terms obey the product's grade and schema like any offer, and must grant the consumer
    something for its purpose now; the provider then agrees, counters again or rejects.
    """
    now = now or utcnow()
    with db.transaction() as session:
        row = cs.visible_negotiation(session, consumer, negotiation_id, for_update=True)
        cs.require_party(row, consumer, "consumer", "make a counter-request")
        taker = require_active(session, consumer, now, "negotiate")
        requested = policy_to_json(policy)
        if row.state == State.REQUESTED.value and row.policy == requested:
            return cs.view_of(row, None, now)  # the same counter-request again
        if row.state != State.OFFERED.value:
            raise Conflict(
                f"{row.id!r} is {row.state}; a counter-request answers a counter-offer (OFFERED)."
            )
        product = repository.get_product(session, row.product_id)
        nr.refuse_public_data(session, product)  # a licence keeps its application's terms
        check_offer(
            product.grade,
            policy,
            schema_columns(artifacts, product.schema_name),
            "the counter-request",
        )
        nr.require_granted(policy, taker, row.purpose or "", now, row.offer_id)
        cs.advance(row, Event.REQUEST, now)
        row.policy = requested
        cs.record_step(
            session,
            keys,
            consumer,
            "negotiation.requested",
            row,
            now=now,
            facts={"policy": requested},
        )
        return cs.view_of(row, None, now)


def accept(
    db: Database,
    keys: KeyStore,
    *,
    actor: str,
    negotiation_id: str,
    now: datetime | None = None,
) -> AgreementView:
    """Accept as whichever party ``actor`` is, taking every step this node can sign.

    The consumer accepts a counter-offer (OFFERED -> ACCEPTED) or verifies an agreed document
    (AGREED -> VERIFIED); the provider agrees (REQUESTED/ACCEPTED -> AGREED) and, once the
    consumer has signed, finalizes. When both keys are here, one call reaches FINALIZED.
    """
    now = now or utcnow()
    with db.transaction() as session:
        row = cs.visible_negotiation(session, actor, negotiation_id)
        consumer, provider, state = row.consumer_id, row.provider_id, State(row.state)
    if actor == consumer:
        if state is State.OFFERED:
            return _consumer_accepts(db, keys, consumer, negotiation_id, now)
        if state is State.AGREED:
            return signing.verify(
                db, keys, consumer=consumer, negotiation_id=negotiation_id, now=now
            )
        if state in (State.REQUESTED, State.TERMINATED):
            transition(state, Event.ACCEPT)  # raises Conflict naming the possible next steps
        return show(db, actor, negotiation_id, now=now)  # already accepted: nothing to do
    if actor != provider:
        raise Unauthorized(f"Only the parties to {negotiation_id!r} can accept it.")
    return _provider_concludes(
        db,
        keys,
        provider=provider,
        consumer=consumer,
        negotiation_id=negotiation_id,
        state=state,
        now=now,
    )


def _provider_concludes(
    db: Database,
    keys: KeyStore,
    *,
    provider: str,
    consumer: str,
    negotiation_id: str,
    state: State,
    now: datetime,
) -> AgreementView:
    """Take every step from ``state`` on that this node holds the keys for."""
    if state is State.OFFERED:
        raise Conflict(
            f"Your counter-offer in {negotiation_id!r} waits for the consumer's answer; "
            "it can be accepted only by the consumer."
        )
    if state is State.TERMINATED:
        transition(state, Event.AGREE)  # raises Conflict: start a new negotiation
    one = negotiation_id
    if state in (State.REQUESTED, State.ACCEPTED):
        view = signing.agree(db, keys, provider=provider, negotiation_id=one, now=now)
        state = State(view.recorded_state)
    if state is State.AGREED and keys.has(consumer):
        view = signing.verify(db, keys, consumer=consumer, negotiation_id=one, now=now)
        state = State(view.recorded_state)
    if state is State.VERIFIED:
        signing.finalize(db, keys, provider=provider, negotiation_id=one, now=now)
    return show(db, provider, negotiation_id, now=now)


def reject(
    db: Database, keys: KeyStore, *, actor: str, negotiation_id: str, now: datetime | None = None
) -> AgreementView:
    """Either party declines before the agreement is finalized: TERMINATED (rejected)."""
    now = now or utcnow()
    with db.transaction() as session:
        row = cs.visible_negotiation(session, actor, negotiation_id, for_update=True)
        if actor not in (row.consumer_id, row.provider_id):
            raise Unauthorized(f"Only the parties to {row.id!r} can reject it.")
        if row.state == State.FINALIZED.value:
            raise Conflict(
                f"The agreement {row.id!r} is already in force; the provider or the operator "
                f"can revoke it with `dataspace agreement revoke {row.id}`."
            )
        signed = row.document is not None  # the provider had agreed: the consumer saw terms
        if cs.terminate(row, None, TerminationReason.REJECTED, now):
            facts = {"reason": TerminationReason.REJECTED.value}
            event = "AgreementTerminated" if signed else None
            cs.record_step(
                session,
                keys,
                actor,
                "negotiation.terminated",
                row,
                now=now,
                facts=facts,
                event=event,
            )
        return cs.view_of(row, None, now)


def approve(
    db: Database,
    keys: KeyStore,
    *,
    negotiation_id: str,
    export: bool = False,
    now: datetime | None = None,
) -> AgreementView:
    """The operator approves the agreement (and, with ``export``, the export out of CN)."""
    now = now or utcnow()
    with db.transaction() as session:
        row = cs.visible_negotiation(session, OPERATOR_ID, negotiation_id, for_update=True)
        if row.state not in nr.OPEN_STATES:
            raise Conflict(
                f"The negotiation {row.id!r} is {row.state}; approvals are given before the "
                "agreement is concluded."
            )
        if row.operator_approved and (row.export_approved or not export):
            return cs.view_of(row, None, now)
        operator_key = operator_signing_key(session, keys)
        row.operator_approved = True
        row.export_approved = row.export_approved or export
        facts = {"operatorApproved": True, "exportApproved": row.export_approved}
        change = Change(
            OPERATOR_ID, "negotiation.approved", cs.subjects(row), facts, row.consumer_id
        )
        record(session, operator_key, change, now)
        return cs.view_of(row, None, now)


# -- internals ------------------------------------------------------------------------------


def _consumer_accepts(
    db: Database, keys: KeyStore, consumer: str, negotiation_id: str, now: datetime
) -> AgreementView:
    with db.transaction() as session:
        row = cs.visible_negotiation(session, consumer, negotiation_id, for_update=True)
        require_active(session, consumer, now, "negotiate")
        if cs.advance(row, Event.ACCEPT, now):
            cs.record_step(session, keys, consumer, "negotiation.accepted", row, now=now)
        return cs.view_of(row, None, now)


def _auto_accepts(product: ProductRow, consumer: ParticipantRow, row: NegotiationRow) -> bool:
    if not set(product.auto_accept_chains) & set(consumer.industry_chains):
        return False
    try:
        check_grade(
            Grade(product.grade),
            parse_policy(row.policy),
            consumer.region,
            row.operator_approved,
            row.export_approved,
        )
    except Unauthorized:
        return False  # an approval is missing: the request waits for the operator as usual
    return True
