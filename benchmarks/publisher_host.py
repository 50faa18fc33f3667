"""The provider's publishing connector as a process of its own, for one timed publish.

    python benchmarks/publisher_host.py --state DIR --product ID --warm-up FILE --source FILE

Run by ``benchmarks/fanout.py``, one fresh process per measurement, so that its peak memory
is that publish's own. It plays a long-running publisher (an Airflow worker, a provider's
service) that has published before:

1. opens the connector in ``--state`` (its own key, database and bucket; the hub's desk);
2. publishes ``--warm-up`` (a small release to the same subscribers), so that GX is imported,
   the suite's runner built and the clients open, and prints ``{"event": "warm", ...}``;
3. waits for a line on stdin (the parent sees the warm-up landed everywhere first: every
   subscriber's topic exists and its agent is idle), then publishes ``--source`` and prints
   ``{"event": "published", "started": <epoch s>, ...}`` with the summary, where the publish's
   time went, and this process's peak RSS and Arrow pool peak.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dataspace.publishing.publish as publish_module  # noqa: E402
from benchmarks.delivery_paths import Clock, _all_patched, memory  # noqa: E402
from dataspace.connector.release_desk import HubDesk, publish_from_connector  # noqa: E402
from dataspace.connector.state import open_connector  # noqa: E402

STEPS = (
    (publish_module, "write_with_views", "gate + write release and views (one pass)"),
    (HubDesk, "plan", "hub: plan (reserve the version)"),
    (HubDesk, "recipients", "hub: decide agreements"),
    (HubDesk, "record_publication", "hub: record + relay announcements"),
)


def say(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--product", required=True)
    parser.add_argument("--warm-up", type=Path, required=True)
    parser.add_argument("--source", type=Path, required=True)
    args = parser.parse_args()
    with open_connector(args.state) as connector:
        warm = publish_from_connector(connector, product_id=args.product, source=args.warm_up)
        say("warm", version=warm.version, delivered=len(warm.delivered), **memory())
        if not sys.stdin.readline():
            return  # the parent went away
        clock = Clock()
        patches = [
            (owner, name, clock.timed(step, getattr(owner, name))) for owner, name, step in STEPS
        ]
        with _all_patched(patches):
            started = time.time()
            summary = publish_from_connector(connector, product_id=args.product, source=args.source)
            ended = time.time()
    say(
        "published",
        started=started,
        ended=ended,
        version=summary.version,
        status=summary.status,
        rows=summary.rows,
        release_bytes=summary.bytes,
        delivered=len(summary.delivered),
        delivered_rows=sum(line.rows or 0 for line in summary.delivered),
        delivered_bytes=sum(line.bytes or 0 for line in summary.delivered),
        relay_error=summary.relay_error,
        steps={step: figures["total_s"] for step, figures in clock.summary().items()},
        **memory(),
    )


if __name__ == "__main__":
    main()
