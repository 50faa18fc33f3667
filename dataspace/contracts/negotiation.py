"""Contract negotiation (Dataspace Protocol states) and signed agreement documents.

The negotiation follows the Dataspace Protocol's contract-negotiation state machine:

===============  ==========  ===============  ==========================================
from             event       to               who, and what it means here
===============  ==========  ===============  ==========================================
(none)           request     REQUESTED        consumer asks for an offer
OFFERED          request     REQUESTED        consumer counters the provider's offer
REQUESTED        offer       OFFERED          provider counters
OFFERED          accept      ACCEPTED         consumer accepts the provider's counter-offer
REQUESTED        agree       AGREED           provider accepts the request (by rule/hand)
ACCEPTED         agree       AGREED           provider confirms the accepted offer
AGREED           verify      VERIFIED         consumer has checked and signed the agreement
VERIFIED         finalize    FINALIZED        provider signed too: the agreement is in force
any but TERM.    terminate   TERMINATED       rejected, or later revoked/expired/exhausted
===============  ==========  ===============  ==========================================

One deliberate extension: in the protocol FINALIZED is final, but here a finalized
agreement can still be terminated (revoked, expired, exhausted), because the agreement's
life continues after the negotiation that made it.

:func:`transition` is idempotent: repeating the event that led to the current state returns
the current state unchanged (a retried message is harmless); any other illegal event raises
:class:`Conflict`.
"""

from __future__ import annotations

from enum import StrEnum

from dataspace.errors import Conflict


class State(StrEnum):
    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


class Event(StrEnum):
    REQUEST = "request"
    OFFER = "offer"
    ACCEPT = "accept"
    AGREE = "agree"
    VERIFY = "verify"
    FINALIZE = "finalize"
    TERMINATE = "terminate"


class TerminationReason(StrEnum):
    REJECTED = "rejected"  # a party declined during negotiation
    REVOKED = "revoked"  # the provider or the operator withdrew a finalized agreement
    EXPIRED = "expired"  # the validity window has ended
    EXHAUSTED = "exhausted"  # the maximum number of deliveries has been made


TRANSITIONS: dict[tuple[State | None, Event], State] = {
    (None, Event.REQUEST): State.REQUESTED,
    (State.OFFERED, Event.REQUEST): State.REQUESTED,
    (State.REQUESTED, Event.OFFER): State.OFFERED,
    (State.OFFERED, Event.ACCEPT): State.ACCEPTED,
    (State.REQUESTED, Event.AGREE): State.AGREED,
    (State.ACCEPTED, Event.AGREE): State.AGREED,
    (State.AGREED, Event.VERIFY): State.VERIFIED,
    (State.VERIFIED, Event.FINALIZE): State.FINALIZED,
    **{
        (state, Event.TERMINATE): State.TERMINATED
        for state in State
        if state is not State.TERMINATED
    },
}
# For each event, the state it leads to: repeating that event there is a no-op.
_TARGET_OF = {event: target for (_, event), target in TRANSITIONS.items()}

_ADVICE = {
    State.TERMINATED: "start a new negotiation",
    State.FINALIZED: "the agreement is in force; terminate it to end it",
}


def transition(current: State | None, event: Event) -> State:
    """Return the state after ``event``; the same state for a repeated event; else Conflict."""
    if (current, event) in TRANSITIONS:
        return TRANSITIONS[(current, event)]
    if current is not None and _TARGET_OF[event] is current:
        return current
    shown = current.value if current is not None else "not started"
    allowed = sorted(e.value for (state, e) in TRANSITIONS if state is current)
    advice = (_ADVICE.get(current) if current is not None else None) or (
        f"the next step can be: {', '.join(allowed)}"
    )
    raise Conflict(f"The negotiation is {shown}, so '{event.value}' is not possible now; {advice}.")


def is_in_force(state: State) -> bool:
    """True only for a FINALIZED agreement: nothing may be delivered under any other state."""
    return state is State.FINALIZED
