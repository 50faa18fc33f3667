"""The subscriber's entry point: run the delivery agent that lands, verifies and receipts.

Wiring only; the agent is :mod:`dataspace.agent.subscriber`, reached through
`dataspace subscribe`::

    python consumers/subscribe.py --as supplier-01 --once
"""

from __future__ import annotations

import sys

from dataspace.cli import main


def run(argv: list[str]) -> None:
    main(["subscribe", *argv])


if __name__ == "__main__":
    run(sys.argv[1:])
