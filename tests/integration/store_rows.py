"""Small builders of control-plane rows for the store tests (the store does not validate)."""

from __future__ import annotations

import hashlib
from typing import Any

from dataspace.store.db import Database
from dataspace.store.ledger_store import Seal
from dataspace.store.models import Base, LedgerEntryRow, ParticipantRow, ProductRow, ReleaseRow
from dataspace.store.types import utcnow


def participant(participant_id: str = "acme", uscc: str = "91320000TEST00001X") -> ParticipantRow:
    return ParticipantRow(
        id=participant_id,
        name=f"{participant_id} Co., Ltd.",
        uscc=uscc,
        roles=["supplier"],
        region="CN-JS",
        industry_chains=["auto-parts"],
        public_key="MCowBQYDK2VwAyEA",
    )


def product(product_id: str = "demand-forecast", owner_id: str = "acme") -> ProductRow:
    return ProductRow(
        id=product_id,
        owner_id=owner_id,
        title_zh="需求预测",
        title_en="Demand forecast",
        description_zh="周度需求预测",
        description_en="Weekly demand forecast",
        schema_name="demand_forecast",
        suite_name="demand_forecast",
        grade="general",
        chain_tags=["auto-parts"],
        cadence="weekly",
    )


def release(product_id: str = "demand-forecast", version: int = 1) -> ReleaseRow:
    return ReleaseRow(
        product_id=product_id,
        version=version,
        mode="snapshot",
        status="accepted",
        sha256="0" * 64,
        row_count=10,
        byte_size=1024,
        object_key=f"releases/{product_id}/{version}/part-0.parquet",
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chained_seal(action: str, actor: str = "operator") -> Seal:
    """A stand-in for the domain's sealing: hashes the previous entry's hash into the new one."""

    def seal(previous: LedgerEntryRow | None) -> dict[str, Any]:
        prev_hash = previous.entry_hash if previous is not None else None
        payload_hash = sha256(action)
        return {
            "time": utcnow(),
            "actor": actor,
            "action": action,
            "subject_ids": [action],
            "payload_hash": payload_hash,
            "prev_hash": prev_hash,
            "entry_hash": sha256(f"{prev_hash}|{payload_hash}"),
            "signature": "signature",
        }

    return seal


def insert(db: Database, *rows: Base) -> None:
    """Insert rows in one transaction of their own."""
    with db.transaction() as session:
        session.add_all(rows)
