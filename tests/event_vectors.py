"""The recorded sample of every event (tests/vectors/events/*.json), in Python form."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dataspace.events.registry import EventRegistry

VECTORS_DIR = Path(__file__).parent / "vectors" / "events"
FROZEN_V1_DIR = VECTORS_DIR / "v1"


@dataclass(frozen=True)
class Vector:
    event_type: str
    fingerprint: str
    body: dict[str, Any]  # as encode() takes it: timestamps are aware datetimes
    avro: bytes


def load_vectors(registry: EventRegistry) -> list[Vector]:
    vectors = []
    for path in sorted(VECTORS_DIR.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        event = registry.event_type(doc["event_type"])
        body = dict(doc["body"])
        for field in event.timestamp_fields:
            if isinstance(body.get(field), str):
                body[field] = datetime.fromisoformat(body[field])
        vectors.append(
            Vector(doc["event_type"], doc["fingerprint"], body, bytes.fromhex(doc["avro_hex"]))
        )
    return vectors


def as_recorded(body: Any) -> dict[str, Any]:
    """A decoded body in the vectors' spelling: the uuid as its string."""
    return {name: str(value) if name == "event_id" else value for name, value in body.items()}
