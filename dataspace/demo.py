"""`make demo`: the main job on the embedded stack.

Until the delivery pipeline lands, the demo shows the round trip the pipeline is built on:
a Parquet release written to the object store, an announcement on Kafka, and a subscriber
that consumes it in a consumer group, downloads through a presigned URL, verifies the
SHA-256 and commits its offset only after the file has landed.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Consumer, Producer
from rich.console import Console
from rich.table import Table

from dataspace.adapters.kafka import ensure_topics
from dataspace.adapters.s3 import arrow_filesystem, ensure_bucket, minio_client
from dataspace.config import Settings
from dataspace.errors import ServiceError

TOPIC = "dataspace.demo.roundtrip.v1"
BUCKET = "dataspace-demo"
OBJECT_KEY = "purchase-orders/1/part-0.parquet"
POLL_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Landed:
    path: Path
    rows: int
    size: int
    seconds: float


def purchase_orders(weeks: int = 4, suppliers: int = 20) -> pa.Table:
    """Deterministic weekly purchase orders of a construction-machinery chain leader."""
    rows = [
        {
            "week": f"2026-W{week + 1:02d}",
            "supplier_id": f"supplier-{s + 1:02d}",
            "part_no": f"HX-{(s * 7 + week) % 50:03d}",
            "quantity": 100 + (s * 37 + week * 11) % 400,
            "unit_price_cny": round(12.5 + (s * 3.1 + week) % 40, 2),
        }
        for week in range(weeks)
        for s in range(suppliers)
    ]
    return pa.Table.from_pylist(rows)


def publish(settings: Settings, table: pa.Table) -> dict[str, object]:
    """Write the release, then announce it; the announcement is sent only once durable."""
    endpoint = settings.s3()
    ensure_bucket(minio_client(endpoint), BUCKET)
    ensure_topics(settings, [TOPIC])
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    body = buffer.getvalue()
    with arrow_filesystem(endpoint).open_output_stream(f"{BUCKET}/{OBJECT_KEY}") as out:
        out.write(body)
    announcement = {
        "bucket": BUCKET,
        "key": OBJECT_KEY,
        "sha256": hashlib.sha256(body).hexdigest(),
        "rows": table.num_rows,
        "size": len(body),
    }
    producer = Producer(settings.kafka_producer_config(**{"enable.idempotence": "true"}))
    errors: list[str] = []
    producer.produce(
        TOPIC,
        key=b"demo-subscriber",
        value=json.dumps(announcement).encode(),
        on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
    )
    if producer.flush(POLL_TIMEOUT_SECONDS) != 0 or errors:
        raise ServiceError(f"Kafka did not acknowledge the announcement: {errors or 'timeout'}.")
    return announcement


def subscribe_once(settings: Settings, landing: Path) -> Landed:
    """Consume one announcement, download it through a presigned URL, verify, land, commit."""
    began = time.monotonic()
    consumer = Consumer(settings.kafka_consumer_config("dataspace-demo-subscriber"))
    try:
        consumer.subscribe([TOPIC])
        message = consumer.poll(POLL_TIMEOUT_SECONDS)
        if message is None or message.error():
            raise ServiceError("No announcement arrived on Kafka within 30 s.")
        announcement = json.loads(message.value() or b"{}")
        url = minio_client(settings.s3()).presigned_get_object(
            announcement["bucket"], announcement["key"], expires=timedelta(minutes=5)
        )
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (our presigned URL)
            body = response.read()
        if hashlib.sha256(body).hexdigest() != announcement["sha256"]:
            raise ServiceError("The downloaded release does not match its announced SHA-256.")
        target = landing / announcement["key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(body)
        partial.replace(target)  # atomic: a reader sees the whole file or none
        consumer.commit(message=message, asynchronous=False)
    finally:
        consumer.close()
    rows = pq.read_metadata(target).num_rows
    return Landed(target, rows, len(body), time.monotonic() - began)


def run_demo(settings: Settings, console: Console) -> None:
    began = time.monotonic()
    table = purchase_orders()
    announcement = publish(settings, table)
    landed = subscribe_once(settings, settings.state_dir / "landing" / "demo-subscriber")
    summary = Table(title="Round trip on the embedded stack")
    summary.add_column("step")
    summary.add_column("result")
    summary.add_row("release written", f"s3://{BUCKET}/{OBJECT_KEY} ({announcement['size']} B)")
    summary.add_row("announced on", TOPIC)
    summary.add_row("landed at", str(landed.path))
    summary.add_row("rows verified", f"{landed.rows} of {table.num_rows}")
    summary.add_row("sha256", str(announcement["sha256"])[:16] + "…")
    summary.add_row("publish → landed", f"{time.monotonic() - began:.2f} s")
    console.print(summary)
