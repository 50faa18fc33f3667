"""The evidence ledger (存证): anyone admitted can read and verify it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from dataspace.api.auth import CallerDep, DatabaseDep
from dataspace.controlplane import ledger as service

router = APIRouter(prefix="/ledger", tags=["ledger"])


@router.get("/entries", summary="The newest ledger entries.")
def latest(
    _who: CallerDep, db: DatabaseDep, limit: int = Query(20, ge=1, le=1000)
) -> list[dict[str, Any]]:
    return [entry.to_json() for entry in service.latest(db, limit)]


@router.get("/verify", summary="Verify the whole hash chain; names the first bad entry.")
def verify(_who: CallerDep, db: DatabaseDep) -> dict[str, Any]:
    result = service.verify(db)
    return {
        "ok": result.ok,
        "entries_checked": result.entries_checked,
        "head_sequence": result.head_sequence,
        "head_hash": result.head_hash,
        "bad_sequence": result.sequence,
        "message": result.message(),
    }
