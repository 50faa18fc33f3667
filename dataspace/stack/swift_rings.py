"""Build the three one-replica, one-device Swift rings in one process.

Run as ``python -m dataspace.stack.swift_rings ETC_DIR SERVER=PORT...``; it is a separate process so
that the CLI never imports Swift (and eventlet) itself. With a single device every partition
lands on it, so rebuilding the rings on each start keeps the data where it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

PART_POWER = 8


def build(etc: Path, server: str, port: int) -> None:
    from swift.common.ring import RingBuilder  # noqa: PLC0415 (heavy: eventlet)

    builder = RingBuilder(PART_POWER, replicas=1, min_part_hours=1)
    builder.add_dev(
        {
            "id": 0,
            "region": 1,
            "zone": 1,
            "ip": "127.0.0.1",
            "port": port,
            "device": "d1",
            "weight": 100.0,
            "meta": "",
        }
    )
    builder.rebalance()
    builder.save(str(etc / f"{server}.builder"))
    builder.get_ring().save(str(etc / f"{server}.ring.gz"))


def main(argv: list[str]) -> int:
    etc = Path(argv[0])
    for spec in argv[1:]:
        server, port = spec.split("=")
        build(etc, server, int(port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
