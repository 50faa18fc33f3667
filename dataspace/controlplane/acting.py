"""Whose act the control plane is recording, and with which key it seals it.

On a node that holds a participant's key (single-process development mode) the participant's
key signs its ledger entries and events itself. On the hub, which holds the operator's key
and no other, a participant acts by sending a signed request from its own connector (an act,
:mod:`dataspace.identity.acts`); the API puts that act *in hand* for the duration of the
request (:func:`acting`), and :func:`signer_for` then answers with :class:`Attested`: the
operator's key seals the entry, the act goes into it as the participant's proof
(:mod:`dataspace.ledger.attestation`), and events are sent as the hub's announcements.

Nothing else can make the hub sign for a participant: without its act in hand, asking for a
participant's key on the hub is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from dataspace.identity.acts import Act
from dataspace.identity.keys import SigningKey


@dataclass(frozen=True)
class ActInHand:
    """A verified act and the body it was signed for (UTF-8 text, kept in the ledger)."""

    act: Act
    body: str


@dataclass(frozen=True)
class Attested:
    """The hub recording ``actor``'s act: ``recorder``'s key seals, the act proves."""

    actor: str
    recorder: str
    recorder_key: SigningKey
    in_hand: ActInHand


Signer = SigningKey | Attested

_current: ContextVar[ActInHand | None] = ContextVar("dataspace_act_in_hand", default=None)


@contextmanager
def acting(act: Act, body: bytes) -> Iterator[ActInHand]:
    """Carry out one request with its act in hand (the API wraps each signed request)."""
    in_hand = ActInHand(act, body.decode("utf-8", errors="replace"))
    token = _current.set(in_hand)
    try:
        yield in_hand
    finally:
        _current.reset(token)


@contextmanager
def carrying(in_hand: ActInHand | None) -> Iterator[None]:
    """Put an act taken in one thread in hand in another (a batch committed by whichever
    thread leads it: dataspace.store.group_commit)."""
    token = _current.set(in_hand)
    try:
        yield
    finally:
        _current.reset(token)


def act_of(participant: str) -> ActInHand | None:
    """The act in hand if it is ``participant``'s."""
    in_hand = _current.get()
    return in_hand if in_hand is not None and in_hand.act.actor == participant else None
