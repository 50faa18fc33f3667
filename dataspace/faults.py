"""Named fault-injection points, so a test can SIGKILL a real process at an exact moment.

A process started with ``DATASPACE_FAULT_HOLD=<point>`` stops when it reaches that point:
it creates the file named by ``DATASPACE_FAULT_HELD`` (how the test learns it got there) and
then waits, doing nothing, until it is killed, or, when ``DATASPACE_FAULT_RELEASE`` names a
file, until the test removes that file (so the test can change the world meanwhile, e.g.
stop a service, and let the process go on into it). ``<point>@<n>`` holds only the n-th time the
point is reached in the process (the thread that reaches it; other threads go on), so a test
can let earlier work finish first. Without the variable, which is how the product always
runs, :func:`reach` is one environment lookup and returns at once.

The points (ADR 0012):

- ``relay.sent-not-marked``: the relay's batch was acknowledged by the broker, not yet
  marked sent in the outbox;
- ``download.partial-written``: a subscriber wrote the first chunk of a download to its
  ``.partial`` file, and has not verified or renamed it;
- ``receipt.landed-not-sent``: a subscriber landed a delivery, verified, and has not sent
  its receipt.

The environment is read here, at the point, and not through :mod:`dataspace.config`: the
switch must reach code (the relay loop, the landing step) that is given no settings, and it
must never be settable from ``dataspace.toml`` by accident.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

HOLD_ENV = "DATASPACE_FAULT_HOLD"
HELD_FILE_ENV = "DATASPACE_FAULT_HELD"
RELEASE_FILE_ENV = "DATASPACE_FAULT_RELEASE"
RELEASE_POLL_SECONDS = 0.05


_reached: dict[str, int] = {}
_counting = threading.Lock()


def reach(point: str) -> None:
    """Hold here forever if this process was told to hold at ``point`` (this time); else return."""
    wanted = os.environ.get(HOLD_ENV)
    if wanted is None or wanted.partition("@")[0] != point:
        return
    with _counting:
        _reached[point] = times = _reached.get(point, 0) + 1
    nth = wanted.partition("@")[2]
    if nth and times != int(nth):
        return
    held = os.environ.get(HELD_FILE_ENV)
    if held:
        Path(held).write_text(f"{os.getpid()}\n", encoding="utf-8")
    release = os.environ.get(RELEASE_FILE_ENV)
    if release:
        log.warning("fault injection: holding at %s until %s is removed", point, release)
        while Path(release).exists():
            threading.Event().wait(RELEASE_POLL_SECONDS)
        return
    log.warning("fault injection: holding at %s until killed", point)
    threading.Event().wait()  # never set: the test ends this process with SIGKILL
