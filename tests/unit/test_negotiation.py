import pytest

from dataspace.contracts.negotiation import (
    TRANSITIONS,
    Event,
    State,
    is_in_force,
    transition,
)
from dataspace.errors import Conflict

HAPPY_PATH = [
    (None, Event.REQUEST, State.REQUESTED),
    (State.REQUESTED, Event.AGREE, State.AGREED),
    (State.AGREED, Event.VERIFY, State.VERIFIED),
    (State.VERIFIED, Event.FINALIZE, State.FINALIZED),
]
COUNTER_PATH = [
    (None, Event.REQUEST, State.REQUESTED),
    (State.REQUESTED, Event.OFFER, State.OFFERED),
    (State.OFFERED, Event.REQUEST, State.REQUESTED),
    (State.REQUESTED, Event.OFFER, State.OFFERED),
    (State.OFFERED, Event.ACCEPT, State.ACCEPTED),
    (State.ACCEPTED, Event.AGREE, State.AGREED),
]


@pytest.mark.parametrize("path", [HAPPY_PATH, COUNTER_PATH])
def test_protocol_paths(path):
    for current, event, expected in path:
        assert transition(current, event) is expected


@pytest.mark.parametrize(
    ("current", "event", "target"), [(s, e, t) for (s, e), t in TRANSITIONS.items() if s]
)
def test_repeating_the_event_that_led_here_is_a_no_op(current, event, target):
    assert transition(target, event) is target


@pytest.mark.parametrize("state", [s for s in State if s is not State.TERMINATED])
def test_every_live_state_can_be_terminated(state):
    assert transition(state, Event.TERMINATE) is State.TERMINATED


def test_terminated_is_final():
    for event in Event:
        if event is Event.TERMINATE:
            assert transition(State.TERMINATED, event) is State.TERMINATED
        else:
            with pytest.raises(Conflict, match=r"TERMINATED.*start a new negotiation"):
                transition(State.TERMINATED, event)


@pytest.mark.parametrize(
    ("current", "event", "message"),
    [
        (
            None,
            Event.AGREE,
            "not started, so 'agree' is not possible now; the next step can be: request",
        ),
        (State.REQUESTED, Event.FINALIZE, "REQUESTED, so 'finalize'"),
        (State.REQUESTED, Event.VERIFY, "next step can be: agree, offer, terminate"),
        (State.OFFERED, Event.AGREE, "OFFERED"),
        (State.AGREED, Event.FINALIZE, "AGREED"),
        (State.FINALIZED, Event.REQUEST, "agreement is in force"),
        (State.VERIFIED, Event.OFFER, "VERIFIED"),
    ],
)
def test_illegal_transitions_raise_conflict(current, event, message):
    with pytest.raises(Conflict, match=message):
        transition(current, event)


def test_the_table_is_exactly_the_protocol():
    non_termination = {k: v for k, v in TRANSITIONS.items() if k[1] is not Event.TERMINATE}
    assert len(non_termination) == 8
    assert len(TRANSITIONS) == 8 + 6


def test_only_finalized_is_in_force():
    assert [s for s in State if is_in_force(s)] == [State.FINALIZED]
