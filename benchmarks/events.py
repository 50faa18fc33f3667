"""Micro benchmark of the event envelope against bare fastavro, in one run.

    .venv/bin/python benchmarks/events.py [--events 20000] [--repeat 5]

Prints events per second (median of the repeats) for: raw fastavro encode and decode of a
DeliveryAnnounced body, our encode (encode + Ed25519 sign) and our decode (verify + decode
+ checks), and bare Ed25519 sign and verify of the same bytes (the floor the envelope cannot
beat), as a table and as JSON. No broker, no network: this is the CPU cost per event.
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import fastavro
from fastavro import schemaless_reader, schemaless_writer

from dataspace.events.envelope import decode, encode
from dataspace.events.registry import default_registry, event_id_for
from dataspace.identity.keys import SigningKey, verify


def announcement(number: int) -> dict[str, Any]:
    delivery = f"agr-supplier-07-po.v{number}"
    return {
        "event_id": event_id_for("DeliveryAnnounced", delivery),
        "occurred_at": datetime(2025, 3, 3, 8, 0, tzinfo=UTC),
        "actor": "chain-leader",
        "delivery_id": delivery,
        "agreement_id": "agr-supplier-07-po",
        "product_id": "weekly-purchase-orders",
        "version": number,
        "provider_id": "chain-leader",
        "subscriber_id": "supplier-07",
        "mode": "append",
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "row_count": 2411,
        "byte_size": 98304,
        "part_count": 1,
    }


def rate(run: Callable[[], None], count: int, repeat: int) -> float:
    """Median events per second over ``repeat`` runs of ``count`` events."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return count / statistics.median(seconds)


def measure(count: int, repeat: int) -> dict[str, float]:
    registry = default_registry()
    schema = registry.schema("DeliveryAnnounced")
    key = SigningKey.generate()
    bodies = [announcement(n) for n in range(1, count + 1)]
    raw_values = []
    for body in bodies:
        buffer = io.BytesIO()
        schemaless_writer(buffer, schema, body)
        raw_values.append(buffer.getvalue())
    events = [encode("DeliveryAnnounced", body, key) for body in bodies]
    messages = [(event.value, event.kafka_headers()) for event in events]

    def raw_encode() -> None:
        for body in bodies:
            schemaless_writer(io.BytesIO(), schema, body)

    def raw_decode() -> None:
        for value in raw_values:
            schemaless_reader(io.BytesIO(value), schema, None)

    def signed_encode() -> None:
        for body in bodies:
            encode("DeliveryAnnounced", body, key)

    def bare_sign() -> None:
        for value in raw_values:
            key.sign(value)

    signatures = [key.sign(value) for value in raw_values]

    def bare_verify() -> None:
        for value, signature in zip(raw_values, signatures, strict=True):
            verify(key.public_key_b64, signature, value)

    def verified_decode() -> None:
        for value, headers in messages:
            decode(value, headers, lambda _actor: key.public_key_b64)

    return {
        "raw_encode_per_s": rate(raw_encode, count, repeat),
        "encode_sign_per_s": rate(signed_encode, count, repeat),
        "raw_decode_per_s": rate(raw_decode, count, repeat),
        "decode_verify_per_s": rate(verified_decode, count, repeat),
        "ed25519_sign_per_s": rate(bare_sign, count, repeat),
        "ed25519_verify_per_s": rate(bare_verify, count, repeat),
        "body_bytes": float(len(events[0].value)),
        "header_bytes": float(sum(len(k) + len(v) for k, v in events[0].kafka_headers())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    figures = measure(args.events, args.repeat)
    rows = [
        ("encode", "raw_encode_per_s", "encode_sign_per_s", "ed25519_sign_per_s"),
        ("decode", "raw_decode_per_s", "decode_verify_per_s", "ed25519_verify_per_s"),
    ]
    print(
        f"{'path':<7} {'raw fastavro/s':>15} {'envelope/s':>11} {'ratio':>6} "
        f"{'bare Ed25519/s':>15} {'envelope vs Ed25519':>20}"
    )
    for name, raw, ours, floor in rows:
        print(
            f"{name:<7} {figures[raw]:>15,.0f} {figures[ours]:>11,.0f} "
            f"{figures[ours] / figures[raw]:>6.2f} {figures[floor]:>15,.0f} "
            f"{figures[ours] / figures[floor]:>20.2f}"
        )
    print(f"body {figures['body_bytes']:.0f} B, headers {figures['header_bytes']:.0f} B")
    report = {
        "benchmark": "events",
        "events": args.events,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "fastavro": fastavro.__version__,
        **{name: round(value, 1) for name, value in figures.items()},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
