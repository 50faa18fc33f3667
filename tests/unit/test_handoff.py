"""The handoff of items to one worker thread: order, bounded queue, failures on the caller."""

from __future__ import annotations

import threading

import pytest

from dataspace.dataplane.handoff import Handoff
from tests.helpers import wait_for


def test_items_are_handled_in_order_and_close_waits_for_all() -> None:
    seen: list[int] = []
    handoff = Handoff(seen.append, name="test")
    for number in range(500):
        handoff.put(number)
    handoff.close()
    assert seen == list(range(500))


def test_at_most_depth_items_wait_for_a_busy_worker() -> None:
    release = threading.Event()
    handoff: Handoff[int] = Handoff(lambda _: release.wait(), name="test", depth=2)
    handoff.put(0)  # taken by the worker, which now waits
    put = threading.Thread(target=lambda: [handoff.put(n) for n in (1, 2, 3)])
    put.start()
    put.join(timeout=0.5)
    assert put.is_alive(), "a third waiting item must block the caller"
    release.set()
    put.join(timeout=5)
    assert not put.is_alive()
    handoff.close()


def test_the_workers_failure_is_raised_by_the_next_put_and_later_items_are_dropped() -> None:
    seen: list[int] = []

    def work(number: int) -> None:
        if number == 1:
            raise ValueError("bad item")
        seen.append(number)

    handoff = Handoff(work, name="test", depth=1)

    def put_all() -> None:
        for number in range(100):
            handoff.put(number)

    with pytest.raises(ValueError, match="bad item"):
        put_all()
    with pytest.raises(ValueError, match="bad item"):
        handoff.close()
    assert seen == [0]


def test_close_raises_a_failure_of_the_last_item() -> None:
    def work(_: int) -> None:
        raise OSError("store gone")

    handoff = Handoff(work, name="test")
    handoff.put(1)
    with pytest.raises(OSError, match="store gone"):
        handoff.close()


def test_abandon_drops_what_waits_never_raises_and_may_follow_close() -> None:
    started, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def work(number: int) -> None:
        started.set()
        release.wait()
        seen.append(number)
        raise RuntimeError("ignored by abandon")

    handoff = Handoff(work, name="test", depth=3)
    for number in range(3):
        handoff.put(number)
    assert started.wait(timeout=30), "the worker never took item 0"
    abandon = threading.Thread(target=handoff.abandon)
    abandon.start()
    wait_for(lambda: handoff._dropping)  # 1 and 2 are still queued when the worker goes on
    release.set()
    abandon.join(timeout=5)
    assert not abandon.is_alive()
    assert seen == [0]
    handoff.abandon()
    with pytest.raises(RuntimeError, match="closed"):
        handoff.put(4)


def test_a_block_left_normally_waits_for_every_item_and_raises_the_workers_failure() -> None:
    seen: list[int] = []

    def work(number: int) -> None:
        if number == 2:
            raise ValueError("bad item")
        seen.append(number)

    def put_all() -> None:
        with Handoff(work, name="test") as handoff:
            for number in range(3):
                handoff.put(number)

    with pytest.raises(ValueError, match="bad item"):
        put_all()
    assert seen == [0, 1]


def test_a_block_left_by_an_exception_drops_what_is_queued_and_keeps_that_exception() -> None:
    taken, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def work(number: int) -> None:
        taken.set()
        release.wait()
        seen.append(number)

    def release_once_abandoned(handoff: Handoff[int]) -> None:
        try:
            wait_for(lambda: handoff._dropping)
        finally:
            release.set()  # also when the block did not abandon, so that the test ends

    def fail_midway() -> None:
        with Handoff(work, name="test", depth=5) as handoff:
            for number in range(4):
                handoff.put(number)
            assert taken.wait(timeout=30), "the worker never took item 0"
            # The worker holds 0; 1-3 wait in the queue until the block has abandoned it.
            threading.Thread(target=release_once_abandoned, args=(handoff,), daemon=True).start()
            raise KeyError("the caller failed")

    with pytest.raises(KeyError, match="the caller failed"):
        fail_midway()
    assert seen == [0]
