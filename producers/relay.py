"""The provider's outbox relay as a long-running process: sends committed events to Kafka.

Wiring only; the relay is :mod:`dataspace.events.relay`, reached through `dataspace relay`::

    python producers/relay.py            # until Ctrl-C
    python producers/relay.py --once     # one batch
"""

from __future__ import annotations

import sys

from dataspace.cli import main


def run(argv: list[str]) -> None:
    main(["relay", *argv])


if __name__ == "__main__":
    run(sys.argv[1:])
