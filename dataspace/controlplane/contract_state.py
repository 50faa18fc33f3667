"""What the negotiation and agreement services share: ids, visibility, transitions, views.

A negotiation and the agreement it concludes share one id (``agr-<12 hex>``), so a person
follows one id from the request to the revocation. The id is derived from stable coordinates
(consumer, offer, attempt number), never from the clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataspace.canonical import canonical_json, sha256_hex, utc_iso
from dataspace.contracts.agreement import (
    agreement_from_json,
    agreement_signing_payload,
    termination_due,
)
from dataspace.contracts.negotiation import Event, State, TerminationReason, transition
from dataspace.controlplane.evidence import Change, record
from dataspace.controlplane.participants import (
    OPERATOR_ID,
    operator_signing_key,
    party_signing_key,
)
from dataspace.controlplane.read_models import AgreementView
from dataspace.errors import Conflict, NotFound, Unauthorized
from dataspace.identity.keystore import KeyStore
from dataspace.ids import agreement_id
from dataspace.store.models import AgreementRow, NegotiationRow

ID_HEX_DIGITS = 12


def new_negotiation_id(session: Session, consumer: str, offer: str) -> str:
    """``agr-`` + a hash of (consumer, offer, how many negotiations they had before + 1)."""
    earlier = session.scalar(
        select(func.count())
        .select_from(NegotiationRow)
        .where(NegotiationRow.consumer_id == consumer, NegotiationRow.offer_id == offer)
    )
    coordinates = {"consumer": consumer, "offer": offer, "attempt": (earlier or 0) + 1}
    return "agr-" + sha256_hex(canonical_json(coordinates))[:ID_HEX_DIGITS]


def visible_negotiation(
    session: Session, viewer: str, negotiation_id: str, *, for_update: bool = False
) -> NegotiationRow:
    """The negotiation if ``viewer`` is a party to it or the operator; else NotFound.

    Someone else's negotiation reads exactly like a missing one, so ids leak nothing.
    """
    row = session.get(
        NegotiationRow, agreement_id(negotiation_id), with_for_update=for_update or None
    )
    if row is None or viewer not in (row.consumer_id, row.provider_id, OPERATOR_ID):
        raise NotFound(
            f"You have no agreement or negotiation with id {negotiation_id!r}; see yours with "
            f"`dataspace agreement list --as {viewer}`."
        )
    return row


def require_party(row: NegotiationRow, actor: str, party: str, doing: str) -> None:
    """Refuse ``actor`` unless it is the negotiation's ``party`` ("consumer"/"provider")."""
    expected = row.consumer_id if party == "consumer" else row.provider_id
    if actor != expected:
        raise Unauthorized(
            f"Only the {party} {expected!r} can {doing} in {row.id!r}; act as {expected!r}."
        )


def advance(row: NegotiationRow, event: Event, now: datetime, reason: str | None = None) -> bool:
    """Apply ``event``: True if the state changed, False for a repeat (Conflict if illegal)."""
    current = State(row.state)
    target = transition(current, event)
    if target is current:
        return False
    row.state = target.value
    row.history = [*row.history, _step(target, now, reason)]
    if reason is not None:
        row.reason = reason
    return True


def _step(state: State, now: datetime, reason: str | None) -> dict[str, Any]:
    step = {"state": state.value, "at": utc_iso(now)}
    return step if reason is None else {**step, "reason": reason}


def terminate(
    row: NegotiationRow, agreement: AgreementRow | None, reason: TerminationReason, now: datetime
) -> bool:
    """End the negotiation (and its agreement, if any) with ``reason``; False if already ended."""
    if not advance(row, Event.TERMINATE, now, reason.value):
        return False
    if agreement is not None:
        agreement.state = State.TERMINATED.value
        agreement.termination_reason = reason.value
        agreement.terminated_at = now
    return True


def due_reason(agreement: AgreementRow, now: datetime) -> TerminationReason | None:
    """Why a finalized agreement must end at ``now`` (expired, exhausted), or None."""
    if agreement.state != State.FINALIZED.value:
        return None
    return termination_due(agreement_from_json(agreement.document), now, agreement.deliveries_made)


def view_of(row: NegotiationRow, agreement: AgreementRow | None, now: datetime) -> AgreementView:
    """The view a party sees; a due termination shows before it is recorded."""
    state, reason = row.state, row.reason
    due = None if agreement is None else due_reason(agreement, now)
    if due is not None:
        state, reason = State.TERMINATED.value, due.value
    return AgreementView(
        agreement_id=row.id,
        product_id=row.product_id,
        offer_id=row.offer_id,
        provider=row.provider_id,
        consumer=row.consumer_id,
        purpose=row.purpose,
        state=state,
        recorded_state=row.state,
        reason=reason,
        policy=row.policy,
        operator_approved=row.operator_approved,
        export_approved=row.export_approved,
        valid_until=row.valid_until,
        max_deliveries=row.max_deliveries,
        deliveries_made=0 if agreement is None else agreement.deliveries_made,
        document=row.document,
        provider_signature=row.provider_signature,
        consumer_signature=row.consumer_signature,
        history=tuple(row.history),
    )


def repeat_conflict(
    row: NegotiationRow, purpose: str, valid_until: datetime | None, max_deliveries: int | None
) -> Conflict | None:
    """Why a consumer's request cannot be answered with its open request ``row``, or None
    when it asks for the same terms (an end not given matches any: it asked for the default)."""
    differ = [
        name
        for name, same in (
            ("purpose", purpose == row.purpose),
            ("end", valid_until is None or valid_until == row.valid_until),
            ("maximum deliveries", max_deliveries == row.max_deliveries),
        )
        if not same
    ]
    if not differ:
        return None
    return Conflict(
        f"You already have an open request {row.id} for this offer ({row.state}) with another "
        f"{' and '.join(differ)}; ask the provider to counter it, or withdraw it with "
        f"POST /agreements/{row.id}/reject (`agreement reject {row.id}`) and ask again."
    )


def subjects(row: NegotiationRow) -> tuple[str, ...]:
    """Ledger subject ids of everything about a negotiation."""
    return (row.id, row.product_id, row.consumer_id, row.provider_id)


def record_step(
    session: Session,
    keys: KeyStore,
    actor: str,
    action: str,
    row: NegotiationRow,
    *,
    now: datetime,
    facts: Mapping[str, object] | None = None,
    event: str | None = None,
) -> None:
    """Record one step of a negotiation, sealed by ``actor``'s key.

    ``event`` (AgreementConcluded or AgreementTerminated) announces the step to the consumer;
    the other steps are ledger-only.
    """
    key = (
        operator_signing_key(session, keys)
        if actor == OPERATOR_ID
        else party_signing_key(session, keys, actor)
    )
    base = {"negotiation": row.id, "state": row.state, "policy": row.policy}
    change = Change(actor, action, subjects(row), {**base, **(facts or {})}, row.consumer_id)
    if event is not None:
        body = _EVENT_BODIES[event](row)
        change = replace(change, event=event, event_body=body, event_coordinates=(row.id,))
    record(session, key, change, now)


def _concluded(row: NegotiationRow) -> dict[str, Any]:
    document = agreement_from_json(row.document or {})
    return {
        **_parties(row),
        "valid_from": document.valid_from,
        "valid_until": document.valid_until,
        "max_deliveries": document.max_deliveries,
        "document_sha256": sha256_hex(agreement_signing_payload(document)),
    }


def _terminated(row: NegotiationRow) -> dict[str, Any]:
    return {**_parties(row), "reason": row.reason or ""}


def _parties(row: NegotiationRow) -> dict[str, Any]:
    return {
        "agreement_id": row.id,
        "product_id": row.product_id,
        "provider_id": row.provider_id,
        "subscriber_id": row.consumer_id,
    }


_EVENT_BODIES = {"AgreementConcluded": _concluded, "AgreementTerminated": _terminated}
