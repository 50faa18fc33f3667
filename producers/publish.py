"""The provider's entry point: publish one release, then send what the outbox holds.

Wiring only; the story is :func:`dataspace.publishing.publish.publish`, reached through the
`dataspace publish` command so that both print and exit the same way::

    python producers/publish.py --product purchase-orders --as xcmg orders.parquet
"""

from __future__ import annotations

import sys

from dataspace.cli import main


def run(argv: list[str]) -> None:
    main(["publish", *argv])


if __name__ == "__main__":
    run(sys.argv[1:])
